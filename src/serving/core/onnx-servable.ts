/**
 * A loaded version backed by an ONNX model in the worker pool. With batching on, each batchable signature gets its
 * own BatchScheduler (TF Serving batches per signature); a batch always fetches every output of the signature and
 * each request then keeps the outputs it asked for.
 *
 * Statistics (Triton's extension): a request that carries a RequestTiming gets its stage times; a batched one counts
 * its rows as items, one run alone counts 1. Each execution that served such a request is reported to `statistics`:
 * a batch with its rows, a request run alone as batch size 1 (Triton's way for models that do not batch), so the
 * batch sizes reported stay within max_batch_size.
 *
 * An imported model whose signatures update variables (signature `state`) keeps their values here, per loaded
 * version: every run feeds the values it has, and a signature that updates them runs alone (a chain), storing the
 * new values before the next one starts, so no two runs update from the same old value. Such signatures are never
 * batched: one run of a merged batch would update once for all its requests.
 */
import type { DType } from '../../graph/dtype.js';
import { HostTensor } from '../../graph/host-tensor.js';
import { padsToAllowedSizes, type BatchingParameters } from '../config/batching-parameters.js';
import { BatchScheduler, type TensorMap } from '../batching/batch-scheduler.js';
import type { ServingMetrics } from '../metrics/serving-metrics.js';
import type { RequestTiming, StageTimes } from '../run-timing.js';
import { isLoneCall } from '../worker/client-connection.js';
import type { PooledModel, RunOptions } from '../worker/worker-pool.js';
import {
  CALIBRATION_ROWS,
  calibrationFeeds,
  calibrationPlan,
  decideChunkedRuns,
  describeDecision,
  whyNotChunkable,
  type ChunkedRunsDecision,
} from './chunked-runs.js';
import type { GraphSummarySource } from './graph-summary.js';
import type { Servable, ServableDescription, ServableFormat, ServableRunOptions } from './servable.js';
import type { VersionSignatures } from './signatures.js';
import type { Log } from './storage-path-source.js';
import { METHOD_CLASSIFY, METHOD_REGRESS, type Signature } from './types.js';

export interface OnnxServableOptions {
  modelName: string;
  version: number;
  model: PooledModel;
  signatures: VersionSignatures;
  batching?: BatchingParameters;
  metrics?: ServingMetrics;
  /** Triton's platform name of the model's format (ServableDescription.platform). */
  platform: string;
  format?: ServableFormat;
  graph?: GraphSummarySource;
  /** Receives every execution that served a timed request. */
  statistics?: ExecutionRecorder;
  log?: Log;
  /** The starting value of every state input (STATE_FILE), when signatures update variables. */
  initialState?: TensorMap;
}

export interface ChunkedRunsCalibrationOptions {
  /**
   * Replaces the measured times (tests: the decision without timing): ns per example of the calibration batch run
   * in chunks of `rows` rows (`rows` = the whole batch for the whole run). Whether outputs match is still measured.
   */
  costs?: (rows: number) => number;
}

/** What the worker pool's queueing needs of a request: its deadline and the connection it came on. */
type QueueHints = Pick<ServableRunOptions, 'deadline' | 'connection'> & {
  /** The run is a batch the scheduler merged (RunOptions.batched). */
  batched?: boolean;
  /** The batch is a lone call's, sent at once (RunOptions.lone). */
  lone?: boolean;
};

/** What a run of one signature fetches for one list of output aliases (OnnxServable.plan). */
interface RunPlan {
  /** The ONNX name of each requested alias, in the request's order. */
  outputNames: string[];
  /** The distinct ONNX names among them. */
  fetches: string[];
  /** Outputs holding the new values of variables (signatures that update state). */
  stateFetches: string[];
  /** Some fetch names a graph input (an identity signature): which to fetch then depends on the feeds. */
  fetchesFeeds: boolean;
  /** What ORT fetches when no fetch names a feed: the fetches and the state's outputs. */
  graphFetches: string[];
}

/** Output lists remembered per signature (a client asking every subset of many outputs cannot grow the map). */
const MAX_PLANS = 64;

export interface ExecutionRecorder {
  /** `batchSize`: the execution's rows from a batch scheduler; 1 for a request run alone. */
  recordExecution(modelName: string, version: number, batchSize: number, times: StageTimes): void;
}

