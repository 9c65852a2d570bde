/**
 * Messages between the main thread and an inference worker. Tensors cross as plain {dtype, shape, data}; typed
 * arrays that own their whole buffer are transferred instead of copied.
 */
import type { DType, TypedArray } from '../../graph/dtype.js';

/**
 * String elements packed into one buffer: element i is bytes[ends[i - 1] .. ends[i]). One buffer moves to the
 * worker (transferred, not cloned), where cloning byte views would copy each whole request buffer they view, and
 * the worker, not the event loop, converts them to ONNX Runtime's strings (ort-strings.ts) and back.
 */
export interface PackedStrings {
  bytes: Uint8Array;
  /** Float64Array: a request's strings may pass 4 GiB when --max_input_bytes allows it. */
  ends: Float64Array;
}

/** A tensor crossing to or from a worker. */
export interface WireTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray | PackedStrings;
}

export function isPackedStrings(data: WireTensor['data']): data is PackedStrings {
  return !ArrayBuffer.isView(data);
}

export function packStrings(elements: readonly Uint8Array[]): PackedStrings {
  const ends = new Float64Array(elements.length);
  let total = 0;
  for (let i = 0; i < elements.length; i++) ends[i] = total += (elements[i] as Uint8Array).byteLength;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const e of elements) {
    bytes.set(e, at);
    at += e.byteLength;
  }
  return { bytes, ends };
}

/** The elements of `packed`, each a view of its one buffer: those from `from` to `to`, into `out`. */
export function unpackStrings(
  packed: PackedStrings,
  out = new Array<Uint8Array>(packed.ends.length),
  from = 0,
  to = out.length,
): Uint8Array[] {
  let start = from === 0 ? 0 : (packed.ends[from - 1] as number);
  for (let i = from; i < to; i++) {
    const end = packed.ends[i] as number;
    out[i] = packed.bytes.subarray(start, end);
    start = end;
  }
  return out;
}

/** An ONNX graph input or output as ONNX Runtime reports it; symbolic or unknown dims are -1. */
export interface WireValueInfo {
  name: string;
  /** Undefined for a value that is not a tensor of a flowserve dtype (a sequence, a map, an optional…). */
  dtype: DType | undefined;
  shape: number[];
  /** The ONNX type as ONNX writes it (`seq(tensor(float))`), set when `dtype` is undefined. */
  onnxType?: string;
}

export interface LoadOptions {
  intraOpNumThreads: number;
  /** ONNX Runtime execution providers of the session: `['cpu']`, or `['webgpu']` for the GPU. */
  executionProviders: string[];
}

export type WorkerRequest =
  | { type: 'load'; id: number; modelPath: string; options: LoadOptions }
  | {
      type: 'run';
      id: number;
      sessionId: number;
      feeds: Record<string, WireTensor>;
      fetches: string[];
      /** Date.now() ms after which the run is dropped unrun (its client stopped waiting); absent = none. */
      deadline?: number;
      /** Run a batch of more rows than this as chunks of at most this many (chunked-runs.ts); absent = whole. */
      chunkRows?: number;
      /**
       * The reply may wait for the runs queued behind this one (inference-worker.ts, REPLY_HOLD_MS): true for runs
       * of a gRPC connection, whose replies then go out together; a REST reply goes back at once.
       */
      replyMayWait?: boolean;
    }
  | {
      type: 'calibrate';
      id: number;
      sessionId: number;
      /** A batch of `ChunkCalibrationRequest.batchRows` rows, every feed batched along dim 0. */
      feeds: Record<string, WireTensor>;
      fetches: string[];
      plan: ChunkCalibrationPlan;
    }
  | { type: 'unload'; id: number; sessionId: number }
  | { type: 'ping'; id: number };

/** How a worker measures whole against chunked runs of one batch (src/serving/worker/chunked-runs.ts). */
export interface ChunkCalibrationPlan {
  /** Chunk sizes to try, each smaller than the batch. */
  chunkRows: number[];
  /** The rounds stop once this much time has passed (at least MIN_ROUNDS of them). */
  budgetMs: number;
  /** A whole run slower than this ends the calibration before any chunk is tried (big models start fast). */
  maxRunMs: number;
  /** 'thread-cpu': the worker thread's CPU time (one intra-op thread computes on it); 'wall': elapsed time. */
  clock: 'thread-cpu' | 'wall';
}

/** What a worker measured: per run of the whole batch, and per chunked run of it for each chunk size. */
export interface ChunkMeasurement {
  batchRows: number;
  clock: 'thread-cpu' | 'wall';
  /** Median ns of one whole-batch run over the rounds (the first, unrounded run when `skipped`). */
  wholeNs: number;
  /** Why no chunk size was timed: 'slow' (a whole run exceeded maxRunMs). */
  skipped?: 'slow';
  rounds: number;
  chunks: {
    rows: number;
    /** Median ns of the whole batch run as chunks of `rows`; absent when its outputs differed. */
    ns?: number;
    /** Largest difference from the whole run's outputs, relative to the output's largest magnitude (≥ 1). */
    maxRelativeDiff: number;
    /** Outputs matched the whole run's (same shapes, within CHUNK_TOLERANCE). */
    equal: boolean;
  }[];
}

/** What the main thread posts: one request, or several that arrived while the worker was busy. */
export type WorkerEnvelope = WorkerRequest | FlatRun | { type: 'many'; requests: (WorkerRequest | FlatRun)[] };

