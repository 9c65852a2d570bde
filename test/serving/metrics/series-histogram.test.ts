import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS_MICROS } from '../../../src/serving/metrics/serving-metrics.js';
import { SeriesHistogram } from '../../../src/serving/metrics/series-histogram.js';

describe('SeriesHistogram', () => {
  const options = (registry: Registry) => ({
    name: 'latency_micros',
    help: 'Latency in microseconds',
    labelNames: ['model_name', 'API'],
    buckets: [...LATENCY_BUCKETS_MICROS],
    registers: [registry],
  });
  // Values on the bounds themselves, between them, below the first and above the last.
  const values = [0, 10, 10.0001, 18, 1e12, ...Array.from({ length: 500 }, (_, i) => (i * 7919) % 100_000)];
  const labelSets = [
    { model_name: 'a', API: 'Predict' },
    { model_name: 'b', API: 'Classify' },
  ];

  it('exports what prom-client’s Histogram exports for the same observations (text and get())', async () => {
    const reference = new Registry();
    const ours = new Registry();
    const histogram = new Histogram(options(reference));
    const series = new SeriesHistogram(options(ours));
    values.forEach((v, i) => {
      const labels = labelSets[i % 2] as Record<string, string>;
      histogram.observe(labels, v);
      series.seriesOf(labels).observe(v);
    });
    assert.equal(await ours.metrics(), await reference.metrics());
    const expected = await reference.getSingleMetric('latency_micros')?.get();
    const actual = await ours.getSingleMetric('latency_micros')?.get();
    // prom-client's values also carry an `exemplar` (null or undefined without exemplars).
    const plain = (values: object[] | undefined) =>
      values?.map((v) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== 'exemplar')));
    assert.deepEqual(plain(actual?.values), plain(expected?.values));
  });

  it('resetMetrics zeroes every series, and series held by callers keep counting into the export', async () => {
    const registry = new Registry();
    const histogram = new SeriesHistogram(options(registry));
    const held = histogram.seriesOf({ model_name: 'a', API: 'Predict' });
    held.observe(5);
    registry.resetMetrics();
    assert.match(await registry.metrics(), /latency_micros_count\{model_name="a",API="Predict"\} 0/);
    held.observe(20);
    assert.match(await registry.metrics(), /latency_micros_count\{model_name="a",API="Predict"\} 1/);
    assert.match(await registry.metrics(), /latency_micros_bucket\{le="18",model_name="a",API="Predict"\} 0/);
    assert.match(await registry.metrics(), /latency_micros_bucket\{le="32.4",model_name="a",API="Predict"\} 1/);
  });

  it('refuses labels it was not declared with, and values that are not numbers, as prom-client does', () => {
    const histogram = new SeriesHistogram(options(new Registry()));
    assert.throws(() => histogram.seriesOf({ model_name: 'a', version: '1' }), /version/);
    assert.throws(() => histogram.seriesOf({ model_name: 'a', API: 'Predict' }).observe(Number.NaN), TypeError);
  });
});
