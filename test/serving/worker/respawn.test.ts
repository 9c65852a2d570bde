import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { Internal } from '../../../src/errors.js';
import { WorkerPool } from '../../../src/serving/worker/worker-pool.js';
import { affineModel, eventually, rows, slowModel, tempRepo, type TempRepo } from '../core/model-fixtures.js';

/** Reaches the pool's threads to kill one, as a native crash would. */
function workerOf(pool: WorkerPool, index: number): Worker {
  const threads = (pool as unknown as { threads: { worker: Worker }[] }).threads;
  return (threads[index] as { worker: Worker }).worker;
}

describe('WorkerPool when a worker dies', () => {
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

  it('fails the requests in flight, starts a replacement and loads the models into it again', async () => {
    const affine = await pool.loadModel(join(await repo.addVersion('affine', 1, affineModel(2, 1)), 'model.onnx'));
    const slow = await pool.loadModel(join(await repo.addVersion('slow', 1, slowModel(256, 40)), 'model.onnx'));
    const dead = workerOf(pool, 0);
    const x = rows(...Array.from({ length: 256 }, () => Array<number>(256).fill(1)));
    const inFlight = slow.run({ x }, ['y']);
    await dead.terminate();
    await assert.rejects(inFlight, Internal);
    await eventually(() => workerOf(pool, 0) !== dead);
    // The replacement loads the models asynchronously; once it has, runs succeed again.
    let result: number[] | undefined;
    await eventually(() => {
      void affine.run({ x: rows([1, 2, 3, 4]) }, ['y']).then(
        (out) => (result = out.y?.toNumbers()),
        () => undefined,
      );
      return result !== undefined;
    });
    assert.deepEqual(result, [3, 5, 7, 9]);
    assert.equal(pool.size, 1);
  });
});
