/**
 * The dashboard's live figures, sampled from the SAME prom-client metrics that /monitoring/prometheus/metrics
 * exposes (src/serving/metrics/serving-metrics.ts) on a timer: requests never do any work for the dashboard.
 * Every `intervalMs` (unref'd, so it never keeps the process alive) each metric is read once and compared with the
 * previous reading; the per-interval rates and latency percentiles go into fixed-size rings of `samples` entries.
 *
 * - requests/s and errors/s: increases of flowserve_requests_total (status OK vs the rest) by model, entrypoint
 *   and protocol, summed over version and API. Series a version's end removes count from the next reading on.
 * - p50/p99: from the increases of :tensorflow:serving:request_latency's buckets (successful requests, µs), as
 *   Prometheus's histogram_quantile estimates them (linear within a bucket).
 * - batch sizes: the increase of :tensorflow:serving:batching_session:input_batch_size over the window.
 * - queue depth: flowserve_batch_queue_depth now; workers: flowserve_inference_workers and
 *   flowserve_inference_worker_restarts_total now.
 */
import type { MetricObjectWithValues, MetricValue, MetricValueWithName, Registry } from 'prom-client';
import type { DashboardSeries, DashboardStats } from './api-types.js';

export const REQUESTS_METRIC = 'flowserve_requests_total';
export const LATENCY_METRIC = ':tensorflow:serving:request_latency';
export const BATCH_SIZE_METRIC = ':tensorflow:serving:batching_session:input_batch_size';
export const QUEUE_DEPTH_METRIC = 'flowserve_batch_queue_depth';
export const WORKERS_METRIC = 'flowserve_inference_workers';
export const WORKER_RESTARTS_METRIC = 'flowserve_inference_worker_restarts_total';

type Labels = Record<string, string | number | undefined>;
type Values = (MetricValue<string> | MetricValueWithName<string>)[];

/** Cumulative bucket counts by upper bound (µs for latency), ascending; +Inf last. */
type Buckets = Map<number, number>;

interface Reading {
  /** Cumulative requests per labels key ("model\0entrypoint\0protocol\0status\0version\0API"). */
  requests: Map<string, number>;
  /** Cumulative latency buckets per full label set key (model, API, entrypoint, protocol). */
  latency: Map<string, Buckets>;
  /** Cumulative batch-size buckets per model. */
  batchSizes: Map<string, Buckets>;
}

interface SeriesRing {
  model: string;
  entrypoint: string;
  protocol: string;
  requests: number[];
  errors: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}

export interface StatsSamplerOptions {
  intervalMs: number;
  samples: number;
}

const SEP = '\0';

function labelText(labels: Labels, name: string): string {
  const value = labels[name];
  return value === undefined ? '' : String(value);
}

async function metricValues(registry: Registry, name: string): Promise<Values> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()) as MetricObjectWithValues<MetricValue<string>>).values as Values;
}

/** Bucket readings of a histogram, grouped by `keyOf` of each bucket's labels (without `le`). */
function bucketsBy(values: Values, keyOf: (labels: Labels) => string): Map<string, Buckets> {
  const grouped = new Map<string, Buckets>();
  for (const v of values) {
    if (!('metricName' in v) || !v.metricName?.endsWith('_bucket')) continue;
    const labels = v.labels as Labels;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    const key = keyOf(labels);
    let buckets = grouped.get(key);
    if (!buckets) grouped.set(key, (buckets = new Map()));
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  return grouped;
}

/** The increase of each bucket from `before` to `now` (a series that restarted counts from zero). */
function bucketIncrease(now: Buckets, before: Buckets | undefined): Buckets {
  const increase: Buckets = new Map();
  const inf = now.get(Infinity) ?? 0;
  const reset = before !== undefined && (before.get(Infinity) ?? 0) > inf;
  for (const [le, count] of now)
    increase.set(le, reset || !before ? count : Math.max(0, count - (before.get(le) ?? 0)));
  return increase;
}

function addBuckets(into: Buckets, more: Buckets): void {
  for (const [le, count] of more) into.set(le, (into.get(le) ?? 0) + count);
}

/**
 * Prometheus's histogram_quantile over cumulative buckets: the rank q·total falls in the first bucket whose count
 * reaches it, and is placed linearly between that bucket's lower and upper bounds. In the +Inf bucket: the highest
 * finite bound. Null when there were no observations.
 */
export function histogramQuantile(q: number, cumulative: Buckets): number | null {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? (bounds.length ? (cumulative.get(bounds[bounds.length - 1]!) ?? 0) : 0);
  if (!(total > 0)) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const count = cumulative.get(le) ?? 0;
    if (count >= rank) {
      if (le === Infinity) return lower;
      const inBucket = count - below;
      return inBucket > 0 ? lower + (le - lower) * ((rank - below) / inBucket) : le;
    }
    lower = le;
    below = count;
  }
  return lower;
}

