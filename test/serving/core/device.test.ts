import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GpuProbeResult } from '../../../src/devices/webgpu.js';
import { Unknown } from '../../../src/errors.js';
import { defaultBatchingParameters } from '../../../src/serving/config/batching-parameters.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { createServingCore, type Servable, type ServingCoreImpl } from '../../../src/serving/core/index.js';
import { affineModel, rows, tempRepo, type TempRepo } from './model-fixtures.js';

const NO_ADAPTER: GpuProbeResult = {
  available: false,
  reason: 'no WebGPU adapter: Failed to get a WebGPU adapter: No supported adapters',
  source: 'probe',
  ms: 1,
};

function logSink(): { lines: string[]; log: (level: string, message: string) => void } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level} ${message}`) };
}

describe('serving core: per-model device', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;
  const logs = logSink();
  let probes = 0;
  let readyError: unknown;

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('mnist', 1, affineModel(3, 0));
    await repo.addVersion('affine', 1, affineModel(2, 1));
    const config = parseModelServerConfig(`model_config_list {
      config { name: "mnist" base_path: "${repo.basePath('mnist')}" model_platform: "tensorflow" device: "gpu" }
      config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" }
    }`);
    core = await createServingCore({
      modelConfig: config,
      fileSystemPollWaitSeconds: 0,
      numWorkers: 2,
      maxNumLoadRetries: 0,
      batching: { ...defaultBatchingParameters(), maxBatchSize: 8, batchTimeoutMicros: 20_000, numBatchThreads: 1 },
      log: logs.log,
      probeGpu: () => {
        probes++;
        return Promise.resolve(NO_ADAPTER);
      },
    });
    readyError = await core.ready().then(
      () => undefined,
      (err: unknown) => err,
    );
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  it('warns at start, before loading, that the GPU model has no adapter', () => {
    assert.equal(probes, 1);
    const warning = logs.lines.find((l) => l.startsWith('warn '));
    assert.ok(warning, logs.lines.join('\n'));
    assert.match(
      warning,
      /model\(s\) mnist configured with device "gpu", but there is no usable GPU: no WebGPU adapter/,
    );
    assert.match(warning, /will fail to load on \/device:GPU:0/);
  });

  it("the GPU model ends in END with the probe's reason, even where a worker could reach an adapter", () => {
    const [status] = core.status('mnist');
    assert.equal(status?.version, 1);
    assert.equal(status?.state, 'END');
    assert.equal(status?.error?.code, 'INVALID_ARGUMENT');
    assert.equal(
      status?.error?.message,
      "model 'mnist' version 1 could not be loaded on /device:GPU:0: no WebGPU adapter: Failed to get a WebGPU adapter: No supported adapters",
    );
    assert.equal(probes, 1, 'the start-up check and the load share one probe');
    assert.ok(readyError instanceof Unknown);
    assert.match(readyError.message, /1 model\(s\) did not become available: \{\{name: mnist version: 1\}/);
  });

  it('the CPU model in the same config serves, with batching', async () => {
    assert.deepEqual(core.status('affine'), [{ version: 1, state: 'AVAILABLE' }]);
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => core.run({ model: { name: 'affine' }, inputs: { x: rows([i, i, i, i]) } })),
    );
    results.forEach((r, i) => assert.deepEqual(r.outputs.y?.toNumbers(), [2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1]));
    const batchSizes = await core.metrics.getSingleMetricAsString(
      ':tensorflow:serving:batching_session:input_batch_size',
    );
    assert.match(batchSizes, /_count\{[^}]*\} [1-5]$/m, batchSizes);
  });
});

describe('serving core: device resolution', () => {
  const fakeServable: Servable = {
    signatures: {},
    defaultSignature: 'serving_default',
    run: () => Promise.resolve({}),
    unload: () => Promise.resolve(),
  };

  async function coreWith(text: string, device: 'cpu' | 'gpu' | undefined, probes: string[]): Promise<ServingCoreImpl> {
    const logs = logSink();
    const core = await createServingCore({
      modelConfig: parseModelServerConfig(text),
      fileSystemPollWaitSeconds: -1,
      enableModelManagement: true,
      ...(device ? { device } : {}),
      log: logs.log,
      loaderFactory: () => ({ load: () => Promise.resolve(fakeServable) }),
      probeGpu: () => {
        probes.push('probe');
        return Promise.resolve({ ...NO_ADAPTER, available: true, reason: 'found' });
      },
    });
    return core;
  }

  const TWO = `model_config_list {
    config { name: "a" base_path: "/x/a" model_platform: "tensorflow" device: "cpu" }
    config { name: "b" base_path: "/x/b" model_platform: "tensorflow" }
  }`;

  it('a model without device uses --device; a model with one keeps it', async () => {
    const probes: string[] = [];
    const gpu = await coreWith(TWO, 'gpu', probes);
    assert.equal(gpu.deviceOf('a'), 'cpu');
    assert.equal(gpu.deviceOf('b'), 'gpu');
    await gpu.close();
    assert.equal(probes.length, 1, '--device=gpu probes at start');
    const cpu = await coreWith(TWO, undefined, probes);
    assert.equal(cpu.deviceOf('a'), 'cpu');
    assert.equal(cpu.deviceOf('b'), 'cpu');
    await cpu.close();
    assert.equal(probes.length, 1, 'no GPU model: no probe');
  });

  it('a reload can move a model to the GPU for the versions it loads next', async () => {
    const core = await coreWith(TWO, 'cpu', []);
    await core.reloadConfig(TWO.replace('device: "cpu"', 'device: "gpu"'));
    assert.equal(core.deviceOf('a'), 'gpu');
    await core.close();
  });
});
