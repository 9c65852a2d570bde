/**
 * Chunked runs (src/serving/core/chunked-runs.ts): the decision from a measurement, a model whose rows are
 * independent run in chunks with the same outputs as a whole run, a model whose rows interact never chunked, and
 * --chunked_runs=false keeping every run whole. Costs are injected where the decision is tested, never timed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../../src/onnx/builder.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import {
  calibrationFeeds,
  decideChunkedRuns,
  describeDecision,
  MAX_CALIBRATION_RUN_MS,
  whyNotChunkable,
} from '../../../src/serving/core/chunked-runs.js';
import { createServingCore } from '../../../src/serving/core/index.js';
import { OnnxServable } from '../../../src/serving/core/onnx-servable.js';
import { deriveSignatures } from '../../../src/serving/core/signatures.js';
import { chunkSizes, tooSlowToCalibrate } from '../../../src/serving/worker/chunked-runs.js';
import type { ChunkMeasurement } from '../../../src/serving/worker/protocol.js';
import { WorkerPool, type PooledModel } from '../../../src/serving/worker/worker-pool.js';
import { tempRepo, type TempRepo } from './model-fixtures.js';

/** y = relu(x · W + b), x [n, 6] → y [n, 5]: every row computed on its own. */
function rowwiseModel(): Uint8Array {
  const b = new OnnxGraphBuilder('rowwise');
  b.input({ name: 'x', dtype: 'float32', shape: ['n', 6] });
  const w = b.constant(
    new HostTensor(
      'float32',
      [6, 5],
      new Float32Array(30).map((_, i) => ((i % 7) - 3) / 5),
    ),
  );
  const bias = b.constant(new HostTensor('float32', [5], new Float32Array([0.1, -0.2, 0.3, 0, 0.5])));
  const xw = b.op('MatMul', ['x', w]);
  const sum = b.op('Add', [xw, bias]);
  b.op('Relu', [sum], {}, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: ['n', 5] });
  return b.build();
}

/** y = softmax over the batch axis: each row's output depends on every other row's input. */
function batchSoftmaxModel(): Uint8Array {
  const b = new OnnxGraphBuilder('batch_softmax');
  b.input({ name: 'x', dtype: 'float32', shape: ['n', 6] });
  b.op('Softmax', ['x'], { axis: 0 }, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: ['n', 6] });
  return b.build();
}

/** y = x − mean of x over the batch (what a BatchNorm in training mode does first). */
function batchCenteringModel(): Uint8Array {
  const b = new OnnxGraphBuilder('batch_centering');
  b.input({ name: 'x', dtype: 'float32', shape: ['n', 6] });
  const mean = b.op('ReduceMean', ['x'], { axes: [0], keepdims: 1 });
  b.op('Sub', ['x', mean], {}, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: ['n', 6] });
  return b.build();
}

/** Chunks of 8 cost half what the whole batch does per example; 4 and 16 in between. */
const chunksPay = (rows: number) => (rows === 8 ? 1000 : rows === 32 ? 2000 : 1500);

const seeded = (rows: number, seed: number) => {
  let s = seed;
  return new HostTensor(
    'float32',
    [rows, 6],
    new Float32Array(rows * 6).map(() => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 4 - 2),
  );
};

function measurement(overrides: Partial<ChunkMeasurement> = {}): ChunkMeasurement {
  return {
    batchRows: 32,
    clock: 'thread-cpu',
    wholeNs: 32 * 1.98e6,
    rounds: 4,
    chunks: [
      { rows: 4, ns: 32 * 1.65e6, maxRelativeDiff: 0, equal: true },
      { rows: 8, ns: 32 * 1.61e6, maxRelativeDiff: 0, equal: true },
      { rows: 16, ns: 32 * 1.8e6, maxRelativeDiff: 0, equal: true },
    ],
    ...overrides,
  };
}

