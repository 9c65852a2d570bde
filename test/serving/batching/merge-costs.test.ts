/** MergeCosts (merge-costs.ts): which batches' rows are merged, from a row's size and the compute measured. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FRESH_MEMORY_NS_PER_BYTE,
  MERGE_FLOOR_NS,
  MergeCosts,
  RUN_SHARE,
} from '../../../src/serving/batching/merge-costs.js';

/** The largest row whose copy into new memory costs at most a run's hand-off: merged whatever the compute. */
const FLOOR_BYTES = Math.floor(MERGE_FLOOR_NS / FRESH_MEMORY_NS_PER_BYTE);

describe('MergeCosts', () => {
  it("merges rows whose copy costs at most a run's hand-off, even of a model that computes nothing", () => {
    const costs = new MergeCosts();
    costs.recordCompute(0, 1_000_000);
    assert.equal(costs.worthMerging(3136, 784), true, 'an MNIST image (3 KB)');
    assert.equal(costs.worthMerging(FLOOR_BYTES, FLOOR_BYTES / 4), true);
    assert.equal(costs.worthMerging(FLOOR_BYTES + 64, (FLOOR_BYTES + 64) / 4), false);
  });

  it('merges large rows until a run has been measured, then as their compute against their copy says', () => {
    const row = 3 * 224 * 224;
    const costs = new MergeCosts();
    assert.equal(costs.worthMerging(4 * row, row), true, 'nothing measured yet: merged, as TF Serving does');
    // A sum over the row: ~0.3 ns an element, far less than the copy (2.7 ns a byte).
    costs.recordCompute(0.3 * 32 * row, 32 * row);
    assert.equal(costs.worthMerging(4 * row, row), false);
    // A large convolutional model: 50 ms an image, 330 ns an element. Its batches are merged.
    const heavy = new MergeCosts();
    heavy.recordCompute(50e6 * 8, 8 * row);
    assert.equal(heavy.worthMerging(4 * row, row), true);
    // The boundary: a copy of exactly RUN_SHARE of the compute is merged.
    const edge = new MergeCosts();
    edge.recordCompute((4 * FRESH_MEMORY_NS_PER_BYTE) / RUN_SHARE, 1);
    assert.equal(edge.worthMerging(4 * row, row), true);
    edge.recordCompute(0, 1e-3);
    assert.equal(edge.worthMerging(4 * row, row), false);
  });

  it('weights each run by its elements, and lets old runs fade', () => {
    const costs = new MergeCosts();
    costs.recordCompute(100, 10);
    costs.recordCompute(0, 90);
    assert.equal(costs.computeNsPerElement, 1);
    costs.recordCompute(Number.NaN, 10);
    costs.recordCompute(5, 0);
    assert.equal(costs.computeNsPerElement, 1, 'runs without a figure are not counted');
    // 200M elements at 100 ns bury the first 100 elements' 1 ns.
    for (let i = 0; i < 20; i++) costs.recordCompute(100 * 10_000_000, 10_000_000);
    assert.ok(Math.abs((costs.computeNsPerElement as number) - 100) < 0.01);
  });
});
