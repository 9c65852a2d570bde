import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunCostEstimate } from '../../../src/serving/worker/run-cost-estimate.js';

/** Feeds `runs` runs of `elements` elements, each costing `ns`. */
function measure(estimate: RunCostEstimate, elements: number, ns: number, runs = 5): void {
  for (let i = 0; i < runs; i++) estimate.observe(ns, elements);
}

describe('RunCostEstimate', () => {
  it('predicts nothing before any size has been measured enough', () => {
    const estimate = new RunCostEstimate();
    assert.equal(estimate.predict(784), undefined);
    measure(estimate, 784, 30_000, 4);
    assert.equal(estimate.predict(784), undefined);
    assert.equal(estimate.measuredRuns, 4);
  });

  it("predicts a merged batch of a model whose cost is fixed per run from that batch's own measurements", () => {
    // The MNIST softmax: ~30 µs a run at batch 1 (784 elements) and ~40 µs at batch 64.
    const estimate = new RunCostEstimate();
    measure(estimate, 784, 30_000);
    measure(estimate, 64 * 784, 40_000);
    assert.ok(Math.abs((estimate.predict(64 * 784) as number) - 40_000) < 1, String(estimate.predict(64 * 784)));
    // One rate for every size would have said 64 × 30 µs.
    assert.ok((estimate.predict(64 * 784) as number) < 150_000);
    assert.ok(Math.abs((estimate.predict(784) as number) - 30_000) < 1);
  });

  it('predicts an unmeasured larger size linearly from the largest smaller one', () => {
    const estimate = new RunCostEstimate();
    measure(estimate, 1000, 50_000); // 50 ns per element
    assert.equal(estimate.predict(200_000), 50 * 200_000);
  });

  it('bounds an unmeasured smaller size by the cost of the nearest measured size above it', () => {
    // A model with a large fixed cost measured only on big batches: a small run must not be predicted cheap.
    const estimate = new RunCostEstimate();
    measure(estimate, 4096, 10_000_000);
    const predicted = estimate.predict(16) as number;
    assert.ok(predicted >= 10_000_000 / 2, `predicted ${predicted} ns for a run whose fixed cost is 10 ms`);
  });

  it('moves little for one stalled run, so one stall does not send a size to the workers for dozens of runs', () => {
    const estimate = new RunCostEstimate();
    measure(estimate, 8000, 60_000, 10);
    estimate.observe(2_000_000, 8000); // descheduled for 2 ms
    const after = estimate.predict(8000) as number;
    assert.ok(after <= 66_000, `one stalled run moved the estimate from 60 µs to ${(after / 1000).toFixed(0)} µs`);
  });

  it('follows a size whose cost changes, and ignores one outlier among its first runs', () => {
    const estimate = new RunCostEstimate();
    for (const ns of [20_000, 20_000, 5_000_000, 20_000, 20_000]) estimate.observe(ns, 1000);
    assert.equal(estimate.predict(1000), 20_000);
    for (let i = 0; i < 100; i++) estimate.observe(200_000, 1000);
    assert.ok((estimate.predict(1000) as number) > 190_000);
  });
});