/** TF Serving's API label for the runtime latency metric. */
function apiOf(signature: Signature): string {
  if (signature.method === METHOD_CLASSIFY) return 'Classify';
  if (signature.method === METHOD_REGRESS) return 'Regress';
  return 'Predict';
}

/** Batching needs dim 0 of every input to be the (free) batch dimension. */
export function isBatchable(signature: Signature): boolean {
  const inputs = Object.values(signature.inputs);
  return inputs.length > 0 && inputs.every((spec) => spec.shape.length >= 1 && spec.shape[0] === -1);
}

export class OnnxServable implements Servable {
  readonly signatures: Readonly<Record<string, Signature>>;
  readonly defaultSignature: string;
  readonly description: ServableDescription;
  private readonly schedulers = new Map<string, BatchScheduler>();
  /** ONNX input name → the variable's current value, fed to every run. */
  private readonly state: Map<string, HostTensor>;
  /** Runs of signatures that update state, one after the other. */
  private stateChain: Promise<unknown> = Promise.resolve();
  /** Per signature: the fetches of each output list requested so far (`plan`). */
  private readonly plans = new Map<Signature, Map<string, RunPlan>>();
  /** Signatures whose larger batches run in chunks of this many rows (calibrateChunkedRuns). */
  private readonly chunkRows = new Map<Signature, number>();

  constructor(private readonly options: OnnxServableOptions) {
    this.signatures = options.signatures.signatures;
    this.defaultSignature = options.signatures.defaultSignature;
    this.description = {
      platform: options.platform,
      device: options.model.device,
      instances: options.model.replicaCount,
      ...(options.format ? { format: options.format } : {}),
      ...(options.graph ? { graph: options.graph } : {}),
    };
    this.state = new Map(Object.entries(options.initialState ?? {}));
    const stateful = Object.entries(this.signatures).filter(([, sig]) => sig.state?.length);
    if (options.batching && stateful.length > 0) {
      options.log?.(
        'info',
        `model '${options.modelName}' version ${options.version}: signature${stateful.length === 1 ? '' : 's'} ` +
          `${stateful.map(([key]) => `'${key}'`).join(', ')} update variables and are not batched ` +
          `(each request runs alone, in arrival order)`,
      );
    }
  }

  async run(
    signatureName: string,
    inputs: TensorMap,
    outputAliases: readonly string[],
    options: ServableRunOptions = {},
  ): Promise<TensorMap> {
    const signature = this.signatures[signatureName] as Signature;
    const scheduler = this.scheduler(signatureName, signature);
    const timing = options.timing;
    if (!scheduler) return this.runAlone(signature, inputs, outputAliases, options, timing);
    if (timing) timing.items = batchRows(inputs);
    const all = await scheduler.schedule(
      inputs,
      options.deadline,
      timing,
      options.inputsOwned ?? false,
      isLoneCall(options.connection),
    );
    const picked: TensorMap = {};
    for (const alias of outputAliases) picked[alias] = all[alias] as HostTensor;
    return picked;
  }

  /**
   * Decides, per signature, whether larger batches run in chunks (chunked-runs.ts): measured in one worker, once per
   * loaded version, after warm-up. Each decision is logged and listed in the description.
   */
  async calibrateChunkedRuns(options: ChunkedRunsCalibrationOptions = {}): Promise<ChunkedRunsDecision[]> {
    const { model, modelName, version, log } = this.options;
    const graphInputs = model.inputs.map((i) => i.name);
    const byFeedsAndFetches = new Map<string, ChunkedRunsDecision>();
    const decisions: ChunkedRunsDecision[] = [];
    for (const [name, signature] of Object.entries(this.signatures)) {
      const why = model.device === 'cpu' ? whyNotChunkable(signature, graphInputs) : `it runs on the ${model.device}`;
      if (why !== undefined) {
        decisions.push({ signature: name, reason: why });
        continue;
      }
      const fetches = [...new Set(Object.values(signature.outputs).map((o) => o.name))];
      const key = JSON.stringify([Object.values(signature.inputs).map((i) => i.name), fetches]);
      const same = byFeedsAndFetches.get(key);
      const decision = same ? { ...same, signature: name } : await this.calibrate(name, signature, fetches, options);
      byFeedsAndFetches.set(key, decision);
      if (decision.chunkRows !== undefined) this.chunkRows.set(signature, decision.chunkRows);
      decisions.push(decision);
      log?.('info', `model '${modelName}' version ${version}: ${describeDecision(decision)}`);
    }
    this.description.chunkedRuns = decisions;
    return decisions;
  }

