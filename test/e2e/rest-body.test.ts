import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { referenceScores, tempBase, writeClassifier } from '../serving/apis/fixtures.js';

describe('REST request bodies', () => {
  let base: string;
  let server: RunningServer;
  let url: string;

  before(async () => {
    base = tempBase('flowserve-rest-body-');
    writeClassifier(join(base, 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
      grpcPort: 0,
      restPort: 0,
      limits: { maxRequestBytes: 4096 },
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    url = `http://127.0.0.1:${server.restPort}/v1/models/clf:predict`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a gzip-compressed body is accepted and answered like the plain one', async () => {
    const x = [0.5, -1, 2, 0.25];
    const body = JSON.stringify({ signature_name: 'predict_probs', instances: [x] });
    const res = await fetch(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync(body) });
    assert.equal(res.status, 200);
    const json = (await res.json()) as { predictions: number[][] };
    const expected = referenceScores(x, 1);
    json.predictions[0]?.forEach((v, k) => assert.ok(Math.abs(v - (expected[k] ?? NaN)) < 1e-5));
  });

  test('a body over the limit gets 413 with a JSON error, and the server keeps serving', async () => {
    const rows = Array.from({ length: 400 }, () => [0.5, -1, 2, 0.25]);
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ signature_name: 'predict_probs', instances: rows }),
    });
    assert.equal(res.status, 413);
    const json = (await res.json()) as { error: string };
    assert.match(json.error, /body|large|limit/i);
    const ok = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ signature_name: 'predict_probs', instances: [[0, 0, 0, 0]] }),
    });
    assert.equal(ok.status, 200);
  });

  test('a body that claims gzip but is not gzip is a 400 naming the decompression', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: '{"instances": [[1,2,3,4]]}',
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /gzip/i);
  });
});
