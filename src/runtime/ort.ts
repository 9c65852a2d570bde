/**
 * The only module of the graph runtime that touches onnxruntime-node. ONNX Runtime 1.30 blocks the JavaScript
 * thread while it creates a session and while `run()` computes (spec/placement-and-lowering.md §0.1), so this
 * interface is async: a later ONNX Runtime that computes off-thread, or a worker-thread implementation, changes
 * only this module. It uses nothing but plain data, so it works inside a worker thread too.
 */
import ort from 'onnxruntime-node';
import { dtypeFromOrt, dtypeInfo, ortType, type DType, type TypedArray } from '../graph/dtype.js';
import { HostTensor } from '../graph/host-tensor.js';
import { loadNativeSession, type SyncSession } from './ort-native.js';
import { bytesOfOrtStrings, ortStringsOf } from './ort-strings.js';
import { resolveWithinTurn } from './turn-budget.js';

export interface OrtSessionOptions {
  executionProviders: string[];
  intraOpNumThreads?: number;
  /**
   * Threads that run independent ops side by side. More than 1 selects ONNX Runtime's parallel executor
   * (`executionMode: 'parallel'`); 1 or undefined keeps its sequential executor.
   */
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Let idle intra-op threads spin (lower latency for one busy session, wasted cores for many). */
  allowSpinning?: boolean;
  /** External data files for a model given as bytes (exported weights). */
  externalData?: { path: string; data: Uint8Array }[];
  /** Outputs to leave in device memory (WebGPU `gpu-buffer`) as DeviceTensors; the others come back to the host. */
  deviceOutputs?: readonly string[];
}

/**
 * A tensor left in device memory by one ONNX Runtime session (WebGPU `gpu-buffer` output) and fed to another
 * session on the same device without a copy through the host. ONNX Runtime 1.30's Node binding cannot download
 * one (`getData()` aborts the process), and it frees the buffer only on `dispose()`: the owner must dispose it.
 */
export class DeviceTensor {
  private disposed = false;

  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    /** @internal the ONNX Runtime tensor (location 'gpu-buffer'). */
    readonly ortTensor: ort.Tensor,
  ) {}

  byteLength(): number {
    return this.shape.reduce((n, d) => n * d, 1) * dtypeInfo(this.dtype).bytesPerElement;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ortTensor.dispose();
  }
}

/** A partition's input or output: in host memory, or left on the device between partitions. */
export type RuntimeTensor = HostTensor | DeviceTensor;

export interface CompiledModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** How runs reach ONNX Runtime (see ortRunner). */
  readonly runPath: OrtRunPath;
  run(feeds: Record<string, RuntimeTensor>, outputs?: readonly string[]): Promise<Record<string, RuntimeTensor>>;
  release(): Promise<void>;
}

/** ort.Tensor read once: the package's CommonJS re-export is a getter, called on every `ort.Tensor`. */
const OrtTensor = ort.Tensor;

/**
 * Host tensors are immutable once built, so the ORT view of one (variables fed on every step, above all) is made
 * once and reused.
 */
const ortViews = new WeakMap<HostTensor, ort.Tensor>();

export function toOrtTensor(t: HostTensor): ort.Tensor {
  let view = ortViews.get(t);
  if (!view) {
    // ort.Tensor wraps the typed array without copying; bool data is a Uint8Array of 0/1 as ORT expects. String
    // elements are bytes, which ORT's JavaScript API takes as strings (ort-strings.ts).
    view =
      t.dtype === 'string'
        ? new OrtTensor('string', ortStringsOf(t.data as Uint8Array[]), [...t.shape])
        : new OrtTensor(ortType(t.dtype) as 'float32', t.data as Float32Array, [...t.shape]);
    ortViews.set(t, view);
  }
  return view;
}

export function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dtype = dtypeFromOrt(t.type);
  const shape = t.dims; // numbers already; HostTensor keeps its own copy
  if (dtype === 'string') return new HostTensor(dtype, shape, bytesOfOrtStrings(t.data as string[]));
  const data = t.data as TypedArray;
  return new HostTensor(dtype, shape, dtype === 'bool' ? Uint8Array.from(data as Uint8Array) : data);
}

/**
 * Log level of a WebGPU session: errors only. ONNX Runtime deliberately runs shape arithmetic of a GPU model on the
 * CPU and warns about it (`VerifyEachNodeIsAssignedToAnEp`) on stderr at every session it creates; the kernel table
 * already decides what runs where (docs/placement.md).
 */
