import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { PACK_BACKLOG_NS, WorkerPool, type PooledModel } from '../../../src/serving/worker/worker-pool.js';
import { affineModel, rows, slowModel, tempRepo, type TempRepo } from '../core/model-fixtures.js';

/** Messages posted to the workers by one burst of `size` concurrent runs. */
async function postedPerBurst(pool: WorkerPool, model: PooledModel, size: number, x: () => HostTensor) {
  const before = pool.messages.posted;
  await Promise.all(Array.from({ length: size }, () => model.run({ x: x() }, ['y'])));
  return pool.messages.posted - before;
}

describe('where a burst of runs goes among the workers', () => {
  let repo: TempRepo;
  // Every run goes to a worker, so that only the choice between the two workers is measured.
  let pool: WorkerPool;

  before(async () => {
    repo = await tempRepo();
    pool = new WorkerPool({ size: 2, intraOpNumThreads: 1, callingThreadRuns: false });
  });

  after(async () => {
    await pool.close();
    await repo.remove();
  });

  it('tiny runs that arrive together go to one worker in one message, once their cost is measured', async () => {
    const dir = await repo.addVersion('affine', 1, affineModel(2, 1));
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    const x = () => rows([1, 2, 3, 4], [-1, 0, 0.5, 10]);
    // Unmeasured, runs spread over both workers (as before packing existed).
    assert.equal(await postedPerBurst(pool, model, 4, x), 2);
    // Measured on 1,000-row runs: a 2-row run costs no more than those (run-cost-estimate.ts), so the runs below are
    // predicted within a worker's backlog bound unless this machine runs the measured ones very slowly (a worker's
    // 2-row run alone measured 130–200 µs on a slow one, near the bound for a burst of 3).
    for (let i = 0; i < 20; i++) await model.run({ x: HostTensor.zeros('float32', [1000, 4]) }, ['y']);
    // Measured, a burst of 3 goes to one worker in one message when its predicted compute fits one worker's backlog
    // bound, and is spread (2 messages) when it does not.
    let packed = 0;
    for (let burst = 0; burst < 10; burst++) {
      const predictedNs = model.predictedRunNs({ x: x() });
      assert.ok(Number.isFinite(predictedNs), 'the runs were measured');
      const fits = 3 * predictedNs <= PACK_BACKLOG_NS;
      const posted = await postedPerBurst(pool, model, 3, x);
      assert.equal(posted, fits ? 1 : 2, `burst ${burst}: 3 runs predicted at ${Math.round(predictedNs)} ns each`);
      if (fits) packed++;
    }
    assert.ok(packed > 0, 'no burst of 2-row runs was predicted to fit one worker');
    const { y } = await model.run({ x: x() }, ['y']);
    assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
    await model.unload();
  });

  it('runs of a slow model still spread over the workers, to compute in parallel', async () => {
    const dir = await repo.addVersion('slow', 1, slowModel(256, 8));
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    const x = () => HostTensor.zeros('float32', [64, 256]);
    for (let i = 0; i < 20; i++) await model.run({ x: x() }, ['y']);
    for (let burst = 0; burst < 3; burst++) assert.equal(await postedPerBurst(pool, model, 2, x), 2);
    await model.unload();
  });

  it('a tiny run does not queue behind a calibration: a worker busy with one takes nothing packed', async () => {
    const tiny = await pool.loadModel(join(await repo.addVersion('affine', 2, affineModel(2, 1)), 'model.onnx'));
    const slow = await pool.loadModel(join(await repo.addVersion('slow', 2, slowModel(256, 8)), 'model.onnx'));
    const x = () => rows([1, 2, 3, 4], [-1, 0, 0.5, 10]);
    for (let i = 0; i < 20; i++) await tiny.run({ x: x() }, ['y']);
    // Keeps one worker busy for ~0.3 s (its rounds run until the budget is spent).
    let calibrated = false;
    const calibration = slow
      .calibrateChunks({ x: HostTensor.zeros('float32', [64, 256]) }, ['y'], {
        chunkRows: [16, 32],
        budgetMs: 300,
        maxRunMs: 10_000,
        clock: 'wall',
      })
      .then(() => (calibrated = true));
    const { y } = await tiny.run({ x: x() }, ['y']);
    assert.equal(calibrated, false, 'the tiny run waited for the calibration');
    assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
    await calibration;
    await tiny.unload();
    await slow.unload();
  });
});
