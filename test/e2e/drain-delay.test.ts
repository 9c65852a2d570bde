/**
 * The shutdown order for a load balancer (startServer's drainDelayMs, --drain_delay_seconds): close() withdraws
 * readiness at once while requests are still answered for the delay, then drains. And readiness only moves forward:
 * a replica is not ready before its models have loaded, nor again once a shutdown began.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createClient, ServingClientError } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import type { Readiness } from '../../src/serving/core/types.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { FEATURES, tempBase, writeClassifier, writeCorruptVersion } from '../serving/apis/fixtures.js';
import { healthStatus, NOT_SERVING, SERVING, until } from './shutdown-helpers.js';
import { defaultModelConfig } from '../../src/serving/config/model-server-config.js';

async function restReady(port: number | undefined): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status;
}

async function restPredict(port: number | undefined): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/models/clf:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ signature_name: 'predict_probs', instances: [Array<number>(FEATURES).fill(0.5)] }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('drain delay', () => {
  const base = tempBase('flowserve-drain-delay-');
  const servers: RunningServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(base, { recursive: true, force: true });
  });

  test('close() turns health not-ready at once, answers gRPC and REST requests for the delay, then refuses them', async () => {
    writeClassifier(join(base, 'clf'), 1);
    const delayMs = 1500;
    const server = await startServer({
      modelConfig: { models: [defaultModelConfig('clf', join(base, 'clf'))] },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      drainDelayMs: delayMs,
      log: () => undefined,
    });
    servers.push(server);
    const grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
    const x = HostTensor.zeros('float32', [1, FEATURES]);
    const predict = () => grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x });
    try {
      assert.equal(await healthStatus(server.grpcPort), SERVING);
      assert.equal(await restReady(server.restPort), 200);
      const readiness: Readiness[] = [];
      server.core.events.on('readiness', (r) => readiness.push(r));

      const began = performance.now();
      const closed = server.close();
      assert.deepEqual(readiness, ['leaving']);
      assert.equal(await healthStatus(server.grpcPort), NOT_SERVING);
      assert.notEqual(await restReady(server.restPort), 200);
      // Requests a load balancer sent before it noticed are still answered, on both APIs.
      let answered = 0;
      while (performance.now() - began < delayMs - 400) {
        assert.deepEqual((await predict()).outputs.probabilities?.shape, [1, 3]);
        assert.equal(await restPredict(server.restPort), 200);
        answered++;
      }
      assert.ok(answered > 0, 'requests were sent during the delay');
      assert.deepEqual(readiness, ['leaving'], 'still leaving, not draining, within the delay');

      await until(() => readiness.includes('draining'), 5000, 'the drain after the delay');
      assert.ok(performance.now() - began >= delayMs - 50, 'the drain waited for the delay');
      const refused = await predict().then(
        () => 'OK',
        (err: unknown) => (err instanceof ServingClientError ? err.code : String(err)),
      );
      assert.equal(refused, 14, 'UNAVAILABLE once draining');
      await closed;
    } finally {
      grpc.close();
    }
  });

  test('a replica is not ready before its models load, and models loading after close() began do not make it ready', async () => {
    const model = join(base, 'late');
    const versionDir = writeCorruptVersion(model, 1);
    const server = await startServer({
      modelConfig: { models: [defaultModelConfig('late', model)] },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      waitForModels: false,
      maxNumLoadRetries: 50,
      loadRetryIntervalMicros: 100_000,
      drainDelayMs: 3000,
      log: () => undefined,
    });
    servers.push(server);
    assert.equal(server.core.readiness, 'starting');
    assert.equal(await healthStatus(server.grpcPort), NOT_SERVING);
    assert.notEqual(await restReady(server.restPort), 200);

    const closed = server.close();
    assert.equal(server.core.readiness, 'leaving');
    // The load now succeeds on its next retry, within the delay.
    const good = writeClassifier(join(base, 'late-good'), 1);
    copyFileSync(join(good, 'signatures.json'), join(versionDir, 'signatures.json'));
    copyFileSync(join(good, 'model.onnx'), join(versionDir, 'model.onnx'));
    const client = createClient({ server: `127.0.0.1:${server.grpcPort}` });
    try {
      await until(async () => (await client.status({ name: 'late' }))[0]?.state === 'AVAILABLE', 2500, 'AVAILABLE');
    } finally {
      client.close();
    }
    assert.equal(server.core.readiness, 'leaving');
    assert.notEqual(await restReady(server.restPort), 200);
    assert.equal(await healthStatus(server.grpcPort), NOT_SERVING);
    await closed;
  });
});
