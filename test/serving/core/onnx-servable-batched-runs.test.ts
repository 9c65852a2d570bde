import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultBatchingParameters } from '../../../src/serving/config/batching-parameters.js';
import { OnnxServable } from '../../../src/serving/core/onnx-servable.js';
import { deriveSignatures } from '../../../src/serving/core/signatures.js';
import { WorkerPool, type PooledModel, type RunOptions } from '../../../src/serving/worker/worker-pool.js';
import { affineModel, rows, tempRepo, type TempRepo } from './model-fixtures.js';

describe("the batch scheduler's merged batches reach the worker pool marked as batches", () => {
  let repo: TempRepo;
  let pool: WorkerPool;

  before(async () => {
    repo = await tempRepo();
    pool = new WorkerPool({ size: 1, intraOpNumThreads: 1 });
  });

  after(async () => {
    await pool.close();
    await repo.remove();
  });

  /** A servable over a model of its own whose every pool run's options are recorded in `seen`. */
  async function recordingServable(seen: RunOptions[], batching: boolean, version: number): Promise<OnnxServable> {
    const model = await pool.loadModel(join(await repo.addVersion('affine', version, affineModel(2, 1)), 'model.onnx'));
    const recording: PooledModel = Object.create(model, {
      run: {
        value: (...args: Parameters<PooledModel['run']>) => {
          seen.push(args[2] ?? {});
          return model.run(...args);
        },
      },
    });
    return new OnnxServable({
      modelName: 'affine',
      version,
      model: recording,
      signatures: deriveSignatures(model.inputs, model.outputs),
      platform: 'onnxruntime_onnx',
      ...(batching ? { batching: defaultBatchingParameters() } : {}),
    });
  }

  for (const batching of [true, false]) {
    it(`batching ${batching ? 'on: every run is a batch' : 'off: no run is'} (RunOptions.batched)`, async () => {
      const seen: RunOptions[] = [];
      const servable = await recordingServable(seen, batching, batching ? 1 : 2);
      const results = await Promise.all(
        Array.from({ length: 3 }, () =>
          servable.run('serving_default', { x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y']),
        ),
      );
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      assert.ok(seen.length > 0, 'no run reached the pool');
      if (batching) assert.ok(seen.length < 3, `the three requests were not merged: ${seen.length} runs`);
      for (const options of seen) assert.equal(options.batched === true, batching);
      await servable.unload();
    });
  }
});