  private async calibrate(
    name: string,
    signature: Signature,
    fetches: string[],
    options: ChunkedRunsCalibrationOptions,
  ): Promise<ChunkedRunsDecision> {
    const feeds = calibrationFeeds(signature, CALIBRATION_ROWS);
    if (typeof feeds === 'string') return { signature: name, reason: `not calibrated: ${feeds}` };
    let measurement;
    try {
      measurement = await this.options.model.calibrateChunks(feeds, fetches, calibrationPlan('thread-cpu'));
    } catch (err) {
      return { signature: name, reason: `the calibration run failed: ${err instanceof Error ? err.message : err}` };
    }
    const costs = options.costs;
    if (costs) {
      measurement.wholeNs = costs(measurement.batchRows) * measurement.batchRows;
      for (const c of measurement.chunks) if (c.equal) c.ns = costs(c.rows) * measurement.batchRows;
    }
    return decideChunkedRuns(name, measurement);
  }

  private scheduler(signatureName: string, signature: Signature): BatchScheduler | undefined {
    const batching = this.options.batching;
    if (!batching || !isBatchable(signature) || signature.state?.length) return undefined;
    let scheduler = this.schedulers.get(signatureName);
    if (!scheduler) {
      const { modelName, version, metrics } = this.options;
      const allOutputs = Object.keys(signature.outputs);
      // The metrics' series are looked up once here, not once a batch.
      const batches = metrics?.batchObserver(modelName, batching.threadPoolName);
      const queueDepth = metrics?.queueDepthCell(modelName, version, signatureName);
      scheduler = new BatchScheduler(
        // Padding to allowed_batch_sizes pays only where a run's shape matters (batching-parameters.ts, BatchPadding).
        {
          ...batching,
          padToAllowedSizes: padsToAllowedSizes(batching, this.options.model.device),
          parallelRuns: (elements) => this.options.model.parallelBatchRuns(elements),
        },
        (merged, deadline, timing, owned, lone, apart) =>
          this.runDirect(signature, merged, allOutputs, owned ?? true, { deadline, batched: !apart, lone }, timing),
        {
          onBatch: (stats) => batches?.observe(stats),
          onQueueDepth: (depth) => {
            if (queueDepth) queueDepth.depth = depth;
          },
          onExecution: (rows, times) => this.options.statistics?.recordExecution(modelName, version, rows, times),
        },
      );
      this.schedulers.set(signatureName, scheduler);
    }
    return scheduler;
  }

  /** A request that is not batched: one execution of its own (batch size 1 in the statistics). */
  private async runAlone(
    signature: Signature,
    inputs: TensorMap,
    outputAliases: readonly string[],
    options: ServableRunOptions,
    timing: RequestTiming | undefined,
  ): Promise<TensorMap> {
    const owned = options.inputsOwned ?? false;
    if (!timing) return this.runDirect(signature, inputs, outputAliases, owned, options);
    // The request's timing is zeroed by its caller and filled here alone: the run writes its stages straight into it.
    const outputs = await this.runDirect(signature, inputs, outputAliases, owned, options, timing);
    timing.items = 1;
    this.options.statistics?.recordExecution(this.options.modelName, this.options.version, 1, timing);
    return outputs;
  }

  /**
   * One ORT run; a signature that updates state waits for the previous such run and stores its new values.
   * `timing` (optional) gets the run's stage times.
   */
  private runDirect(
    signature: Signature,
    inputs: TensorMap,
    outputAliases: readonly string[],
    owned: boolean,
    queue: QueueHints,
    timing?: StageTimes,
  ): Promise<TensorMap> {
    const updates = signature.state ?? [];
    if (updates.length === 0) return this.runOnce(signature, inputs, outputAliases, owned, queue, timing);
    const run = this.stateChain.then(() =>
      this.runOnce(signature, inputs, outputAliases, owned, queue, timing, (results) => {
        for (const { input, output } of updates) this.state.set(input, results[output] as HostTensor);
      }),
    );
    // A failed run leaves the state as it was, and the next run goes on.
    this.stateChain = run.catch(() => undefined);
    return run;
  }

