/**
 * Shutdown, reload cancellation and deadlines (issue 9 item 6) over startServer on loopback: a drain flips readiness
 * while in-flight requests finish, a reload whose client gave up leaves nothing behind, a request whose deadline
 * passes in a queue is dropped unrun and counted.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, ServingClientError, type ServingClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import type { Readiness } from '../../src/serving/core/types.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import {
  FEATURES,
  SLOW_SIZE,
  tempBase,
  writeClassifier,
  writeCorruptVersion,
  writeSlowModel,
} from '../serving/apis/fixtures.js';
import { healthStatus, NOT_SERVING, SERVING, until } from './shutdown-helpers.js';
import { defaultModelConfig } from '../../src/serving/config/model-server-config.js';

async function grpcCode(promise: Promise<unknown>): Promise<number | 'OK'> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    assert.ok(err instanceof ServingClientError, String(err));
    return err.code;
  }
}

describe('drain on close', () => {
  const base = tempBase('flowserve-drain-');
  let server: RunningServer;
  let grpc: ServingClient;

  before(async () => {
    writeClassifier(join(base, 'clf'), 1);
    writeSlowModel(join(base, 'slow'), 1, 48);
    server = await startServer({
      modelConfig: {
        models: [defaultModelConfig('clf', join(base, 'clf')), defaultModelConfig('slow', join(base, 'slow'))],
      },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      log: () => undefined,
    });
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
  });

  after(async () => {
    grpc?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('health turns NOT_SERVING, status UNLOADING and new requests UNAVAILABLE while an in-flight request completes', async () => {
    assert.equal(await healthStatus(server.grpcPort), SERVING);
    const readiness: Readiness[] = [];
    server.core.events.on('readiness', (r) => readiness.push(r));
    const inFlight = grpc.predict({ name: 'slow' }, { x: HostTensor.zeros('float32', [SLOW_SIZE, SLOW_SIZE]) });
    await until(() => server.core.requestsInFlight === 1, 10_000, 'the slow request in flight');
    const closed = server.close();

    assert.deepEqual(readiness, ['draining']);
    assert.equal(await healthStatus(server.grpcPort), NOT_SERVING);
    const status = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/clf`);
    assert.equal(status.status, 200);
    const body = (await status.json()) as { model_version_status: { version: string; state: string }[] };
    assert.deepEqual(
      body.model_version_status.map((s) => [s.version, s.state]),
      [['1', 'UNLOADING']],
    );
    const x = HostTensor.zeros('float32', [1, FEATURES]);
    assert.equal(await grpcCode(grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x })), 14);
    assert.equal(server.core.requestsInFlight, 1, 'the slow request was still running during these checks');

    const result = await inFlight;
    assert.deepEqual(result.outputs.y?.shape, [SLOW_SIZE, SLOW_SIZE]);
    await closed;
  });
});

describe('a reload whose client has gone', () => {
  const base = tempBase('flowserve-reload-cancel-');
  let server: RunningServer;
  let grpc: ServingClient;

  before(async () => {
    writeClassifier(join(base, 'clf'), 1);
    server = await startServer({
      modelConfig: { models: [defaultModelConfig('clf', join(base, 'clf'))] },
      fileSystemPollWaitSeconds: -1,
      maxNumLoadRetries: 5,
      loadRetryIntervalMicros: 500_000,
      enableModelManagement: true,
      numWorkers: 1,
      grpcPort: 0,
      log: () => undefined,
    });
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
  });

  after(async () => {
    grpc?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('is cancelled: its model does not appear later, even when a retry would now succeed', async () => {
    const flaky = join(base, 'flaky');
    const versionDir = writeCorruptVersion(flaky, 1);
    const models = [
      { name: 'clf', basePath: join(base, 'clf') },
      { name: 'flaky', basePath: flaky },
    ];
    const code = await grpcCode(grpc.reload(models, { timeoutMs: 300 }));
    assert.equal(code, 4, 'the client gave up at its deadline');
    // Repair the version: a load retry from now on would succeed.
    const good = writeClassifier(join(base, 'good'), 1);
    copyFileSync(join(good, 'model.onnx'), join(versionDir, 'model.onnx'));
    // Three retry intervals.
    await new Promise((r) => setTimeout(r, 1500));

    assert.equal(await grpcCode(grpc.predict({ name: 'flaky' }, { x: HostTensor.zeros('float32', [1, FEATURES]) })), 5);
    assert.deepEqual(
      server.core.modelConfig.models.map((m) => m.name),
      ['clf'],
    );
    const [status] = server.core.status('flaky');
    assert.equal(status?.state, 'END');
    assert.equal(status?.error?.code, 'CANCELLED');
    assert.match(status?.error?.message ?? '', /config reload was cancelled/);
    // The model that was already serving is untouched.
    const x = HostTensor.zeros('float32', [1, FEATURES]);
    assert.equal(await grpcCode(grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x })), 'OK');
  });
});

describe('deadlines', () => {
  const base = tempBase('flowserve-deadline-');
  let server: RunningServer;
  let grpc: ServingClient;

  before(async () => {
    // 256 matmuls of 1024²: seconds of compute, far past the late request's 300 ms even on an idle machine.
    writeSlowModel(join(base, 'slow'), 1, 256);
    server = await startServer({
      modelConfig: { models: [defaultModelConfig('slow', join(base, 'slow'))] },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      log: () => undefined,
    });
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
  });

  after(async () => {
    grpc?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a request whose gRPC deadline passes while queued behind a slow run is dropped unrun and counted', async () => {
    const started = performance.now();
    const first = grpc.predict({ name: 'slow' }, { x: HostTensor.zeros('float32', [SLOW_SIZE, SLOW_SIZE]) });
    await until(() => server.core.requestsInFlight === 1, 10_000, 'the first request in flight');
    // The only worker is busy with `first`; this one (one row: it reaches the core at once) waits in the worker's
    // queue past its 300 ms deadline.
    const late = grpcCode(
      grpc.predict({ name: 'slow' }, { x: HostTensor.zeros('float32', [1, SLOW_SIZE]) }, { timeoutMs: 300 }),
    );
    // The server must hold both at once; on a starved machine the client alone could otherwise send the second
    // after the first finished, and time it out by itself.
    await until(() => server.core.requestsInFlight === 2, 10_000, 'the late request reaching the server');
    assert.equal(await late, 4);
    await first;
    assert.ok(performance.now() - started > 400, 'the first run outlasted the deadline (the test would prove nothing)');
    // The late request is dropped when the worker reaches it, just after the first run: wait for the server to be idle.
    await until(() => server.core.requestsInFlight === 0, 10_000, 'both requests settled on the server');
    const metrics = await server.core.metrics.metrics();
    assert.match(metrics, /flowserve_requests_dropped_deadline_total\{model_name="slow"\} 1\b/);
    const runs =
      /:tensorflow:serving:runtime_latency_count\{model_name="slow",API="Predict",runtime="ONNXRuntime"\} (\d+)/.exec(
        metrics,
      );
    assert.equal(runs?.[1], '1', 'only the first request ran');
  });
});