export function quietOnGpu(executionProviders: readonly string[]): { logSeverityLevel?: 3 } {
  return executionProviders.includes('webgpu') ? { logSeverityLevel: 3 } : {};
}

type OrtFetches = Readonly<Record<string, null>>;
/**
 * How runs reach ONNX Runtime: its native session, computed before `run` returns (CPU sessions, ort-native.ts); its
 * session handler directly; or the public `InferenceSession.run`.
 */
export type OrtRunPath = 'native' | 'handler' | 'public';
type OrtRun = (feeds: Record<string, ort.Tensor>, fetches: OrtFetches) => Promise<Record<string, unknown>>;

/** What onnxruntime-common's `InferenceSession` wraps: the backend's session handler (not public API). */
interface OrtSessionHandler {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>, fetches: OrtFetches, options: object): Promise<Record<string, unknown>>;
}

const NO_RUN_OPTIONS = Object.freeze({});

/**
 * How a run reaches ONNX Runtime. `InferenceSession.run` (onnxruntime-common 1.30) checks its arguments, builds a
 * fetch object, awaits the session handler's `run` and copies the results into a new object: at batch 1 that is
 * ≈0.6 µs of a ≈10 µs run (docs/performance.md#engine). flowserve builds feeds and fetches from the model's own
 * input and output names and checks every input itself (see `run` below), so it calls the handler directly. The
 * handler is not public API: it is used only when it looks as in 1.30 (a `run` function and the session's own
 * names), else the public `run` (test/runtime/ort.test.ts pins which one the installed ONNX Runtime gets).
 */
function ortRunner(session: ort.InferenceSession): { path: OrtRunPath; run: OrtRun } {
  const handler = (session as unknown as { handler?: Partial<OrtSessionHandler> }).handler;
  if (
    handler &&
    typeof handler.run === 'function' &&
    handler.inputNames === session.inputNames &&
    handler.outputNames === session.outputNames
  ) {
    const h = handler as OrtSessionHandler;
    return { path: 'handler', run: (feeds, fetches) => h.run(feeds, fetches, NO_RUN_OPTIONS) };
  }
  return { path: 'public', run: (feeds, fetches) => session.run(feeds, fetches as ort.InferenceSession.FetchesType) };
}

/** ONNX Runtime's results as flowserve tensors: on the host, or left in device memory. */
function fromOrtResults(result: Record<string, unknown>): Record<string, RuntimeTensor> {
  const out: Record<string, RuntimeTensor> = {};
  for (const name in result) {
    const value = result[name] as ort.Tensor;
    // The handler returns ort.Tensor objects today; a plain {type, data, dims} is wrapped as the public run does.
    const t = value instanceof OrtTensor ? value : new OrtTensor(value.type, value.data as Float32Array, value.dims);
    out[name] =
      t.location === 'gpu-buffer' ? new DeviceTensor(dtypeFromOrt(t.type), t.dims.map(Number), t) : fromOrtTensor(t);
  }
  return out;
}

/**
 * ONNX Runtime's session options for `options`. An inter-op thread count above 1 selects the parallel executor,
 * which runs independent nodes side by side; otherwise nodes run one at a time (ONNX Runtime's default).
 */
export function ortSessionOptions(options: OrtSessionOptions): ort.InferenceSession.SessionOptions {
  const spinning = options.allowSpinning === false ? '0' : '1';
  const parallel = options.interOpNumThreads !== undefined && options.interOpNumThreads > 1;
  return {
    executionProviders: options.executionProviders,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    // A session owns its own intra-op pool, and a graph lowers to one session per partition and signature: with
    // spinning threads those pools fight for the cores (spec §2.4). Idle workers sleep instead, in the parallel
    // executor's inter-op pool too.
    extra: { session: { intra_op: { allow_spinning: spinning }, inter_op: { allow_spinning: spinning } } },
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.interOpNumThreads !== undefined ? { interOpNumThreads: options.interOpNumThreads } : {}),
    ...(parallel ? { executionMode: 'parallel' as const } : {}),
    ...(options.externalData ? { externalData: options.externalData } : {}),
    ...quietOnGpu(options.executionProviders),
    ...(options.deviceOutputs?.length
      ? { preferredOutputLocation: Object.fromEntries(options.deviceOutputs.map((n) => [n, 'gpu-buffer' as const])) }
      : {}),
  };
}

