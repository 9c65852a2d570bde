import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunCostEstimate, sizeClassOf } from '../../../src/serving/worker/run-cost-estimate.js';

/** Equal within floating point: a prediction is a rate an element times the elements. */
function assertClose(actual: number, expected: number, message?: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.abs(expected), message ?? `${actual} ≠ ${expected}`);
}

/** `runs` runs of `elements` elements, each taking `ns`. */
function observeRuns(estimate: RunCostEstimate, runs: number, elements: number, ns: number): void {
  for (let i = 0; i < runs; i++) estimate.observe(elements, ns);
}

describe("a model's measured run cost by run size (run-cost-estimate.ts)", () => {
  it('size classes are powers of two of the input elements', () => {
    assert.equal(sizeClassOf(0), 0);
    assert.equal(sizeClassOf(1), 0);
    assert.equal(sizeClassOf(2), 1);
    assert.equal(sizeClassOf(3), 1);
    assert.equal(sizeClassOf(784), 9);
    assert.equal(sizeClassOf(64 * 784), 15);
    assert.equal(sizeClassOf(2 ** 60), 52, 'the last class holds every larger run');
  });

  it('a class counts from the median of its first runs, then follows a running average capped at 4× the estimate', () => {
    const estimate = new RunCostEstimate(5);
    assert.equal(estimate.predictNs(784), Infinity, 'predicted before any run was measured');
    // The first runs are slow (the JIT, cold caches): the median, not the mean, of the first five counts.
    for (const ns of [400_000, 300_000, 10_000, 9_000, 11_000]) {
      assert.equal(estimate.measured(784), false);
      estimate.observe(784, ns);
    }
    assert.equal(estimate.measured(784), true);
    assertClose(estimate.predictNs(784), 11_000);
    assertClose(estimate.predictNs(1_000), (11_000 / 784) * 1_000, 'a run of the same class scales by its elements');
    // A run taken off its core counts as at most 4× the estimate: 10 % of the way to 44,000, not to 1 s.
    estimate.observe(784, 1e9);
    assertClose(estimate.predictNs(784), 11_000 + 0.1 * 33_000);
  });

  it('a batch is predicted from runs of its own size, not from the rate of one-row runs', () => {
    // The MNIST softmax on one thread: 21 µs at one row, 106 µs at 64 rows (docs/performance.md, "Round 14").
    const estimate = new RunCostEstimate(3);
    observeRuns(estimate, 3, 784, 21_000);
    // Before 64-row runs are measured, the one-row rate bounds them (a larger run costs no more an element)…
    assertClose(estimate.predictNs(64 * 784), 64 * 21_000);
    observeRuns(estimate, 3, 64 * 784, 106_000);
    // … and once they are, their own measurement counts, while one-row runs keep theirs.
    assertClose(estimate.predictNs(64 * 784), 106_000);
    assertClose(estimate.predictNs(784), 21_000);
  });

  it('a class not measured yet takes the lower of its neighbours’ bounds', () => {
    const estimate = new RunCostEstimate(1);
    // Only a large class measured: a smaller run costs no more than the large class's smallest run.
    estimate.observe(4_000, 200_000); // class 11: 50 ns an element, 102,400 ns at its smallest (2,048 elements)
    assertClose(estimate.predictNs(8), 50 * 2_048);
    // A smaller class measured too: its rate times the run's elements, when lower.
    estimate.observe(8, 4_000); // class 3: 500 ns an element
    assertClose(estimate.predictNs(16), 500 * 16, 'the smaller class’s rate bounds it lower');
    assertClose(estimate.predictNs(1_000), 50 * 2_048, 'the larger class’s smallest run bounds it lower');
    // A run larger than every measured class: the nearest smaller class's rate, times its elements.
    assertClose(estimate.predictNs(100_000), 50 * 100_000);
  });
});
