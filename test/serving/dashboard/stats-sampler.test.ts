/** The stats sampler over a real ServingMetrics registry: rates, percentiles, the ring's size and alignment. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServingMetrics } from '../../../src/serving/metrics/serving-metrics.js';
import { histogramQuantile, StatsSampler } from '../../../src/serving/dashboard/stats-sampler.js';

test('histogramQuantile interpolates within the bucket as Prometheus does, null without observations', () => {
  // 10 observations ≤ 10, 10 more ≤ 20: the median is the 10th, at the top of the first bucket.
  const buckets = new Map([
    [10, 10],
    [20, 20],
    [Infinity, 20],
  ]);
  assert.equal(histogramQuantile(0.5, buckets), 10);
  assert.equal(histogramQuantile(0.75, buckets), 15);
  assert.equal(histogramQuantile(0.5, new Map([[Infinity, 0]])), null);
  // Everything above the last finite bound: that bound.
  assert.equal(
    histogramQuantile(
      0.5,
      new Map([
        [10, 0],
        [Infinity, 4],
      ]),
    ),
    10,
  );
});

test('each sample holds the requests, errors and latency of its interval; the ring keeps its size', async () => {
  const metrics = new ServingMetrics();
  metrics.setConfiguredModels(['m', 'late']);
  const sampler = new StatsSampler(metrics.registry, { intervalMs: 1000, samples: 3 });
  const request = (model: string, status: string, latencySeconds: number) =>
    metrics.recordRequest({ model, version: 1, api: 'predict', entrypoint: 'REST', status, latencySeconds });
  await sampler.sample(1000); // baseline
  request('m', 'OK', 0.002);
  request('m', 'OK', 0.002);
  request('m', 'INVALID_ARGUMENT', 0.001);
  await sampler.sample(2000);
  let stats = sampler.snapshot();
  assert.deepEqual(stats.timestamps, [2000]);
  const m = stats.series.find((s) => s.model === 'm')!;
  assert.deepEqual(m.requestsPerSecond, [3]);
  assert.deepEqual(m.errorsPerSecond, [1]);
  const p50 = m.p50LatencyMs[0]!;
  // 2 ms falls in TF Serving's bucket (1889.57 µs, 3401.22 µs].
  assert.ok(p50 > 1.88 && p50 <= 3.41, String(p50));

  for (const t of [3000, 4000]) {
    request('m', 'OK', 0.002);
    await sampler.sample(t);
  }
  request('late', 'OK', 0.002);
  await sampler.sample(5000);
  stats = sampler.snapshot();
  assert.deepEqual(stats.timestamps, [3000, 4000, 5000]);
  const late = stats.series.find((s) => s.model === 'late')!;
  assert.deepEqual(late.requestsPerSecond, [0, 0, 1]);
  assert.deepEqual(late.p50LatencyMs.slice(0, 2), [null, null]);
  assert.deepEqual(stats.series.find((s) => s.model === 'm')!.requestsPerSecond, [1, 1, 0]);
  // The newest sample alone, as a stream event carries it.
  assert.deepEqual(sampler.snapshot(1).series.find((s) => s.model === 'late')!.requestsPerSecond, [1]);
});

test('batch sizes are counted over the window per model', async () => {
  const metrics = new ServingMetrics();
  const sampler = new StatsSampler(metrics.registry, { intervalMs: 1000, samples: 10 });
  await sampler.sample(1000);
  const batches = metrics.batchObserver('m', 'pool');
  const batch = (size: number) => batches.observe({ inputSize: size, processedSize: size, queuingSeconds: 0 });
  batch(3);
  batch(3);
  batch(8);
  await sampler.sample(2000);
  const [m] = sampler.snapshot().batchSizes;
  assert.equal(m?.model, 'm');
  assert.equal(m?.batches, 3);
  assert.equal(m?.buckets.find((b) => b.le === 4)?.count, 2);
  assert.equal(m?.buckets.find((b) => b.le === 8)?.count, 1);
  assert.equal(
    m?.buckets.reduce((n, b) => n + b.count, 0),
    3,
  );
});