/**
 * Sessions on the CPU alone run natively (ort-native.ts): ONNX Runtime's CPU run blocks the thread either way, so
 * the handler's turn of the event loop before each run buys nothing. GPU sessions keep the handler: their outputs may
 * stay in device memory, which only the public path's tensors describe.
 */
function runsNatively(options: OrtSessionOptions): boolean {
  const eps = options.executionProviders;
  return eps.length === 1 && eps[0] === 'cpu' && !options.deviceOutputs?.length;
}

/** Creates an ONNX Runtime session from model bytes or a file path. */
export async function compileModel(model: Uint8Array | string, options: OrtSessionOptions): Promise<CompiledModel> {
  const sessionOptions = ortSessionOptions(options);
  if (runsNatively(options)) {
    // Loaded from a turn of its own, as the public create does: a caller's synchronous code runs first.
    await new Promise((resolve) => setImmediate(resolve));
    const loaded = loadNativeSession(model, sessionOptions);
    if (loaded) return nativeModel(loaded);
  }
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model, sessionOptions);
  const inputNames = session.inputNames;
  const outputNames = session.outputNames;
  const { path: runPath, run: runOrt } = ortRunner(session);
  const allOutputs = allOutputsOf(outputNames);
  return {
    inputNames,
    outputNames,
    runPath,
    // Not async: ONNX Runtime's promise goes through with one `.then`, one hop fewer through the microtask queue.
    run(feeds, outputs) {
      const ortFeeds = ortFeedsOf(inputNames, feeds);
      if (ortFeeds instanceof Error) return Promise.reject(ortFeeds);
      const fetches = ortFetchesOf(outputNames, allOutputs, outputs);
      if (fetches instanceof Error) return Promise.reject(fetches);
      return runOrt(ortFeeds, fetches).then(fromOrtResults);
    },
    release: () => session.release(),
  };
}

/** A CPU session run natively: computed inside `run`, its result handed back within the turn's budget. */
function nativeModel(session: SyncSession): CompiledModel {
  const { inputNames, outputNames } = session;
  const allOutputs = allOutputsOf(outputNames);
  return {
    inputNames,
    outputNames,
    runPath: 'native',
    run(feeds, outputs) {
      const ortFeeds = ortFeedsOf(inputNames, feeds);
      if (ortFeeds instanceof Error) return Promise.reject(ortFeeds);
      const fetches = ortFetchesOf(outputNames, allOutputs, outputs);
      if (fetches instanceof Error) return Promise.reject(fetches);
      let results: Record<string, RuntimeTensor>;
      try {
        results = fromOrtResults(session.runFetching(ortFeeds, fetches));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return resolveWithinTurn(results);
    },
    release() {
      session.release();
      return Promise.resolve();
    },
  };
}

/** Every output, as the fetches ONNX Runtime takes: built once per model (ONNX Runtime only reads it). */
function allOutputsOf(outputNames: readonly string[]): OrtFetches {
  return Object.freeze(Object.fromEntries(outputNames.map((n) => [n, null])));
}

/**
 * ONNX Runtime's feeds: the model's inputs only (a partition whose variables were baked in is still handed their
 * values); an Error naming a missing input.
 */
function ortFeedsOf(
  inputNames: readonly string[],
  feeds: Record<string, RuntimeTensor>,
): Record<string, ort.Tensor> | Error {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const name of inputNames) {
    const t = feeds[name];
    if (t === undefined) return new Error(`input '${name}' is missing in 'feeds'.`);
    ortFeeds[name] = t instanceof DeviceTensor ? t.ortTensor : toOrtTensor(t);
  }
  return ortFeeds;
}

/** ONNX Runtime's fetches: `outputs`, or every output (`allOutputs`); an Error naming an unknown output. */
function ortFetchesOf(
  outputNames: readonly string[],
  allOutputs: OrtFetches,
  outputs: readonly string[] | undefined,
): OrtFetches | Error {
  if (!outputs) return allOutputs;
  const some: Record<string, null> = {};
  for (const name of outputs) {
    if (!outputNames.includes(name)) return new RangeError(`'${name}' is not an output of the model`);
    some[name] = null;
  }
  return some;
}
