import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { SLOW_SIZE, tempBase, writeSlowModel } from '../serving/apis/fixtures.js';

describe('--rest_api_timeout_in_ms', () => {
  let base: string;
  let server: RunningServer;
  let url: string;

  before(async () => {
    base = tempBase('flowserve-rest-timeout-');
    writeSlowModel(join(base, 'slow'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('slow', join(base, 'slow')),
      grpcPort: 0,
      restPort: 0,
      restTimeoutMs: 25,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    url = `http://127.0.0.1:${server.restPort}/v1/models/slow`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a REST call slower than the timeout gets 504 DEADLINE_EXCEEDED and the server keeps serving', async () => {
    const rows = Array.from({ length: SLOW_SIZE }, () => new Array<number>(SLOW_SIZE).fill(0));
    const started = performance.now();
    const res = await fetch(`${url}:predict`, { method: 'POST', body: JSON.stringify({ instances: rows }) });
    const body = (await res.json()) as { error: string };
    assert.equal(res.status, 504);
    assert.match(body.error, /rest_api_timeout_in_ms=25/);
    assert.ok(performance.now() - started < 5000);
    const status = await fetch(url);
    assert.equal(status.status, 200);
  });

  test('a call within the timeout answers normally', async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const json = (await res.json()) as { model_version_status: { state: string }[] };
    assert.equal(json.model_version_status[0]?.state, 'AVAILABLE');
  });
});