describe('chunked runs: the decision', () => {
  it('picks the cheapest chunk size when it is at least 10 % cheaper per example', () => {
    const d = decideChunkedRuns('serving_default', measurement());
    assert.equal(d.chunkRows, 8);
    assert.match(describeDecision(d), /batches of ≥ 9 run in chunks of 8: 1\.61 vs 1\.98 ms per example/);
  });

  it('keeps batches whole when chunks save less than 10 %', () => {
    const m = measurement({
      wholeNs: 32 * 1.7e6,
      chunks: [{ rows: 8, ns: 32 * 1.61e6, maxRelativeDiff: 0, equal: true }],
    });
    const d = decideChunkedRuns('serving_default', m);
    assert.equal(d.chunkRows, undefined);
    assert.match(d.reason ?? '', /not ≥ 10 % cheaper/);
  });

  it('never picks a chunk size whose outputs differed, however cheap', () => {
    const m = measurement({
      chunks: [
        { rows: 4, maxRelativeDiff: 0.3, equal: false },
        { rows: 8, ns: 32 * 1.9e6, maxRelativeDiff: 0, equal: true },
      ],
    });
    assert.equal(decideChunkedRuns('s', m).chunkRows, undefined);
    const allDiffer = measurement({ chunks: [{ rows: 8, maxRelativeDiff: 0.3, equal: false }] });
    assert.match(decideChunkedRuns('s', allDiffer).reason ?? '', /rows interact/);
  });

  it('a model too slow to calibrate runs whole and says why', () => {
    const d = decideChunkedRuns('s', measurement({ skipped: 'slow', rounds: 0, chunks: [] }));
    assert.equal(d.chunkRows, undefined);
    assert.match(d.reason ?? '', /over 250 ms: not calibrated/);
  });

  it('stops calibrating after a first run too costly on its clock, however long the run waited for a core', () => {
    // Iris at load 12: about 60 ms of thread CPU time per batch of 32, over 250 ms of wall time.
    assert.equal(tooSlowToCalibrate(60e6, MAX_CALIBRATION_RUN_MS), false);
    assert.equal(tooSlowToCalibrate(300e6, MAX_CALIBRATION_RUN_MS), true);
  });

  it('splits a batch into the fewest chunks, as even as possible', () => {
    assert.deepEqual(chunkSizes(32, 8), [8, 8, 8, 8]);
    assert.deepEqual(chunkSizes(20, 8), [7, 7, 6]);
    assert.deepEqual(chunkSizes(9, 8), [5, 4]);
  });

  it('only signatures batched along dim 0 in every input and output, updating nothing, qualify', () => {
    const batched = { name: 'x', dtype: 'float32' as const, shape: [-1, 6] };
    const sig = (outShape: number[]) => ({
      method: 'tensorflow/serving/predict',
      inputs: { x: batched },
      outputs: { y: { name: 'y', dtype: 'float32' as const, shape: outShape } },
    });
    assert.equal(whyNotChunkable(sig([-1, 5]), ['x']), undefined);
    assert.match(whyNotChunkable(sig([5]), ['x']) ?? '', /not every input and output is batched/);
    assert.match(whyNotChunkable(sig([-1, 5]), ['x', 'other']) ?? '', /inputs this signature does not feed/);
    const stateful = { ...sig([-1, 5]), state: [{ variable: 'v', input: 'v_in', output: 'v_out' }] };
    assert.match(whyNotChunkable(stateful, ['x']) ?? '', /updates variables/);
    assert.match(
      calibrationFeeds({ ...sig([-1]), inputs: { x: { ...batched, shape: [-1, -1] } } }, 32) as string,
      /dims other than the batch unknown/,
    );
    const huge = { ...sig([-1]), inputs: { x: { ...batched, shape: [-1, 3, 1024, 1024] } } };
    assert.match(calibrationFeeds(huge, 32) as string, /would take over 64 MiB/);
  });
});

