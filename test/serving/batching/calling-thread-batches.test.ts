import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { WorkerPool } from '../../../src/serving/worker/worker-pool.js';
import { affineModel, rows, tempRepo, type TempRepo } from '../core/model-fixtures.js';

describe('merged batches of a tiny model', () => {
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

  it('compute on the calling thread once runs of their size are measured, not only single requests', async () => {
    const dir = await repo.addVersion('affine', 1, affineModel(2, 1));
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    // A 64-row batch has 32× the elements of a 2-row request but costs about the same run: priced at the 2-row
    // rate it would never fit the calling thread's budget.
    const batch = HostTensor.from(
      'float32',
      Array.from({ length: 64 }, (_, i) => [i, 0, -i, 1]),
    );
    let batchHere = false;
    for (let i = 0; i < 400 && !batchHere; i++) {
      await model.run({ x: rows([1, 2, 3, 4], [0, 0, 0, 0]) }, ['y']);
      const before = model.runsOnCallingThread;
      const { y } = await model.run({ x: batch }, ['y']);
      batchHere = model.runsOnCallingThread === before + 1;
      assert.deepEqual(y?.shape, [64, 4]);
      assert.deepEqual(y?.toNumbers().slice(4, 8), [3, 1, -1, 3]);
    }
    assert.ok(batchHere, 'no 64-row batch computed on the calling thread');
    await model.unload();
  });
});
