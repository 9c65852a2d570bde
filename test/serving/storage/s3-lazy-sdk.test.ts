/**
 * The AWS SDK is imported on an S3 storage's first call, not when the server starts (s3-storage.ts's doc says why).
 * Each case runs in a child process with a module-resolution hook that prints when `@aws-sdk/client-s3` is resolved.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const STORAGES = fileURLToPath(new URL('../../../src/serving/storage/storages.js', import.meta.url));

const HOOK = `export async function resolve(specifier, context, next) {
  if (specifier === '@aws-sdk/client-s3') process.stdout.write('SDK RESOLVED\\n');
  return next(specifier, context);
}`;

/** Runs `body` after making a Storages whose S3 endpoint refuses connections; returns the lines it printed. */
async function run(body: string): Promise<string[]> {
  const script = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));
const { Storages } = await import(${JSON.stringify(STORAGES)});
const env = {
  AWS_REGION: 'us-east-1',
  S3_ENDPOINT: 'http://127.0.0.1:9',
  AWS_ACCESS_KEY_ID: 'test-access-key',
  AWS_SECRET_ACCESS_KEY: 'test-secret-key',
};
const storages = new Storages({ env, maxAttempts: 1, requestTimeoutMs: 500 }, () => {}, ['model.onnx']);
${body}
await storages.close();
`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--no-warnings', '--input-type=module', '-e', script],
    {
      timeout: 30_000,
    },
  );
  return stdout.split('\n').filter((line) => line.length > 0);
}

describe('S3 storage: the SDK is imported on first use', () => {
  it('a server with only local models never imports it', async () => {
    const lines = await run(`
const local = storages.forPath('/tmp/models/m', 'm');
console.log('listed ' + (await local.listVersions('/nonexistent-flowserve-dir/m').catch(() => new Map())).size);`);
    assert.deepEqual(lines, ['listed 0']);
  });

  it('an s3:// model path imports it on its first listing, not when its storage is made', async () => {
    const lines = await run(`
const s3 = storages.forPath('s3://bucket/models', 'm');
console.log('storage made');
await s3.listVersions('s3://bucket/models').catch((err) => console.log('listing failed: ' + err.message.split(':')[0]));`);
    assert.deepEqual(lines, ['storage made', 'SDK RESOLVED', 'listing failed: ListObjectsV2 s3']);
  });

  it('a closed storage fails its calls without importing it', async () => {
    const lines = await run(`
const s3 = storages.forPath('s3://bucket/models', 'm');
storages.abort();
await s3.listVersions('s3://bucket/models').catch((err) => console.log(err.message));`);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^ListObjectsV2 s3:\/\/bucket\/models\/ failed: .*the storage is closed/);
  });
});