describe('chunked runs in the worker pool', () => {
  let repo: TempRepo;
  let pool: WorkerPool;
  const servables: OnnxServable[] = [];

  before(async () => {
    repo = await tempRepo();
    pool = new WorkerPool({ size: 1, intraOpNumThreads: 1, callingThreadRuns: false });
  });

  after(async () => {
    for (const s of servables) await s.unload();
    await pool.close();
    await repo.remove();
  });

  async function load(name: string, onnx: Uint8Array): Promise<{ servable: OnnxServable; model: PooledModel }> {
    const dir = await repo.addVersion(name, 1, onnx);
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    const servable = new OnnxServable({
      modelName: name,
      version: 1,
      model,
      signatures: deriveSignatures(model.inputs, model.outputs),
      platform: 'onnxruntime_onnx',
    });
    servables.push(servable);
    return { servable, model };
  }

  it('a model whose rows are independent runs large batches in chunks, outputs identical to a whole run', async () => {
    const { servable, model } = await load('rowwise', rowwiseModel());
    const [decision] = await servable.calibrateChunkedRuns({ costs: chunksPay });
    assert.equal(decision?.chunkRows, 8);
    assert.deepEqual(servable.description.chunkedRuns, [decision]);
    for (const rows of [32, 20, 9]) {
      const x = seeded(rows, rows);
      const whole = await model.run({ x }, ['y']);
      const before = model.chunkedRuns;
      const chunked = await servable.run('serving_default', { x }, ['y']);
      assert.equal(model.chunkedRuns, before + 1, `batch of ${rows} did not run in chunks`);
      assert.deepEqual(chunked.y?.shape, [rows, 5]);
      assert.deepEqual(chunked.y?.data, whole.y?.data, `batch of ${rows}: chunked outputs differ`);
    }
    const before = model.chunkedRuns;
    await servable.run('serving_default', { x: seeded(8, 3) }, ['y']);
    assert.equal(model.chunkedRuns, before, 'a batch of 8 rows was split');
  });

  for (const [name, build] of [
    ['batch_softmax', batchSoftmaxModel],
    ['batch_centering', batchCenteringModel],
  ] as const) {
    it(`a model whose rows interact (${name}) is never chunked, however cheap chunks would be`, async () => {
      const { servable, model } = await load(name, build());
      const [decision] = await servable.calibrateChunkedRuns({ costs: chunksPay });
      assert.equal(decision?.chunkRows, undefined);
      assert.match(decision?.reason ?? '', /rows interact/);
      await servable.run('serving_default', { x: seeded(32, 1) }, ['y']);
      assert.equal(model.chunkedRuns, 0);
    });
  }
});

describe('--chunked_runs', () => {
  let repo: TempRepo;

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('rowwise', 1, rowwiseModel());
  });

  after(async () => {
    await repo.remove();
  });

  for (const chunkedRuns of [true, false]) {
    it(`${chunkedRuns ? 'on: each version is calibrated at load' : 'off: no calibration, every batch runs whole'}`, async () => {
      const logs: string[] = [];
      const core = await createServingCore({
        modelConfig: parseModelServerConfig(
          `model_config_list { config { name: "rowwise" base_path: "${repo.basePath('rowwise')}" model_platform: "onnx" } }`,
        ),
        fileSystemPollWaitSeconds: 0,
        numWorkers: 1,
        chunkedRuns,
        log: (_level, message) => logs.push(message),
      });
      try {
        await core.ready();
        const described = core.describe({ name: 'rowwise' }).chunkedRuns;
        const logged = logs.filter((m) => m.includes("model 'rowwise' version 1: signature 'serving_default'"));
        if (chunkedRuns) {
          assert.equal(described?.length, 1);
          assert.equal(described?.[0]?.measured?.batchRows, 32);
          assert.equal(logged.length, 1, 'the decision is logged once');
        } else {
          assert.equal(described, undefined);
          assert.equal(logged.length, 0);
        }
        const out = await core.run({ model: { name: 'rowwise' }, inputs: { x: seeded(32, 5) } });
        assert.deepEqual(out.outputs.y?.shape, [32, 5]);
      } finally {
        await core.close();
      }
    });
  }
});
