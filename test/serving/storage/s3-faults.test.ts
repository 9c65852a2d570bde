import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFaultProxy, type FaultMode } from '../../helpers/fault-proxy.js';
import { startS3Server } from '../../helpers/s3-server.js';
import { BUCKET, model, predict, serveFromS3, uploadVersion, waitFor, type Logged } from './s3-fixtures.js';

test('storage faults (5xx bursts, stalls past the SDK timeout, connection resets) fail no inference request and keep the version served; it recovers when healed', async () => {
  const s3 = await startS3Server();
  const proxy = await startFaultProxy(s3.endpoint);
  const logged: Logged = { lines: [] };
  try {
    await s3.createBucket(BUCKET);
    await uploadVersion(s3, 'faults', 1);
    const server = await serveFromS3(
      { env: () => ({ ...s3.env(), S3_ENDPOINT: proxy.endpoint }) },
      [model('faults', `s3://${BUCKET}/faults`)],
      { storage: { requestTimeoutMs: 300, maxAttempts: 2 } },
      logged,
    );
    let sent = 0;
    const failures: string[] = [];
    let stop = false;
    const client = (async () => {
      while (!stop) {
        const answer = await predict(server, 'faults');
        sent++;
        if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      await waitFor('version 1', async () => (await predict(server, 'faults')).value === 2);
      let current = 1;
      for (const mode of ['error', 'stall', 'reset'] as FaultMode[]) {
        proxy.mode = mode;
        // A new version uploaded during the fault cannot be listed or fetched: the current one keeps serving.
        await uploadVersion(s3, 'faults', current + 1);
        const before = proxy.counts[mode];
        await waitFor(`${mode} faults hit`, () => proxy.counts[mode] >= before + 4, 20_000);
        assert.equal((await predict(server, 'faults')).value, current + 1, `version ${current} serves during ${mode}`);
        proxy.mode = 'pass';
        current++;
        const next = current;
        await waitFor(
          `version ${next} after ${mode} heals`,
          async () => (await predict(server, 'faults')).value === next + 1,
        );
      }
    } finally {
      stop = true;
      await client;
      await server.close();
    }
    assert.ok(sent > 20, `only ${sent} requests were sent`);
    assert.deepEqual(failures, [], `${failures.length} of ${sent} inference requests failed`);
    assert.ok(
      logged.lines.some((l) => /SlowDown|HTTP 503/.test(l)),
      'the 5xx errors were logged',
    );
  } finally {
    await proxy.close();
    await s3.close();
  }
});
