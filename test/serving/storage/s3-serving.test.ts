import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VersionCache } from '../../../src/serving/storage/version-cache.js';
import { startS3Server, type S3Server } from '../../helpers/s3-server.js';
import {
  BUCKET,
  deletePrefix,
  model,
  predict,
  serveFromS3,
  uploadVersion,
  versionModel,
  waitFor,
  type Logged,
} from './s3-fixtures.js';
import type { RunningServer } from '../../../src/serving/server.js';

interface RestStatus {
  model_version_status: { version: string; state: string; status: { error_code: string; error_message: string } }[];
}

async function status(
  server: RunningServer,
  name: string,
): Promise<{ status: number; body: string; json?: RestStatus }> {
  const response = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/${name}`);
  const body = await response.text();
  return {
    status: response.status,
    body,
    ...(response.status === 200 ? { json: JSON.parse(body) as RestStatus } : {}),
  };
}

const states = async (server: RunningServer, name: string): Promise<string> =>
  ((await status(server, name)).json?.model_version_status ?? []).map((s) => `${s.version}:${s.state}`).join(',');

describe('models in object storage (s3:// against a real s3rver)', () => {
  let s3: S3Server;
  before(async () => {
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
  });
  after(async () => {
    await s3.close();
  });

  it('serves a model from s3, serves a new version after the next poll, and goes back when it is deleted', async () => {
    await uploadVersion(s3, 'life', 1);
    const server = await serveFromS3(s3, [model('life', `s3://${BUCKET}/life`)]);
    try {
      await waitFor('version 1', async () => (await predict(server, 'life')).value === 2);
      await uploadVersion(s3, 'life', 2);
      await waitFor('version 2', async () => (await predict(server, 'life')).value === 3);
      await waitFor('version 1 unloaded', async () => (await states(server, 'life')) === '2:AVAILABLE,1:END');
      await deletePrefix(s3, 'life/2/');
      await waitFor('version 1 again', async () => (await predict(server, 'life')).value === 2);
      await waitFor('version 2 unloaded', async () => (await states(server, 'life')).startsWith('2:END'));
    } finally {
      await server.close();
    }
  });

  it('version policy specific and labels work as with local paths', async () => {
    for (const v of [1, 2, 3]) await uploadVersion(s3, 'pinned', v);
    const server = await serveFromS3(
      s3,
      [
        model('pinned', `s3://${BUCKET}/pinned`, {
          versionPolicy: { kind: 'specific', versions: [1, 2] },
          versionLabels: { stable: 1, canary: 2 },
        }),
      ],
      { allowVersionLabelsForUnavailableModels: true },
    );
    try {
      await waitFor('versions 1 and 2', async () => (await states(server, 'pinned')) === '2:AVAILABLE,1:AVAILABLE');
      assert.equal((await predict(server, 'pinned', '/labels/stable')).value, 2);
      assert.equal((await predict(server, 'pinned', '/labels/canary')).value, 3);
      assert.equal((await predict(server, 'pinned', '/versions/3')).status, 404);
      assert.equal((await predict(server, 'pinned')).value, 3);
    } finally {
      await server.close();
    }
  });

  it('never serves a half-uploaded version: no model file yet, or objects still changing between listings', async () => {
    await uploadVersion(s3, 'upload', 1);
    const logged: Logged = { lines: [] };
    const server = await serveFromS3(
      s3,
      [model('upload', `s3://${BUCKET}/upload`)],
      { storage: { settleMs: 300 } },
      logged,
    );
    try {
      await waitFor('version 1', async () => (await predict(server, 'upload')).value === 2);
      // Version 2: its signatures are there but not its model file. (At the version's top level: s3rver 3.7.1 leaves
      // a common prefix out of a delimited listing when its only objects are deeper down.)
      await s3.putObject(BUCKET, 'upload/2/signatures.json', '{}');
      await waitFor('version 2 reported as waiting for its upload', async () => {
        const first = (await status(server, 'upload')).json?.model_version_status[0];
        return (
          first?.version === '2' &&
          first.state === 'START' &&
          /waiting for the upload to complete: no model file/.test(first.status.error_message)
        );
      });
      // Version 3: the model file first, then more objects every 50 ms (an upload in progress, shorter gaps than
      // the 300 ms between the two listings).
      await uploadVersion(s3, 'upload', 3);
      const until = Date.now() + 1500;
      for (let i = 0; Date.now() < until; i++) {
        await s3.putObject(BUCKET, `upload/3/assets/part-${i}`, `part ${i}`);
        assert.equal((await predict(server, 'upload')).value, 2, 'version 1 serves while 2 and 3 are incomplete');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(
        logged.lines.some((l) => /Version 3 of servable upload is not complete yet: the objects under/.test(l)),
      );
      // The upload ends: version 3 is served.
      await waitFor('version 3', async () => (await predict(server, 'upload')).value === 4);
    } finally {
      await server.close();
    }
  });

  it('a restart reuses nothing a previous process left in --model_cache_dir', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'flowserve-cache-test-'));
    try {
      await uploadVersion(s3, 'restart', 1);
      const basePath = `s3://${BUCKET}/restart`;
      // What a crashed server could leave: a complete-looking version 1 holding another model, and a partial fetch.
      const stale = join(cacheDir, 'flowserve-versions', VersionCache.keyOf('restart', basePath), '1');
      mkdirSync(stale, { recursive: true });
      writeFileSync(join(stale, 'model.onnx'), versionModel(7));
      mkdirSync(join(cacheDir, 'flowserve-versions', '.partial-abc123'));
      const server = await serveFromS3(s3, [model('restart', basePath)], { modelCacheDir: cacheDir });
      try {
        await waitFor('version 1', async () => (await predict(server, 'restart')).status === 200);
        assert.equal((await predict(server, 'restart')).value, 2, 'version 1 as stored in s3, not the stale copy');
        assert.deepEqual(
          readdirSync(join(cacheDir, 'flowserve-versions')).filter((n) => n.startsWith('.partial-')),
          [],
        );
      } finally {
        await server.close();
      }
      assert.equal(existsSync(join(cacheDir, 'flowserve-versions', VersionCache.keyOf('restart', basePath))), false);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('evicts cached versions that are no longer aspired (bounded disk)', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'flowserve-cache-test-'));
    const basePath = `s3://${BUCKET}/evict`;
    const versionsDir = join(cacheDir, 'flowserve-versions', VersionCache.keyOf('evict', basePath));
    try {
      await uploadVersion(s3, 'evict', 1);
      const server = await serveFromS3(s3, [model('evict', basePath)], { modelCacheDir: cacheDir });
      try {
        await waitFor('version 1', async () => (await predict(server, 'evict')).value === 2);
        for (const v of [2, 3]) {
          await uploadVersion(s3, 'evict', v);
          await waitFor(`version ${v}`, async () => (await predict(server, 'evict')).value === v + 1);
        }
        await waitFor('only version 3 cached', () => readdirSync(versionsDir).join(',') === '3');
      } finally {
        await server.close();
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('a listing refused for bad credentials is reported without the credentials, in logs and statuses', async () => {
    await uploadVersion(s3, 'secret', 1);
    const secret = 'wrong-Secret-Key/0123456789+abcdefghijKLMN';
    const accessKey = 'AKIAFLOWSERVETESTKEY9';
    const env = { ...s3.env(), AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secret };
    const logged: Logged = { lines: [] };
    const server = await serveFromS3({ env: () => env }, [model('secret', `s3://${BUCKET}/secret`)], {}, logged);
    try {
      await waitFor('a failed listing', () => logged.lines.some((l) => l.startsWith('error Could not find base path')));
      const answer = await status(server, 'secret');
      assert.equal(answer.status, 404);
      assert.match(
        answer.body,
        /the last listing of its base path failed: ListObjectsV2 s3:\/\/models\/secret\/ failed: .*HTTP 403/,
      );
      const index = await fetch(`http://127.0.0.1:${server.restPort}/v2/repository/index`, { method: 'POST' });
      const everything = [...logged.lines, answer.body, await index.text(), (await predict(server, 'secret')).body];
      for (const text of everything) {
        assert.ok(!text.includes(secret), `the secret leaked: ${text}`);
        assert.ok(!text.includes(accessKey), `the access key id leaked: ${text}`);
      }
    } finally {
      await server.close();
    }
  });
});