export class StatsSampler {
  private readonly timestamps: number[] = [];
  private readonly series = new Map<string, SeriesRing>();
  /** Window batch-size buckets: one cumulative reading per kept sample, oldest first. */
  private readonly batchReadings: Map<string, Buckets>[] = [];
  private previous: Reading | undefined;
  private queues: DashboardStats['queues'] = [];
  private workers: DashboardStats['workers'] = null;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private readonly listeners = new Set<(stats: DashboardStats) => void>();

  constructor(
    private readonly registry: Registry,
    private readonly options: StatsSamplerOptions,
  ) {}

  /** Starts the timer (idempotent); the first reading is the baseline. */
  start(): void {
    if (this.timer) return;
    this.sampling = this.sample();
    this.timer = setInterval(() => {
      this.sampling = this.sample();
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  /** Called with the newest sample after each interval (what the live stream sends). */
  onSample(listener: (stats: DashboardStats) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes one sample now (tests; the timer calls it too). */
  async sample(now = Date.now()): Promise<void> {
    await this.sampling?.catch(() => undefined);
    const [requestValues, latencyValues, batchValues, queueValues, workerValues, restartValues] = await Promise.all(
      [
        REQUESTS_METRIC,
        LATENCY_METRIC,
        BATCH_SIZE_METRIC,
        QUEUE_DEPTH_METRIC,
        WORKERS_METRIC,
        WORKER_RESTARTS_METRIC,
      ].map((name) => metricValues(this.registry, name)),
    );
    const reading: Reading = {
      requests: new Map(
        (requestValues ?? []).map((v) => {
          const l = v.labels as Labels;
          const key = ['model_name', 'entrypoint', 'protocol', 'status', 'version', 'API'].map((n) => labelText(l, n));
          return [key.join(SEP), v.value];
        }),
      ),
      latency: bucketsBy(latencyValues ?? [], (l) =>
        ['model_name', 'entrypoint', 'protocol', 'API'].map((n) => labelText(l, n)).join(SEP),
      ),
      batchSizes: bucketsBy(batchValues ?? [], (l) => labelText(l, 'model_name')),
    };
    this.queues = (queueValues ?? [])
      .map((v) => {
        const l = v.labels as Labels;
        return {
          model: labelText(l, 'model_name'),
          version: Number(labelText(l, 'version')),
          signature: labelText(l, 'signature'),
          depth: v.value,
        };
      })
      .sort(
        (a, b) => a.model.localeCompare(b.model) || a.version - b.version || a.signature.localeCompare(b.signature),
      );
    const busy = workerValues?.find((v) => (v.labels as Labels).state === 'busy')?.value;
    const idle = workerValues?.find((v) => (v.labels as Labels).state === 'idle')?.value;
    this.workers =
      busy === undefined || idle === undefined
        ? null
        : { size: busy + idle, busy, idle, restarts: restartValues?.[0]?.value ?? 0 };
    const previous = this.previous;
    this.previous = reading;
    if (!previous) return; // the baseline: rates need two readings
    this.push(now, previous, reading);
    const newest = this.snapshot(1);
    for (const listener of this.listeners) listener(newest);
  }

  private push(now: number, before: Reading, after: Reading): void {
    const seconds = this.options.intervalMs / 1000;
    const perSeries = new Map<string, { requests: number; errors: number; latency: Buckets }>();
    const entry = (key: string) => {
      let e = perSeries.get(key);
      if (!e) perSeries.set(key, (e = { requests: 0, errors: 0, latency: new Map() }));
      return e;
    };
    for (const [key, count] of after.requests) {
      const previous = before.requests.get(key);
      const increase = previous === undefined || previous > count ? count : count - previous;
      const [model, entrypoint, protocol, status] = key.split(SEP) as [string, string, string, string];
      const e = entry([model, entrypoint, protocol].join(SEP));
      e.requests += increase;
      if (status !== 'OK') e.errors += increase;
    }
    for (const [key, buckets] of after.latency) {
      const [model, entrypoint, protocol] = key.split(SEP) as [string, string, string];
      addBuckets(
        entry([model, entrypoint, protocol].join(SEP)).latency,
        bucketIncrease(buckets, before.latency.get(key)),
      );
    }
    // A series seen for the first time gets zeros (no requests) for the samples before this one.
    const earlier = this.timestamps.length;
    for (const key of perSeries.keys()) {
      if (!this.series.has(key)) {
        const [model, entrypoint, protocol] = key.split(SEP) as [string, string, string];
        this.series.set(key, {
          model,
          entrypoint,
          protocol,
          requests: new Array<number>(earlier).fill(0),
          errors: new Array<number>(earlier).fill(0),
          p50: new Array<number | null>(earlier).fill(null),
          p99: new Array<number | null>(earlier).fill(null),
        });
      }
    }
    const full = this.timestamps.length >= this.options.samples;
    if (full) this.timestamps.shift();
    this.timestamps.push(now);
    for (const [key, ring] of this.series) {
      const e = perSeries.get(key);
      if (full) {
        ring.requests.shift();
        ring.errors.shift();
        ring.p50.shift();
        ring.p99.shift();
      }
      const toMs = (micros: number | null) => (micros === null ? null : micros / 1000);
      ring.requests.push((e?.requests ?? 0) / seconds);
      ring.errors.push((e?.errors ?? 0) / seconds);
      ring.p50.push(e ? toMs(histogramQuantile(0.5, e.latency)) : null);
      ring.p99.push(e ? toMs(histogramQuantile(0.99, e.latency)) : null);
      // A series with no request in the whole window goes (a removed model's line does not stay forever).
      if (ring.requests.every((r) => r === 0)) this.series.delete(key);
    }
    if (this.batchReadings.length > this.options.samples) this.batchReadings.shift();
    if (this.batchReadings.length === 0) this.batchReadings.push(before.batchSizes);
    this.batchReadings.push(after.batchSizes);
  }

  /** The window (or its newest `last` samples) in the API's shape. */
  snapshot(last = this.options.samples): DashboardStats {
    const from = Math.max(0, this.timestamps.length - last);
    const series: DashboardSeries[] = [...this.series.values()]
      .map((ring) => ({
        model: ring.model,
        entrypoint: ring.entrypoint,
        protocol: ring.protocol,
        requestsPerSecond: ring.requests.slice(from),
        errorsPerSecond: ring.errors.slice(from),
        p50LatencyMs: ring.p50.slice(from),
        p99LatencyMs: ring.p99.slice(from),
      }))
      .sort(
        (a, b) =>
          a.model.localeCompare(b.model) ||
          a.entrypoint.localeCompare(b.entrypoint) ||
          a.protocol.localeCompare(b.protocol),
      );
    return {
      intervalMs: this.options.intervalMs,
      timestamps: this.timestamps.slice(from),
      series,
      batchSizes: this.batchSizeWindow(),
      queues: this.queues.map((q) => ({ ...q })),
      workers: this.workers && { ...this.workers },
    };
  }

  private batchSizeWindow(): DashboardStats['batchSizes'] {
    const oldest = this.batchReadings[0];
    const newest = this.batchReadings[this.batchReadings.length - 1];
    if (!oldest || !newest) return [];
    const result: DashboardStats['batchSizes'] = [];
    for (const model of [...newest.keys()].sort()) {
      const increase = bucketIncrease(newest.get(model) as Buckets, oldest.get(model));
      const bounds = [...increase.keys()].sort((a, b) => a - b);
      let below = 0;
      const buckets = bounds.map((le) => {
        const cumulative = increase.get(le) ?? 0;
        const count = Math.max(0, cumulative - below);
        below = cumulative;
        return { le: le === Infinity ? null : le, count };
      });
      const batches = increase.get(Infinity) ?? 0;
      if (batches > 0) result.push({ model, buckets, batches });
    }
    return result;
  }
}
