import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startS3Server } from '../../helpers/s3-server.js';

const refusesConnections = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

test('the s3 test server starts on loopback, stores and lists objects page by page, and stops', async () => {
  const server = await startS3Server();
  const local = mkdtempSync(join(tmpdir(), 's3-helper-test-'));
  try {
    assert.match(server.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const env = server.env();
    assert.equal(env.AWS_ACCESS_KEY_ID, server.accessKeyId);
    assert.equal(env.S3_ENDPOINT, server.endpoint);
    await server.createBucket('models');
    mkdirSync(join(local, '1', 'variables'), { recursive: true });
    writeFileSync(join(local, '1', 'model.onnx'), Buffer.from([1, 2, 3]));
    writeFileSync(join(local, '1', 'variables', 'w.bin'), 'weights');
    await server.uploadDirectory('models', 'm/', local);
    await server.putObject('models', 'm/2/model.onnx', 'two');

    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    // One key per page: pagination is what needs --openssl-legacy-provider in s3rver on Node 20.
    const keys: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: 'models', Prefix: 'm/', MaxKeys: 1, ContinuationToken: token }),
      );
      keys.push(...(listed.Contents ?? []).map((object) => object.Key ?? ''));
      token = listed.NextContinuationToken;
      if (!listed.IsTruncated) break;
    }
    assert.deepEqual(keys.sort(), ['m/1/model.onnx', 'm/1/variables/w.bin', 'm/2/model.onnx']);
    const got = await client.send(new GetObjectCommand({ Bucket: 'models', Key: 'm/1/variables/w.bin' }));
    assert.equal(await got.Body?.transformToString(), 'weights');
    client.destroy();
  } finally {
    await server.close();
    rmSync(local, { recursive: true, force: true });
  }
  assert.equal(await refusesConnections(Number(new URL(server.endpoint).port)), true);
  await server.close(); // a second close is harmless
});
