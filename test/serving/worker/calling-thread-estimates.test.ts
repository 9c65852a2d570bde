import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import {
  BATCH_RUN_BUDGET_NS,
  CallingThreadRuns,
  CHEAPER_THAN_HANDOFF_NS,
  HERE_MEASURED_RUNS,
  machineFactorOf,
  MAX_MACHINE_FACTOR,
  PROBE_BUDGET_NS,
  REFERENCE_NS_PER_MAC,
  RUN_BUDGET_NS,
} from '../../../src/serving/worker/calling-thread-runs.js';
import { affineModel, rows, softmaxRegression, tempRepo, type TempRepo } from '../core/model-fixtures.js';

const feeds = () => ({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) });
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (bounded) until `runs` has loaded its session here, which the workers' measurement triggers. */
async function loaded(runs: CallingThreadRuns): Promise<void> {
  for (let i = 0; i < 500 && !runs.synchronous; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(runs.synchronous, 'the calling-thread session did not load');
}

describe("the calling thread's estimates and probe runs (calling-thread-runs.ts)", () => {
  let repo: TempRepo;
  let modelPath: string;

  before(async () => {
    repo = await tempRepo();
    modelPath = join(await repo.addVersion('affine', 1, affineModel(2, 1)), 'model.onnx');
  });

  after(async () => {
    await repo.remove();
  });

  it('a model the workers measure above RUN_BUDGET_NS but within PROBE_BUDGET_NS gets probes until it is measured here; then the lower estimate decides', async () => {
    const runs = new CallingThreadRuns(modelPath, { eligible: true });
    const workerNs = (RUN_BUDGET_NS + PROBE_BUDGET_NS) / 2;
    for (let i = 0; i < 16; i++) runs.observe(workerNs, feeds());
    await loaded(runs);
    assert.equal(runs.qualifies(feeds()), false, 'qualified on the workers’ measurement alone');
    // Up to HERE_MEASURED_RUNS probes a turn, so that they compute back to back.
    for (let i = 0; i < HERE_MEASURED_RUNS; i++) assert.equal(runs.probes(feeds()), true, `probe ${i + 1} of a turn`);
    assert.equal(runs.probes(feeds()), false, 'more probes in one turn than HERE_MEASURED_RUNS');
    await nextTurn();
    assert.equal(runs.probes(feeds()), true, 'no probe in the next turn');
    // The first runs here are slow (the JIT, cold caches): their median counts, once there are enough of them.
    for (let i = 0; i < HERE_MEASURED_RUNS - 1; i++) runs.observe(i < 3 ? 400_000 : 4_000, feeds(), true);
    assert.equal(runs.qualifies(feeds()), false, 'qualified before enough runs here were measured');
    await nextTurn();
    assert.equal(runs.probes(feeds()), true);
    runs.observe(4_000, feeds(), true);
    assert.equal(runs.qualifies(feeds()), true, 'the runs here, measured cheap, did not make the model qualify');
    assert.equal(runs.isCheap(feeds()), true);
    await nextTurn();
    assert.equal(runs.probes(feeds()), false, 'probed after it was measured here');
    await runs.release();
  });

  it("the bound on cheap runs scales with the machine's measured speed at the dense plan, within [1, MAX_MACHINE_FACTOR]", async () => {
    assert.equal(machineFactorOf(REFERENCE_NS_PER_MAC), 1);
    assert.equal(machineFactorOf(REFERENCE_NS_PER_MAC / 3), 1, 'a faster machine keeps the reference bound');
    assert.ok(Math.abs(machineFactorOf(3 * REFERENCE_NS_PER_MAC) - 3) < 1e-9);
    assert.equal(machineFactorOf(100 * REFERENCE_NS_PER_MAC), MAX_MACHINE_FACTOR);
    // A dense model: its warm-up measured this machine (the bound within the factor's range); without the plan
    // (--js_dense_runs=false) nothing is measured and the constant stays.
    const softmax = join(await repo.addVersion('softmax', 1, softmaxRegression()), 'model.onnx');
    const x = () => ({ x: new HostTensor('float32', [1, 784], new Float32Array(784)) });
    for (const jsDenseRuns of [true, false]) {
      const runs = new CallingThreadRuns(softmax, { eligible: true, jsDenseRuns });
      for (let i = 0; i < 16; i++) runs.observe(RUN_BUDGET_NS / 2, x());
      await loaded(runs);
      if (jsDenseRuns) {
        assert.ok(runs.cheapBoundNs >= CHEAPER_THAN_HANDOFF_NS, `bound ${runs.cheapBoundNs}`);
        assert.ok(runs.cheapBoundNs <= MAX_MACHINE_FACTOR * CHEAPER_THAN_HANDOFF_NS, `bound ${runs.cheapBoundNs}`);
      } else assert.equal(runs.cheapBoundNs, CHEAPER_THAN_HANDOFF_NS);
      await runs.release();
    }
    assert.equal(new CallingThreadRuns(softmax, { eligible: true, cheapRunNs: 0 }).cheapBoundNs, 0);
  });

  it('a merged batch qualifies by the runs of its own size, not by the rate of smaller runs', async () => {
    const runs = new CallingThreadRuns(modelPath, { eligible: true });
    const batch = () => ({ x: HostTensor.zeros('float32', [128, 4]) });
    // 2-row runs at half the budget: at their rate a 128-row batch (64× the elements) would take 32× the budget.
    for (let i = 0; i < 16; i++) runs.observe(RUN_BUDGET_NS / 2, feeds());
    await loaded(runs);
    assert.equal(runs.qualifies(feeds()), true);
    assert.equal(runs.qualifies(batch()), false, 'a batch qualified before runs of its size were measured');
    assert.equal(runs.computesBatchHere(batch()), false);
    // Measured at its own size (ONNX Runtime's fixed cost a run spread over 128 rows), the batch qualifies, and the
    // 2-row runs keep their own estimate.
    for (let i = 0; i < 16; i++) runs.observe(RUN_BUDGET_NS / 2, batch());
    assert.equal(runs.qualifies(batch()), true, 'the batch, measured within the budget, did not qualify');
    assert.equal(runs.computesBatchHere(batch()), true);
    assert.equal(runs.predictNs(feeds()), RUN_BUDGET_NS / 2);
    await runs.release();
  });

  it('a merged batch computes here whatever else is in flight only when predicted within BATCH_RUN_BUDGET_NS', async () => {
    const batch = () => ({ x: HostTensor.zeros('float32', [128, 4]) });
    for (const [ns, here] of [
      [BATCH_RUN_BUDGET_NS, true],
      [BATCH_RUN_BUDGET_NS * 1.01, false],
    ] as const) {
      const runs = new CallingThreadRuns(modelPath, { eligible: true });
      for (let i = 0; i < 16; i++) runs.observe(RUN_BUDGET_NS / 2, feeds());
      await loaded(runs);
      for (let i = 0; i < 16; i++) runs.observe(ns, batch());
      assert.equal(runs.computesBatchHere(batch()), here, `a batch measured at ${ns} ns`);
      await runs.release();
    }
  });

  it('a model the workers measure above PROBE_BUDGET_NS is neither loaded here nor probed', async () => {
    const runs = new CallingThreadRuns(modelPath, { eligible: true });
    for (let i = 0; i < 16; i++) runs.observe(PROBE_BUDGET_NS * 1.5, feeds());
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(runs.synchronous, false, 'a session was loaded here');
    assert.equal(runs.probes(feeds()), false);
    assert.equal(runs.qualifies(feeds()), false);
    await runs.release();
  });
});