/**
 * When a run passed each point in the worker, in sharedClockMs() (src/serving/run-timing.ts): the statistics
 * extension splits a run's time into queue, input, infer and output stages from these.
 */
export interface WorkerRunTimes {
  /** The message reached the worker. */
  receivedAt: number;
  /** Earlier runs were done and this one started (its feeds being built). */
  startedAt: number;
  /** ONNX Runtime's run() was called. */
  inferStartedAt: number;
  /** run() returned. */
  inferEndedAt: number;
  /** The reply was posted. */
  repliedAt: number;
}

export type WorkerReply =
  | { id: number; ok: true; kind: 'loaded'; sessionId: number; inputs: WireValueInfo[]; outputs: WireValueInfo[] }
  | {
      id: number;
      ok: true;
      kind: 'ran';
      outputs: Record<string, WireTensor>;
      times: WorkerRunTimes;
      /** ONNX Runtime runs the batch took: 1 whole, more when it ran in chunks. */
      chunks: number;
    }
  | { id: number; ok: true; kind: 'calibrated'; measurement: ChunkMeasurement }
  | { id: number; ok: true; kind: 'done' }
  /** `expired`: a run dropped before it started because its deadline had passed. */
  | { id: number; ok: false; error: { name: string; message: string }; expired?: true };

/** What a worker posts: one reply, or several for runs that finished while more were queued (inference-worker.ts). */
export type WorkerReplyEnvelope = WorkerReply | FlatRan | { type: 'replies'; replies: (WorkerReply | FlatRan)[] };

/**
 * A run request and a finished run's reply cross between the threads as flat arrays, not as the objects above:
 * structured cloning costs per object and per property name, and a run's objects (the message, its feeds record,
 * each tensor, the times) cost the posting and the receiving thread ~2 µs more per run than one array of the same
 * values (docs/performance.md, "Round 6: the gRPC path"). The worker turns a run back into a WorkerRequest; the
 * pool reads a reply in place.
 *
 *   run: ['run', id, sessionId, deadline (NaN: none), chunkRows (NaN: whole), replyMayWait (0 or 1), fetch count,
 *         ...fetches, ...each feed as name, dtype, shape, data]
 *   ran: [id, chunks, receivedAt, startedAt, inferStartedAt, inferEndedAt, repliedAt,
 *         ...each output as name, dtype, shape, data]
 */
export type FlatRun = (string | number | number[] | WireTensor['data'])[];
export type FlatRan = (string | number | number[] | WireTensor['data'])[];

/** Where a FlatRan's outputs start, and its times. */
export const RAN_OUTPUTS_AT = 7;
export const RAN_TIMES = { receivedAt: 2, startedAt: 3, inferStartedAt: 4, inferEndedAt: 5, repliedAt: 6 } as const;
/** Where a FlatRun's id and deadline are (the pool sets the id and checks the deadline before posting). */
export const RUN_ID_AT = 1;
export const RUN_DEADLINE_AT = 3;

export function isFlatRun(message: unknown): message is FlatRun {
  return Array.isArray(message) && message[0] === 'run';
}

export function isFlatRan(message: unknown): message is FlatRan {
  return Array.isArray(message);
}

/** The run request a FlatRun holds. */
export function runRequestOfFlat(flat: FlatRun): WorkerRequest & { type: 'run' } {
  const fetchCount = flat[6] as number;
  const fetches = flat.slice(7, 7 + fetchCount) as string[];
  const feeds: Record<string, WireTensor> = {};
  for (let i = 7 + fetchCount; i + 3 < flat.length; i += 4) {
    feeds[flat[i] as string] = {
      dtype: flat[i + 1] as DType,
      shape: flat[i + 2] as number[],
      data: flat[i + 3] as WireTensor['data'],
    };
  }
  const request: WorkerRequest & { type: 'run' } = {
    type: 'run',
    id: flat[1] as number,
    sessionId: flat[2] as number,
    feeds,
    fetches,
  };
  if (!Number.isNaN(flat[3])) request.deadline = flat[3] as number;
  if (!Number.isNaN(flat[4])) request.chunkRows = flat[4] as number;
  if (flat[5] === 1) request.replyMayWait = true;
  return request;
}

/** A finished run's reply as a FlatRan. */
export function flatRan(
  id: number,
  chunks: number,
  times: WorkerRunTimes,
  outputs: Record<string, WireTensor>,
): FlatRan {
  const flat: FlatRan = [
    id,
    chunks,
    times.receivedAt,
    times.startedAt,
    times.inferStartedAt,
    times.inferEndedAt,
    times.repliedAt,
  ];
  for (const name in outputs) {
    const t = outputs[name] as WireTensor;
    flat.push(name, t.dtype, t.shape, t.data);
  }
  return flat;
}

/** The buffers of `tensors` that can be moved rather than copied (a typed array spanning its whole buffer). */
export function transferables(tensors: Iterable<WireTensor>): ArrayBuffer[] {
  const data: WireTensor['data'][] = [];
  for (const t of tensors) data.push(t.data);
  return transferablesOf(data);
}

/** The buffers of tensors' data (transferables' rule) that can be moved rather than copied. */
export function transferablesOf(tensorData: Iterable<WireTensor['data']>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (view: ArrayBufferView) => {
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) {
      out.add(view.buffer);
    }
  };
  for (const data of tensorData) {
    if (isPackedStrings(data)) {
      add(data.bytes);
      add(data.ends);
    } else add(data);
  }
  return [...out];
}
