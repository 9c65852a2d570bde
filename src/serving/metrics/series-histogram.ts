/**
 * A Prometheus histogram for the per-request latencies, counted without prom-client's per-observation work.
 * prom-client's `Histogram.observe(labels, v)` validates the labels, hashes them and scans the bounds on every call
 * (~1.5 µs and ~330 bytes of garbage per request on the serving path, docs/performance.md "Serving"). Here a caller
 * holds its series (labels fixed once) and an observation is a binary search and three additions. The registry reads
 * it like any prom-client metric (`get()` returns prom-client's shape: cumulative `_bucket` values with `le`, then
 * `_sum` and `_count`), so the text exposition, `getSingleMetric(name).get()` and `resetMetrics()` are unchanged.
 */
import type { Metric, Registry } from 'prom-client';

/** One label set's counts. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot counts values above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    // The first bound ≥ value (prom-client's `le` buckets), by binary search.
    const bounds = this.bounds;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((bounds[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo] = (this.counts[lo] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

interface HistogramValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export interface SeriesHistogramOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  buckets: readonly number[];
  registers: Registry[];
}

export class SeriesHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  private readonly bounds: Float64Array;
  private readonly series = new Map<string, HistogramSeries>();

  constructor(options: SeriesHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.bounds = Float64Array.from([...options.buckets].sort((a, b) => a - b));
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels` (every label name given, as prom-client requires), made on first use. */
  seriesOf(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = this.keyOf(labels);
    let series = this.series.get(key);
    if (!series) {
      for (const name of Object.keys(labels)) {
        if (!this.labelNames.includes(name))
          throw new Error(`Added label "${name}" is not included in initial labelset`);
      }
      this.series.set(key, (series = new HistogramSeries({ ...labels }, this.bounds)));
    }
    return series;
  }

  observe(labels: Readonly<Record<string, string>>, value: number): void {
    this.seriesOf(labels).observe(value);
  }

  /** Zeroes every series (Registry.resetMetrics): series held by callers stay the ones exported. */
  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  private keyOf(labels: Readonly<Record<string, string>>): string {
    return this.labelNames.map((name) => labels[name] ?? '').join('\0');
  }

  /** What prom-client's Histogram.get() returns, for the registry. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += series.counts[i] as number;
        values.push({
          value: cumulative,
          labels: { le: this.bounds[i] as number, ...series.labels },
          metricName: bucket,
        });
      }
      values.push({ value: series.count, labels: { le: '+Inf', ...series.labels }, metricName: bucket });
      values.push({ value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` });
      values.push({ value: series.count, labels: { ...series.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
