/**
 * The server's Prometheus metrics. Names are TF Serving's exported forms (spec §3.4: the TF monitoring name with
 * every character outside [a-zA-Z0-9_] turned into ':'); colons are legal in Prometheus metric names, so dashboards
 * written for TF Serving keep working. Metrics TF Serving lacks are prefixed `flowserve_`.
 * Latencies in TF-named metrics are in microseconds, as TF Serving exports them.
 */
import { basename } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { VersionState } from '../core/types.js';
import { SeriesHistogram, type HistogramSeries } from './series-histogram.js';

/** TF Serving's latency buckets: exponential, scale 10 µs, factor 1.8, 33 bounds. */
export const LATENCY_BUCKETS_MICROS: readonly number[] = Array.from({ length: 33 }, (_, i) =>
  Number((10 * 1.8 ** i).toPrecision(6)),
);

const BATCH_SIZE_BUCKETS = Array.from({ length: 15 }, (_, i) => 2 ** i);

/** ModelVersionStatus.State numbers, exported as the value of the version state gauge. */
export const STATE_CODES: Record<VersionState, number> = {
  START: 10,
  LOADING: 20,
  AVAILABLE: 30,
  UNLOADING: 40,
  END: 50,
};

export interface RequestRecord {
  model: string;
  /** Empty when the request never resolved to a version. */
  version?: number | string;
  /** Predict / Classify / Regress / GetModelMetadata / GetModelStatus / … */
  api: string;
  entrypoint?: 'GRPC' | 'REST';
  /** TF Serving's API (v1, the default) or the Open Inference Protocol (v2). */
  protocol?: 'v1' | 'v2';
  /** TF error code name: OK, NOT_FOUND, INVALID_ARGUMENT, … */
  status: string;
  latencySeconds: number;
}

/** One batch queue's depth, as its scheduler last reported it. */
export interface QueueDepthCell {
  readonly labels: Readonly<Record<'model_name' | 'version' | 'signature', string>>;
  depth: number;
}

/** Counts one model's batches in the batch histograms. */
export interface BatchObserver {
  observe(batch: BatchRecord): void;
}

/** One batch, as its scheduler reports it. */
export interface BatchRecord {
  /** Examples in the batch before padding. */
  inputSize: number;
  /** Examples actually computed (after padding up to an allowed size). */
  processedSize: number;
  queuingSeconds: number;
}

/** One flowserve_requests_total series: its label objects, made once, and the requests not yet handed over. */
interface RequestSeries {
  /** Its key in ServingMetrics.requestSeries. */
  key: string;
  /** "model\0version" when the request resolved to a version (forgetVersion removes the series with it). */
  versionKey: string | undefined;
  /** :tensorflow:serving:request_count's labels. */
  countLabels: Record<string, string>;
  /** flowserve_requests_total's labels. */
  labels: Record<string, string>;
  /** :tensorflow:serving:request_latency's labels. */
  latencyLabels: Record<string, string>;
  /** Its :tensorflow:serving:request_latency series, made at its first successful request (only those are timed). */
  latency: HistogramSeries | undefined;
  /** Requests counted here and not yet added to the two counters. */
  pending: number;
  /** The record it was made for (what `recordRequest` compares the next record with). */
  record: Omit<RequestRecord, 'latencySeconds'>;
}

/**
 * The `model_name` label of requests for a model that is not configured. Request labels come only from the
 * configured model list, so a client sending random names cannot grow the number of series.
 */
export const UNKNOWN_MODEL_LABEL = '(unknown)';

/**
 * Cardinality is bounded by what the operator configures, never by what clients send:
 * - `model_name` of a request is a configured name or UNKNOWN_MODEL_LABEL;
 * - `version` is one that was loaded, and its series are removed when the version ends (forgetVersion), so hot
 *   swaps do not accumulate series;
 * - API, entrypoint, protocol and status are fixed sets (method names, GRPC/REST, v1/v2, error code names): the
 *   protocol label is 'v2' only when the adapter says exactly that, else 'v1'.
 */