  /** One ORT run in a worker: aliases → ONNX names and back. `owned` = the tensors may be moved to the worker. */
  private async runOnce(
    signature: Signature,
    inputs: TensorMap,
    outputAliases: readonly string[],
    owned: boolean,
    queue: QueueHints,
    timing?: StageTimes,
    storeState?: (results: TensorMap) => void,
  ): Promise<TensorMap> {
    const feeds: TensorMap = {};
    for (const alias in inputs) feeds[signature.inputs[alias]?.name ?? alias] = inputs[alias] as HostTensor;
    for (const [input, value] of this.state) feeds[input] = value;
    // ORT wants every graph input fed, even one only another signature reads (an imported SavedModel's x2 for
    // regress_x2_to_y3 while serving_default runs): those get a placeholder value that no fetched output reads.
    for (const info of this.options.model.inputs) {
      if (!(info.name in feeds) && info.dtype) feeds[info.name] = unreadInput(info.dtype, info.shape);
    }
    const plan = this.plan(signature, outputAliases);
    // An output that is also a graph input (identity signatures) is answered from the feeds: ORT cannot fetch inputs.
    const graphFetches = plan.fetchesFeeds
      ? [...new Set([...plan.fetches.filter((name) => !(name in feeds)), ...plan.stateFetches])]
      : plan.graphFetches;
    const startedAt = performance.now();
    const chunkRows = this.chunkRows.get(signature);
    let results: TensorMap = {};
    if (graphFetches.length > 0) {
      const runOptions: RunOptions = {
        // The state's buffers stay here for the next run: they are copied to the worker, never moved.
        transferInputs: owned && this.state.size === 0 && graphFetches.length === plan.fetches.length,
        deadline: queue.deadline,
      };
      if (queue.connection) runOptions.connection = queue.connection;
      if (queue.batched) runOptions.batched = true;
      if (queue.lone) runOptions.lone = true;
      if (chunkRows !== undefined && batchRows(inputs) > chunkRows) runOptions.chunkRows = chunkRows;
      if (timing) runOptions.timing = timing;
      results = await this.options.model.run(feeds, graphFetches, runOptions);
    }
    storeState?.(results);
    this.options.metrics?.observeRuntime(
      this.options.modelName,
      apiOf(signature),
      (performance.now() - startedAt) / 1000,
    );
    const outputs: TensorMap = {};
    for (let i = 0; i < outputAliases.length; i++) {
      const name = plan.outputNames[i] as string;
      outputs[outputAliases[i] as string] = (results[name] ?? feeds[name]) as HostTensor;
    }
    return outputs;
  }

  /**
   * The ONNX names a run of `signature` fetches for `outputAliases`, worked out once per signature and output list
   * (every request of the same shape reuses them; at most MAX_PLANS lists per signature are kept).
   */
  private plan(signature: Signature, outputAliases: readonly string[]): RunPlan {
    let plans = this.plans.get(signature);
    if (!plans) this.plans.set(signature, (plans = new Map()));
    const key = outputAliases.length === 1 ? (outputAliases[0] as string) : outputAliases.join('\0');
    const known = plans.get(key);
    if (known) return known;
    const outputNames = outputAliases.map((alias) => signature.outputs[alias]?.name ?? alias);
    const fetches = [...new Set(outputNames)];
    const stateFetches = (signature.state ?? []).map((v) => v.output);
    const feedNames = new Set([
      ...Object.entries(signature.inputs).map(([alias, spec]) => spec.name ?? alias),
      ...this.state.keys(),
      ...(signature.state ?? []).map((v) => v.input),
      ...this.options.model.inputs.map((info) => info.name),
    ]);
    const plan: RunPlan = {
      outputNames,
      fetches,
      stateFetches,
      fetchesFeeds: fetches.some((name) => feedNames.has(name)),
      graphFetches: [...new Set([...fetches, ...stateFetches])],
    };
    if (plans.size < MAX_PLANS) plans.set(key, plan);
    return plan;
  }

  async unload(): Promise<void> {
    await Promise.all([...this.schedulers.values()].map((s) => s.close()));
    await this.options.model.unload();
  }
}

/** Dim 0 shared by a batchable request's inputs (1 for scalars, which the scheduler runs alone). */
function batchRows(inputs: TensorMap): number {
  for (const tensor of Object.values(inputs)) return tensor.rank === 0 ? 1 : (tensor.shape[0] as number);
  return 1;
}

/** The smallest value ORT accepts for an input nothing fetched reads: unknown dims 0, a scalar when undeclared. */
function unreadInput(dtype: DType, shape: readonly number[]): HostTensor {
  return HostTensor.zeros(
    dtype,
    shape.map((d) => (d < 0 ? 0 : d)),
  );
}
