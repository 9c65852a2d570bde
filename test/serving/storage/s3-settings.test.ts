import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument, Unimplemented } from '../../../src/errors.js';
import { checkBasePaths } from '../../../src/serving/core/base-paths.js';
import { redactorFor } from '../../../src/serving/storage/redact.js';
import { s3SettingsFromEnv } from '../../../src/serving/storage/s3-settings.js';
import { model } from './s3-fixtures.js';

const none = (text: string): string => text;

describe('S3 settings from the environment', () => {
  it('S3_ENDPOINT wins over AWS_ENDPOINT_URL; without a scheme S3_USE_HTTPS picks it; custom endpoints are path-style', () => {
    const both = s3SettingsFromEnv(
      { S3_ENDPOINT: '127.0.0.1:9000', S3_USE_HTTPS: '0', AWS_ENDPOINT_URL: 'https://x' },
      none,
    );
    assert.equal(both.endpoint, 'http://127.0.0.1:9000');
    assert.equal(both.endpointFrom, 'S3_ENDPOINT');
    assert.equal(both.forcePathStyle, true);
    assert.equal(s3SettingsFromEnv({ S3_ENDPOINT: 'minio:9000' }, none).endpoint, 'https://minio:9000');
    assert.equal(s3SettingsFromEnv({ AWS_ENDPOINT_URL: 'http://h:1/' }, none).endpoint, 'http://h:1');
    const aws = s3SettingsFromEnv({ AWS_REGION: 'eu-west-1' }, none);
    assert.equal(aws.endpoint, undefined);
    assert.equal(aws.forcePathStyle, false);
    assert.equal(aws.region, 'eu-west-1');
    assert.equal(s3SettingsFromEnv({}, none).region, 'us-east-1');
    assert.equal(s3SettingsFromEnv({ S3_VERIFY_SSL: '0' }, none).verifyTls, false);
    assert.throws(() => s3SettingsFromEnv({ S3_ENDPOINT: 'ftp://h' }, none), InvalidArgument);
  });

  it('the redactor removes every configured secret and URL user info', () => {
    const redact = redactorFor(['AKIAEXAMPLE', 'se/cret+key', undefined, '']);
    assert.equal(
      redact('key AKIAEXAMPLE secret se/cret+key at http://user:pw@host/x and se/cret+key'),
      'key [REDACTED] secret [REDACTED] at http://[REDACTED]@host/x and [REDACTED]',
    );
  });
});

describe('s3:// base paths and --model_base_path_prefix', () => {
  const config = (basePath: string) => ({ models: [model('m', basePath)] });

  it('accepts s3:// paths, refuses other schemes, control characters and dot segments', async () => {
    await checkBasePaths(config('s3://bucket/models/m'));
    await assert.rejects(checkBasePaths(config('gs://bucket/m')), Unimplemented);
    await assert.rejects(checkBasePaths(config('s3://bucket/m\nforged')), /control characters/);
    await assert.rejects(checkBasePaths(config('s3://bucket/a/../b')), /'\.\.' path segment/);
    await assert.rejects(checkBasePaths(config('s3:///m')), /valid bucket name/);
  });

  it('an s3:// prefix admits only s3 paths in its bucket under its whole key segments; a local prefix refuses s3', async () => {
    const prefix = 's3://bucket/models';
    await checkBasePaths(config('s3://bucket/models/m'), prefix);
    await checkBasePaths(config('s3://bucket/models'), prefix);
    await assert.rejects(
      checkBasePaths(config('s3://bucket/models-old/m'), prefix),
      /outside --model_base_path_prefix/,
    );
    await assert.rejects(checkBasePaths(config('s3://other/models/m'), prefix), /outside --model_base_path_prefix/);
    await assert.rejects(checkBasePaths(config('/tmp/m'), prefix), /a local path, outside --model_base_path_prefix/);
    await assert.rejects(checkBasePaths(config('s3://bucket/models/m'), '/tmp'), /in object storage, outside/);
  });
});