export class ServingMetrics {
  readonly registry: Registry;
  private configuredModels = new Set<string>();
  /** Every request series seen, by its label values (bounded as the labels are: see the class comment). */
  private readonly requestSeries = new Map<string, RequestSeries>();
  /** Request series per "model\0version", so forgetVersion can remove them. */
  private readonly versionedRequestSeries = new Map<string, Set<RequestSeries>>();
  /** The runtime_latency series of the last run (consecutive runs usually share it). */
  private lastRuntime: { model: string; api: string; series: HistogramSeries } | undefined;
  /** The series of the last request: consecutive requests usually share it, and then no key is built. */
  private lastSeries: RequestSeries | undefined;
  /** runtime_latency's series per "model\0API". */
  private readonly runtimeSeries = new Map<string, HistogramSeries>();
  /** Version directories with load or warmup series (model_path labels), and their model. */
  private readonly versionPaths = new Map<string, string>();
  private readonly warmupStatuses = new Set<string>();
  /**
   * Each batch queue's depth per "model\0version", then per signature: written by its scheduler once a turn, handed
   * to the gauge when it is read. Set with labels on every turn, and the batch histograms' series looked up by labels
   * once a batch, these took about 2.4 µs a request in a profile of the MNIST softmax's batching server
   * (docs/performance.md, "Round 18").
   */
  private readonly queueDepths = new Map<string, Map<string, QueueDepthCell>>();
  private readonly requestCount: Counter;
  private readonly requests: Counter;
  private readonly requestLatency: SeriesHistogram;
  private readonly runtimeLatency: SeriesHistogram;
  private readonly inputBatchSize: SeriesHistogram;
  private readonly processedBatchSize: SeriesHistogram;
  private readonly paddingSize: SeriesHistogram;
  private readonly queuingLatency: SeriesHistogram;
  private readonly queueDepth: Gauge;
  private readonly loadAttempts: Counter;
  private readonly loadLatency: Counter;
  private readonly loadSeconds: Histogram;
  private readonly warmupLatency: Histogram;
  private readonly versionState: Gauge;
  private readonly droppedAtDeadline: Counter;
  private readonly workers: Gauge;
  private readonly workerRestarts: Counter;
  /** Reads the worker pool's state when the workers gauge is collected (scrape or dashboard sample). */
  private workerState: (() => { busy: number; idle: number }) | undefined;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    // Requests are counted in their RequestSeries and handed to prom-client when the counters are read.
    const flush = () => this.flushRequestCounts();
    this.requestCount = new Counter({
      name: ':tensorflow:serving:request_count',
      help: 'Predict/Classify/Regress requests by model and status',
      labelNames: ['model_name', 'status'],
      registers,
      collect: flush,
    });
    this.requests = new Counter({
      name: 'flowserve_requests_total',
      help: 'Requests by model, version, API, entrypoint, protocol (v1 TF Serving, v2 Open Inference) and status',
      labelNames: ['model_name', 'version', 'API', 'entrypoint', 'protocol', 'status'],
      registers,
      collect: flush,
    });
    // The two histograms every request observes count in series the callers hold (series-histogram.ts).
    this.requestLatency = new SeriesHistogram({
      name: ':tensorflow:serving:request_latency',
      help: 'Latency of successful requests in microseconds',
      labelNames: ['model_name', 'API', 'entrypoint', 'protocol'],
      buckets: [...LATENCY_BUCKETS_MICROS],
      registers,
    });
    this.runtimeLatency = new SeriesHistogram({
      name: ':tensorflow:serving:runtime_latency',
      help: 'Time inside the model run in microseconds',
      labelNames: ['model_name', 'API', 'runtime'],
      buckets: [...LATENCY_BUCKETS_MICROS],
      registers,
    });
    // Observed once a batch, on the event loop (series-histogram.ts): prom-client's observe took ~1.9 µs a request of
    // the MNIST softmax's batches of ~11 rows (docs/performance.md, "Round 14").
    this.inputBatchSize = new SeriesHistogram({
      name: ':tensorflow:serving:batching_session:input_batch_size',
      help: 'Examples per batch before padding',
      labelNames: ['model_name'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.processedBatchSize = new SeriesHistogram({
      name: ':tensorflow:serving:batching_session:processed_batch_size',
      help: 'Examples per batch as computed, padding included',
      labelNames: ['model_name'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.paddingSize = new SeriesHistogram({
      name: ':tensorflow:serving:batching_session:padding_size',
      help: 'Padding examples added to reach an allowed batch size',
      labelNames: ['model_name', 'execution_batch_size'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.queuingLatency = new SeriesHistogram({
      name: ':tensorflow:serving:batching_session:queuing_latency',
      help: 'Time a task waited in the batch queue in microseconds',
      labelNames: ['thread_pool_name'],
      buckets: [...LATENCY_BUCKETS_MICROS],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'flowserve_batch_queue_depth',
      help: 'Tasks waiting in a batch scheduler queue',
      labelNames: ['model_name', 'version', 'signature'],
      registers,
      collect: () => {
        for (const cells of this.queueDepths.values()) {
          for (const cell of cells.values()) this.queueDepth.set(cell.labels, cell.depth);
        }
      },
    });
    this.loadAttempts = new Counter({
      name: ':tensorflow:cc:saved_model:load_attempt_count',
      help: 'Model version load attempts by outcome',
      labelNames: ['model_path', 'status'],
      registers,
    });
    this.loadLatency = new Counter({
      name: ':tensorflow:cc:saved_model:load_latency',
      help: 'Total model load time in microseconds',
      labelNames: ['model_path'],
      registers,
    });
    this.loadSeconds = new Histogram({
      name: 'flowserve_model_load_seconds',
      help: 'Model version load time (ONNX session creation and warmup) in seconds',
      labelNames: ['model_name', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.warmupLatency = new Histogram({
      name: ':tensorflow:serving:model_warmup_latency',
      help: 'Warmup time of a model version in microseconds',
      labelNames: ['model_path', 'status'],
      buckets: [...LATENCY_BUCKETS_MICROS],
      registers,
    });
    this.versionState = new Gauge({
      name: 'flowserve_model_version_state',
      help: 'State of each model version (10 START, 20 LOADING, 30 AVAILABLE, 40 UNLOADING, 50 END)',
      labelNames: ['model_name', 'version'],
      registers,
    });
    this.droppedAtDeadline = new Counter({
      name: 'flowserve_requests_dropped_deadline_total',
      help: 'Requests dropped unrun because their deadline passed while they were queued',
      labelNames: ['model_name'],
      registers,
    });
    this.workers = new Gauge({
      name: 'flowserve_inference_workers',
      help: 'Inference worker threads by state: busy (a request in flight) or idle',
      labelNames: ['state'],
      registers,
      // Counted when collected, so requests pay nothing for it.
      collect: () => {
        const state = this.workerState?.();
        if (!state) return;
        this.workers.set({ state: 'busy' }, state.busy);
        this.workers.set({ state: 'idle' }, state.idle);
      },
    });
    this.workerRestarts = new Counter({
      name: 'flowserve_inference_worker_restarts_total',
      help: 'Inference worker threads started in place of one that crashed',
      registers,
    });
  }

  /** Where the workers gauge reads the pool's busy/idle counts. */
  setWorkerStateSource(source: () => { busy: number; idle: number }): void {
    this.workerState = source;
  }

  countWorkerRestart(): void {
    this.workerRestarts.inc();
  }

  /** `model` is a served model's name (the request had resolved to a version), so the label set stays bounded. */
  countDroppedAtDeadline(model: string): void {
    this.droppedAtDeadline.inc({ model_name: model });
  }

  /** The models whose names may appear as request labels (the served config). */
  setConfiguredModels(names: Iterable<string>): void {
    this.configuredModels = new Set(names);
    this.lastSeries = undefined;
  }

  /**
   * Called by the API adapters once per request. The request's series (its label objects, built once) is looked up
   * by its label values; the two counters are bumped in it and reach prom-client when they are read (a scrape, the
   * dashboard's sampler), so a request pays for a Map lookup instead of two label validations and hashes, and
   * allocates no label objects (docs/performance.md, "Serving").
   */
  recordRequest(record: RequestRecord): void {
    const last = this.lastSeries?.record;
    if (
      last &&
      last.model === record.model &&
      last.version === record.version &&
      last.api === record.api &&
      last.entrypoint === record.entrypoint &&
      last.protocol === record.protocol &&
      last.status === record.status
    ) {
      this.countIn(this.lastSeries as RequestSeries, record);
      return;
    }
    const entrypoint = record.entrypoint ?? 'GRPC';
    const known = this.configuredModels.has(record.model);
    const model = known ? record.model : UNKNOWN_MODEL_LABEL;
    const version = known ? String(record.version ?? '') : '';
    const protocol = record.protocol === 'v2' ? 'v2' : 'v1';
    const key = `${model}\0${version}\0${record.api}\0${entrypoint}\0${protocol}\0${record.status}`;
    let series = this.requestSeries.get(key);
    if (!series) {
      series = {
        key,
        versionKey: version === '' ? undefined : `${model}\0${version}`,
        countLabels: { model_name: model, status: record.status },
        labels: { model_name: model, version, API: record.api, entrypoint, protocol, status: record.status },
        latencyLabels: { model_name: model, API: record.api, entrypoint, protocol },
        latency: undefined,
        pending: 0,
        record: {
          model: record.model,
          version: record.version,
          api: record.api,
          entrypoint: record.entrypoint,
          protocol: record.protocol,
          status: record.status,
        },
      };
      this.requestSeries.set(key, series);
      if (series.versionKey !== undefined) {
        let sets = this.versionedRequestSeries.get(series.versionKey);
        if (!sets) this.versionedRequestSeries.set(series.versionKey, (sets = new Set()));
        sets.add(series);
      }
    }
    this.lastSeries = series;
    this.countIn(series, record);
  }

  private countIn(series: RequestSeries, record: RequestRecord): void {
    series.pending++;
    if (record.status !== 'OK') return;
    series.latency ??= this.requestLatency.seriesOf(series.latencyLabels);
    series.latency.observe(record.latencySeconds * 1e6);
  }

  /** Hands the requests counted since the last read to prom-client's two request counters. */
  private flushRequestCounts(): void {
    for (const series of this.requestSeries.values()) {
      if (series.pending === 0) continue;
      this.requestCount.inc(series.countLabels, series.pending);
      this.requests.inc(series.labels, series.pending);
      series.pending = 0;
    }
  }

  /** Removes every series labelled with this version (called when the version reaches END). */
  forgetVersion(model: string, version: number): void {
    const key = `${model}\0${version}`;
    // request_count (by model and status) outlives the version: its counts are handed over before the series goes.
    this.flushRequestCounts();
    this.lastSeries = undefined;
    for (const series of this.versionedRequestSeries.get(key) ?? []) {
      this.requests.remove(series.labels);
      this.requestSeries.delete(series.key);
    }
    this.versionedRequestSeries.delete(key);
    this.versionState.remove({ model_name: model, version: String(version) });
    for (const cell of this.queueDepths.get(key)?.values() ?? []) this.queueDepth.remove(cell.labels);
    this.queueDepths.delete(key);
    // TF Serving's load and warmup metrics are labelled by the version's directory (`<base>/<version>`).
    // A version's warmup runs inside its load, so every such path is known here once the load is recorded.
    for (const [path, pathModel] of this.versionPaths) {
      if (pathModel !== model || Number(basename(path)) !== version) continue;
      for (const status of ['success', 'fail']) this.loadAttempts.remove({ model_path: path, status });
      this.loadLatency.remove({ model_path: path });
      for (const status of this.warmupStatuses) this.warmupLatency.remove({ model_path: path, status });
      this.versionPaths.delete(path);
    }
  }

  observeRuntime(model: string, api: string, seconds: number): void {
    const last = this.lastRuntime;
    let series = last && last.model === model && last.api === api ? last.series : undefined;
    if (!series) {
      const key = `${model}\0${api}`;
      series = this.runtimeSeries.get(key);
      if (!series) {
        series = this.runtimeLatency.seriesOf({ model_name: model, API: api, runtime: 'ONNXRuntime' });
        this.runtimeSeries.set(key, series);
      }
      this.lastRuntime = { model, api, series };
    }
    series.observe(seconds * 1e6);
  }

  /**
   * The batch histograms' series of one model's batches, held by its scheduler so that a batch is counted without
   * building label keys (series-histogram.ts).
   */
  batchObserver(model: string, threadPoolName: string): BatchObserver {
    const input = this.inputBatchSize.seriesOf({ model_name: model });
    const processed = this.processedBatchSize.seriesOf({ model_name: model });
    const queuing = this.queuingLatency.seriesOf({ thread_pool_name: threadPoolName });
    const padding = new Map<number, HistogramSeries>();
    return {
      observe: ({ inputSize, processedSize, queuingSeconds }) => {
        input.observe(inputSize);
        processed.observe(processedSize);
        let paddingSeries = padding.get(processedSize);
        if (!paddingSeries) {
          paddingSeries = this.paddingSize.seriesOf({ model_name: model, execution_batch_size: String(processedSize) });
          padding.set(processedSize, paddingSeries);
        }
        paddingSeries.observe(processedSize - inputSize);
        queuing.observe(queuingSeconds * 1e6);
      },
    };
  }

  /** Where a batch scheduler writes its queue's depth (read when the gauge is collected); forgetVersion drops it. */
  queueDepthCell(model: string, version: number, signature: string): QueueDepthCell {
    const key = `${model}\0${version}`;
    let cells = this.queueDepths.get(key);
    if (!cells) this.queueDepths.set(key, (cells = new Map()));
    let cell = cells.get(signature);
    if (!cell) {
      cell = { labels: { model_name: model, version: String(version), signature }, depth: 0 };
      cells.set(signature, cell);
    }
    return cell;
  }

  recordLoad(model: string, modelPath: string, ok: boolean, seconds: number): void {
    this.versionPaths.set(modelPath, model);
    this.loadAttempts.inc({ model_path: modelPath, status: ok ? 'success' : 'fail' });
    if (ok) this.loadLatency.inc({ model_path: modelPath }, seconds * 1e6);
    this.loadSeconds.observe({ model_name: model, status: ok ? 'OK' : 'ERROR' }, seconds);
  }

  observeWarmup(modelPath: string, status: string, seconds: number): void {
    this.warmupStatuses.add(status);
    this.warmupLatency.observe({ model_path: modelPath, status }, seconds * 1e6);
  }

  setVersionState(model: string, version: number, state: VersionState): void {
    this.versionState.set({ model_name: model, version: String(version) }, STATE_CODES[state]);
  }

  /** Prometheus text exposition (what the REST adapter serves on the monitoring path). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
