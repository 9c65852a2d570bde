/**
 * A pool of inference worker threads. Every model is loaded into each worker (a replica per thread), and each run goes
 * to the replica with the fewest requests in flight, so up to `size` batches compute in parallel while the event loop
 * stays free for network I/O. Errors inside a worker come back as rejected promises; a crashed worker fails its
 * pending requests and is replaced by a new worker that loads the same models.
 *
 * A model loaded on the GPU (`device: 'gpu'`: ONNX Runtime's WebGPU execution provider, the default adapter) gets
 * one replica only, in the first running worker: one GPU does not compute faster with more sessions, each would hold
 * its own copy of the weights in GPU memory, and its runs stay on one thread.
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Internal, InvalidArgument, Unavailable, type FlowserveError } from '../../errors.js';
import { HostTensor } from '../../graph/host-tensor.js';
import type { DType, TypedArray } from '../../graph/dtype.js';
import type { ServingDevice } from '../config/model-server-config.js';
import { deadlinePassed, DroppedAtDeadline, type Deadline } from '../deadline.js';
import { fillOneBuffer } from '../request-buffers.js';
import { ClientConnection, isLoneCall } from './client-connection.js';
import { elapsedNs, sharedClockMs, type StageTimes } from '../run-timing.js';
import {
  BATCH_RUN_BUDGET_NS,
  CallingThreadRuns,
  MAX_MODEL_BYTES,
  PROBE_BUDGET_NS,
  RUN_BUDGET_NS,
} from './calling-thread-runs.js';
import {
  isFlatRan,
  isFlatRun,
  isPackedStrings,
  RAN_OUTPUTS_AT,
  RAN_TIMES,
  RUN_DEADLINE_AT,
  RUN_ID_AT,
  transferablesOf,
  type FlatRan,
  type FlatRun,
  type PackedStrings,
  packStrings,
  unpackStrings,
  type ChunkCalibrationPlan,
  type ChunkMeasurement,
  type WireTensor,
  type WireValueInfo,
  type LoadOptions,
  type WorkerEnvelope,
  type WorkerReply,
  type WorkerReplyEnvelope,
  type WorkerRequest,
} from './protocol.js';

export interface WorkerPoolOptions {
  /** Number of worker threads (default: CPU count). */
  size?: number;
  /** ONNX Runtime intra-op threads per session (default: CPUs / size, at least 1), to avoid oversubscription. */
  intraOpNumThreads?: number;
  /**
   * Let models whose measured runs are tiny compute on the calling thread instead of hopping to a worker
   * (calling-thread-runs.ts). Default true.
   */
  callingThreadRuns?: boolean;
  /**
   * A run predicted to compute within this (ns) computes on the calling thread at any load when it belongs to a
   * client connection's burst (calling-thread-runs.ts, CHEAPER_THAN_HANDOFF_NS, the default); 0: never (tests).
   */
  cheapRunNs?: number;
  /**
   * Calling-thread runs of tiny dense models compute in JavaScript (dense-plan.ts) instead of ONNX Runtime; default
   * true.
   */
  jsDenseRuns?: boolean;
  /** Where the pool says which engine computes a model's calling-thread runs (the server's log). */
  log?: (level: 'info', message: string) => void;
  /** Called each time a crashed worker is replaced (flowserve_inference_worker_restarts_total). */
  onRestart?: () => void;
}

/** The pool's threads now: with a request in flight (busy) or not (idle), and replacements since the start. */
export interface WorkerPoolState {
  busy: number;
  idle: number;
  restarts: number;
}

export interface RunOptions {
  /** The caller gives up the input buffers: they are moved to the worker instead of copied (and become detached). */
  transferInputs?: boolean;
  /** Date.now() ms: a run still queued then (here or in the worker) is dropped with DroppedAtDeadline. */
  deadline?: Deadline;
  /**
   * Filled in when the run succeeds (the statistics extension): queue = waiting behind the worker's earlier runs;
   * input = posting the feeds to the worker and building ONNX Runtime's tensors; infer = ONNX Runtime's run();
   * output = the results' way back to this thread.
   */
  timing?: StageTimes;
  /**
   * A batch of more rows than this runs in the worker as chunks of at most this many, outputs joined in order
   * (chunked-runs.ts); absent = one run of the whole batch. Runs on the calling thread ignore it.
   */
  chunkRows?: number;
  /**
   * The client connection the request came on (RunRequest.connection), or MANY_CONNECTIONS: the runs of one
   * connection that arrive in the same turn may compute here back to back (`mayRunHere`).
   */
  connection?: object;
  /** The run is the batch scheduler's merged batch: one within BATCH_RUN_BUDGET_NS computes here (`mayRunHere`). */
  batched?: boolean;
  /**
   * The batch is a lone call's (client-connection.ts), sent by the scheduler at once: as a lone call's own run, it
   * does not wait for the end of the turn.
   */
  lone?: boolean;
}

/**
 * A RunOptions.connection that stands for many client connections, each waiting for its own reply: the REST port's
 * HTTP/1.1 connections, one request in flight on each, all read by the one event loop. Their runs that arrive in one
 * turn form a burst, as one HTTP/2 connection's streams do (at 8 connections v2 REST binary answered 18.5k req/s
 * against 12.5k with its runs sent to a worker: docs/performance.md, "Round 9"), and such a burst computes here even
 * while the workers compute other runs: all of it when its runs are cheaper than their hand-off ("Round 11"), else
 * MAX_BURST_HERE runs a turn, the workers computing the rest ("Round 10"). A worker sends each of their replies as
 * soon as it is computed, since no two share a write.
 */
export const MANY_CONNECTIONS: object = Object.freeze({});

/** The bound on a run's predicted compute here (CallingThreadRuns.tryRun): a probe's, a merged batch's, any other's. */
function runBudgetOf(options: RunOptions, probe: boolean): number {
  if (probe) return PROBE_BUDGET_NS;
  return options.batched ? BATCH_RUN_BUDGET_NS : RUN_BUDGET_NS;
}

/**
 * Whether a worker may hold a run's reply for the runs queued behind it (FlatRun's replyMayWait): only for a named
 * connection, whose replies then go out in one write; REST's (MANY_CONNECTIONS, an HTTP/1.1 connection's lone call,
 * or none) each wait on their own.
 */
export function repliesMayWait(connection: object | undefined): boolean {
  if (connection instanceof ClientConnection) return connection.multiplexed;
  return connection !== undefined && connection !== MANY_CONNECTIONS;
}

/** The worker pool's wording in DroppedAtDeadline messages. */
export const WORKER_QUEUE = 'while waiting in the inference worker queue';

export interface LoadModelOptions {
  /** Default 'cpu'. */
  device?: ServingDevice;
}

/** TensorFlow's name of a serving device, for messages: `/device:CPU:0`, `/device:GPU:0`. */
export function servingDeviceName(device: ServingDevice): string {
  return device === 'gpu' ? '/device:GPU:0' : '/device:CPU:0';
}

/** The ONNX Runtime execution providers a device's sessions are created with. */
export function executionProvidersFor(device: ServingDevice): string[] {
  return device === 'gpu' ? ['webgpu'] : ['cpu'];
}

/** ONNX Runtime's "…/webgpu_context.cc:136 … Failed to get a WebGPU adapter: No supported adapters" → readable. */
export function describeDeviceLoadFailure(device: ServingDevice, message: string): string {
  const firstLine = message.trim().split('\n')[0] ?? '';
  const adapter = /Failed to get a WebGPU adapter.*$/.exec(firstLine);
  if (device === 'gpu' && adapter) return `no WebGPU adapter (${adapter[0].trim()})`;
  return message.trim();
}

/** A load that failed; `reason` is ONNX Runtime's message (made readable for a missing WebGPU adapter). */
export class ModelLoadError extends InvalidArgument {
  constructor(
    readonly modelPath: string,
    readonly device: ServingDevice,
    readonly reason: string,
  ) {
    super(
      device === 'gpu'
        ? `Could not load ONNX model ${modelPath} on ${servingDeviceName(device)}: ${reason}`
        : `Could not load ONNX model ${modelPath}: ${reason}`,
    );
  }
}

/** A model loaded into the pool. */
export interface PooledModel {
  readonly modelPath: string;
  readonly device: ServingDevice;
  /** The execution providers its sessions were created with. */
  readonly executionProviders: readonly string[];
  readonly inputs: readonly WireValueInfo[];
  readonly outputs: readonly WireValueInfo[];
  /** Worker threads holding a session of it (Triton's instance count). */
  readonly replicaCount: number;
  /** Runs computed on the calling thread instead of a worker (calling-thread-runs.ts). */
  readonly runsOnCallingThread: number;
  /** Of those, the runs computed in JavaScript (dense-plan.ts). */
  readonly runsInJavaScript: number;
  /** Runs a worker computed as chunks (RunOptions.chunkRows). */
  readonly chunkedRuns: number;
  /**
   * The compute a run of `feeds` is predicted to take (ns), from the runs measured so far; Infinity until enough are.
   * The pool places runs by it (PACK_BACKLOG_NS, calling-thread-runs.ts).
   */
  predictedRunNs(feeds: Record<string, HostTensor>): number;
  /**
   * How many merged batches of `elements` input elements can compute at the same time: on the CPU, one a worker
   * holding the model, or 1 when such a batch computes on the calling thread (calling-thread-runs.ts,
   * BATCH_RUN_BUDGET_NS). On the GPU 1: its workers share one device, where a larger batch is the cheaper one, and
   * dividing batches there has not been measured.
   */
  parallelBatchRuns(elements: number): number;
  /**
   * Times, in one worker, a run of `feeds` (every feed batched along dim 0) whole against the same batch in
   * chunks (chunked-runs.ts). The caller decides from the measurement; nothing changes here.
   */
  calibrateChunks(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    plan: ChunkCalibrationPlan,
  ): Promise<ChunkMeasurement>;
  run(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    options?: RunOptions,
  ): Promise<Record<string, HostTensor>>;
  unload(): Promise<void>;
}

const MAX_RESPAWNS_PER_MINUTE = 5;

/** Resolves in this turn's check phase, after the I/O callbacks (and the runs they started) of the turn. */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A run whose compute is predicted (calling-thread-runs.ts's estimate) joins a worker that already has runs queued or
 * computing while that worker's predicted backlog stays within this; otherwise it goes to the least busy worker.
 * Spreading tiny runs over the workers buys little parallel compute and costs a wake-up and a reply message per
 * worker; worse, their replies come back at different times, so a client that keeps N streams busy (h2load -m8)
 * sends its next requests in fragments, each costing the event loop a turn, and the fragments stay apart
 * (docs/performance.md, "Round 7"). Runs packed on one worker come back together: the worker holds the replies of
 * runs queued behind each other for up to its REPLY_HOLD_MS (0.5 ms, inference-worker.ts), the same as this bound.
 */
export const PACK_BACKLOG_NS = 500_000;

/**
 * The most runs of one connection's burst that compute on the calling thread, unless they are cheaper than their
 * hand-off (mayRunHere); a larger burst goes to a worker whole. With 8 streams on one connection, computing the burst
 * here beat the worker by 8–21 %; with 32 and 64 the main thread saturated and the other core idled, 5–10 % below the
 * worker (docs/performance.md, "Round 8"; "Round 11" measured cheap bursts of 32 and 64 faster here).
 */
export const MAX_BURST_HERE = 8;

type Pending = {
  resolve: (reply: WorkerReply | FlatRan) => void;
  reject: (err: FlowserveError) => void;
  /** The request's predicted compute (ns), counted in the thread's backlog until it settles; Infinity: unknown. */
  predictedNs: number;
};
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

class InferenceThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Requests waiting to be posted together (see `request`). */
  private outbox: (WorkerRequest | FlatRun)[] = [];
  private outboxTransfer: ArrayBuffer[] = [];
  /** Predicted compute (ns) of the runs posted (or in the outbox) and not yet answered. */
  private backlogNs = 0;
  /**
   * Requests in flight without a prediction (runs not yet measured, loads, calibrations): the backlog is unknown
   * while any is, and nothing packs onto this worker.
   */
  private unpredicted = 0;
  inFlight = 0;
  alive = true;
  /** Messages posted to the worker and received from it (WorkerPool.messages). */
  messagesPosted = 0;
  messagesReceived = 0;

  constructor(
    readonly index: number,
    private readonly onExit: (thread: InferenceThread) => void,
  ) {
    this.worker = new Worker(new URL('./inference-worker.js', import.meta.url));
    this.worker.on('message', (envelope: WorkerReplyEnvelope) => {
      this.messagesReceived++;
      if (isFlatRan(envelope)) this.settle(envelope);
      else if ('type' in envelope) for (const reply of envelope.replies) this.settle(reply);
      else this.settle(envelope);
    });
    this.worker.on('error', (err: Error) =>
      this.fail(new Internal(`inference worker ${index} crashed: ${err.message}`)),
    );
    this.worker.on('exit', (code) => this.fail(new Internal(`inference worker ${index} exited with code ${code}`)));
  }

  /** `body` becomes the message (its id is set here): the caller passes an object of its own. */
  request(body: RequestBody, transfer?: readonly ArrayBuffer[]): Promise<WorkerReply> {
    // Only runs are answered with a FlatRan, and runs go through requestRun. A load or a calibration can keep the
    // worker busy for long: unpredicted.
    return this.post(body as WorkerRequest, transfer, Infinity) as Promise<WorkerReply>;
  }

  /**
   * A run (its id, at RUN_ID_AT, is set here); answered with a FlatRan, or a WorkerReply when it failed.
   * `predictedNs`: its expected compute (Infinity when unknown), which decides whether later runs of this turn join it.
   */
  requestRun(message: FlatRun, predictedNs: number, transfer?: readonly ArrayBuffer[]): Promise<WorkerReply | FlatRan> {
    return this.post(message, transfer, predictedNs);
  }

  /** Whether a run predicted to take `predictedNs` may join the runs this worker already has (PACK_BACKLOG_NS). */
  packs(predictedNs: number): boolean {
    return this.alive && this.inFlight > 0 && this.unpredicted === 0 && this.backlogNs + predictedNs <= PACK_BACKLOG_NS;
  }

  private post(
    message: WorkerRequest | FlatRun,
    transfer: readonly ArrayBuffer[] | undefined,
    predictedNs: number,
  ): Promise<WorkerReply | FlatRan> {
    if (!this.alive) return Promise.reject(new Unavailable(`inference worker ${this.index} is not running`));
    const id = this.nextId++;
    this.inFlight++;
    if (predictedNs === Infinity) this.unpredicted++;
    else this.backlogNs += predictedNs;
    if (isFlatRun(message)) message[RUN_ID_AT] = id;
    else message.id = id;
    return new Promise<WorkerReply | FlatRan>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, predictedNs });
      // Posting a message costs this thread ~40 µs on the 2-core VM (mostly waking the worker), more than a small
      // model's run: requests that arrive in the same turn of the event loop go to the worker in one message.
      this.outbox.push(message);
      if (transfer) for (const buffer of transfer) this.outboxTransfer.push(buffer);
      if (this.outbox.length === 1) setImmediate(this.flushOutbox);
    });
  }

  private readonly flushOutbox = () => this.flush();

  private flush(): void {
    const now = Date.now();
    const outbox = this.outbox;
    const transfer = this.outboxTransfer;
    this.outbox = [];
    this.outboxTransfer = [];
    const requests: (WorkerRequest | FlatRun)[] = [];
    for (const r of outbox) {
      const deadline = isFlatRun(r) ? (r[RUN_DEADLINE_AT] as number) : NaN;
      if (isFlatRun(r) && !Number.isNaN(deadline) && deadlinePassed(deadline, now)) {
        const id = r[RUN_ID_AT] as number;
        this.settle({ id, ok: false, error: { name: 'DeadlineExceeded', message: 'expired' }, expired: true });
      } else requests.push(r);
    }
    if (requests.length === 0 || !this.alive) return;
    this.messagesPosted++;
    if (requests.length === 1) this.worker.postMessage(requests[0], transfer);
    else this.worker.postMessage({ type: 'many', requests } satisfies WorkerEnvelope, transfer);
  }

  private settle(reply: WorkerReply | FlatRan): void {
    const id = isFlatRan(reply) ? (reply[0] as number) : reply.id;
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    this.inFlight--;
    if (pending.predictedNs === Infinity) this.unpredicted--;
    else this.backlogNs = this.inFlight === 0 ? 0 : this.backlogNs - pending.predictedNs;
    pending.resolve(reply);
  }

  private fail(err: FlowserveError): void {
    if (!this.alive) return;
    this.alive = false;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.inFlight = 0;
    this.backlogNs = 0;
    this.unpredicted = 0;
    this.onExit(this);
  }

  async terminate(): Promise<void> {
    this.alive = false;
    for (const p of this.pending.values()) p.reject(new Unavailable('the inference worker pool is shutting down'));
    this.pending.clear();
    await this.worker.terminate();
  }
}

/**
 * A tensor as a run message carries it. A typed array over part of a larger buffer (a request slab's:
 * serving/request-buffers.ts) is copied into a buffer of its own, since postMessage clones a view's whole
 * buffer. Where `data` is not the tensor's own (packed strings, such a copy), it is the message's to transfer.
 */
export function toWire(tensor: HostTensor, mayTake = false): WireTensor {
  let data =
    tensor.dtype === 'string' ? wireStrings(tensor.data as Uint8Array[], mayTake) : (tensor.data as TypedArray);
  if (!isPackedStrings(data) && data.byteLength !== data.buffer.byteLength) data = data.slice();
  // The shape is cloned by postMessage: the worker never shares it with this thread.
  return { dtype: tensor.dtype, shape: tensor.shape as number[], data };
}

/**
 * String elements as one buffer for the message. Elements that already fill one buffer, given up by the caller
 * (`mayTake`), are that buffer, not a copy (request-buffers.ts, withPackedStrings): a request of one long string
 * (24 MiB) would otherwise be copied into fresh memory in one turn of the event loop (15–35 ms on this project's
 * machine).
 */
function wireStrings(elements: Uint8Array[], mayTake: boolean): PackedStrings {
  if (!mayTake || !fillOneBuffer(elements)) return packStrings(elements);
  const ends = new Float64Array(elements.length);
  let end = 0;
  for (let i = 0; i < elements.length; i++) ends[i] = end += (elements[i] as Uint8Array).byteLength;
  const first = elements[0] as Uint8Array;
  return { bytes: new Uint8Array(first.buffer, 0, end), ends };
}

function fromWire(tensor: WireTensor): HostTensor {
  const data = isPackedStrings(tensor.data) ? unpackStrings(tensor.data) : tensor.data;
  return new HostTensor(tensor.dtype, tensor.shape, data);
}

/** Strings unpacked in one turn of the event loop at most: a view each (50,000 took 20–50 ms on a slow machine). */
const UNPACK_SLICE = 10_000;

/** Whether a reply tensor is too many strings to unpack in one turn (fromWireInTurns). */
function isManyStrings(data: WireTensor['data']): data is PackedStrings {
  return isPackedStrings(data) && data.ends.length > UNPACK_SLICE;
}

/** fromWire for a reply of many strings: unpacked a slice a turn, so that no turn holds the loop for all of them. */
async function fromWireInTurns(tensor: WireTensor & { data: PackedStrings }): Promise<HostTensor> {
  const packed = tensor.data;
  const out = new Array<Uint8Array>(packed.ends.length);
  for (let from = 0; from < out.length; from += UNPACK_SLICE) {
    if (from > 0) await endOfTurn();
    unpackStrings(packed, out, from, Math.min(out.length, from + UNPACK_SLICE));
  }
  return new HostTensor(tensor.dtype, tensor.shape, out);
}

export class WorkerPool {
  private readonly threads: InferenceThread[];
  private readonly intraOpNumThreads: number;
  private readonly callingThreadRuns: boolean;
  private readonly cheapRunNs: number | undefined;
  private readonly jsDenseRuns: boolean;
  private readonly log: WorkerPoolOptions['log'];
  /** Loaded models, so that a replacement worker can load them again. */
  private readonly models = new Set<PooledModelImpl>();
  /** When workers were replaced lately: a worker that keeps dying is not replaced forever. */
  private respawns: number[] = [];
  private restarts = 0;
  private readonly onRestart: (() => void) | undefined;
  private closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    const size = Math.max(1, options.size ?? availableParallelism());
    this.intraOpNumThreads = options.intraOpNumThreads ?? Math.max(1, Math.floor(availableParallelism() / size));
    this.callingThreadRuns = options.callingThreadRuns ?? true;
    this.cheapRunNs = options.cheapRunNs;
    this.jsDenseRuns = options.jsDenseRuns ?? true;
    this.log = options.log;
    this.onRestart = options.onRestart;
    this.threads = Array.from({ length: size }, (_, i) => this.spawn(i));
  }

  private spawn(index: number): InferenceThread {
    return new InferenceThread(index, (dead) => this.replace(dead));
  }

  /**
   * A worker died (its pending requests have already failed with Internal): start another in its place and load
   * into it every model the dead one held, so the pool keeps its size. At most 5 replacements a minute.
   */
  private replace(dead: InferenceThread): void {
    if (this.closed) return;
    const now = Date.now();
    this.respawns = this.respawns.filter((t) => now - t < 60_000);
    if (this.respawns.length >= MAX_RESPAWNS_PER_MINUTE) return;
    this.respawns.push(now);
    this.restarts++;
    this.onRestart?.();
    const fresh = this.spawn(dead.index);
    this.threads[dead.index] = fresh;
    for (const model of this.models) {
      void model.moveReplica(dead, fresh, this.loadOptions(model.device));
    }
  }

  private loadOptions(device: ServingDevice) {
    return { intraOpNumThreads: this.intraOpNumThreads, executionProviders: executionProvidersFor(device) };
  }

  get size(): number {
    return this.threads.filter((t) => t.alive).length;
  }

  /** Counted when asked (a metrics scrape or the dashboard's sample), never per request. */
  get state(): WorkerPoolState {
    const alive = this.threads.filter((t) => t.alive);
    const busy = alive.filter((t) => t.inFlight > 0).length;
    return { busy, idle: alive.length - busy, restarts: this.restarts };
  }

  /**
   * Messages posted to the running workers and received from them: what the hand-off costs the event loop (runs that
   * arrive in one turn share a message, and so do replies of runs that finish together).
   */
  get messages(): { posted: number; received: number } {
    let posted = 0;
    let received = 0;
    for (const t of this.threads) {
      posted += t.messagesPosted;
      received += t.messagesReceived;
    }
    return { posted, received };
  }

  /** ONNX Runtime intra-op threads each model session gets: what one request computes on. */
  get intraOpThreads(): number {
    return this.intraOpNumThreads;
  }

  /**
   * Loads `modelPath` into every worker (a GPU model: into one); a load error (corrupt file, missing weights, no
   * WebGPU adapter) rejects with ModelLoadError, an InvalidArgument.
   */
  async loadModel(modelPath: string, options: LoadModelOptions = {}): Promise<PooledModel> {
    if (this.closed) throw new Unavailable('the inference worker pool is closed');
    const device = options.device ?? 'cpu';
    const executionProviders = executionProvidersFor(device);
    const alive = this.threads.filter((t) => t.alive);
    const threads = device === 'gpu' ? alive.slice(0, 1) : alive;
    const loadOptions = this.loadOptions(device);
    const replies = await Promise.allSettled(
      threads.map((t) => t.request({ type: 'load', modelPath, options: loadOptions })),
    );
    const replicas: { thread: InferenceThread; sessionId: number }[] = [];
    let failure: string | undefined;
    let metadata: { inputs: WireValueInfo[]; outputs: WireValueInfo[] } | undefined;
    replies.forEach((r, i) => {
      const thread = threads[i] as InferenceThread;
      if (r.status === 'rejected') failure ??= (r.reason as Error).message;
      else if (!r.value.ok) failure ??= r.value.error.message;
      else if (r.value.kind === 'loaded') {
        replicas.push({ thread, sessionId: r.value.sessionId });
        metadata ??= { inputs: r.value.inputs, outputs: r.value.outputs };
      }
    });
    if (failure !== undefined || !metadata) {
      await Promise.allSettled(replicas.map((r) => r.thread.request({ type: 'unload', sessionId: r.sessionId })));
      const reason = failure === undefined ? 'no worker available' : describeDeviceLoadFailure(device, failure);
      throw new ModelLoadError(modelPath, device, reason);
    }
    const small = await stat(modelPath).then(
      (s) => s.size <= MAX_MODEL_BYTES,
      () => false,
    );
    const callingThread = new CallingThreadRuns(modelPath, {
      eligible: device === 'cpu' && small,
      disabled: !this.callingThreadRuns,
      jsDenseRuns: this.jsDenseRuns,
      ...(this.log ? { log: this.log } : {}),
      ...(this.cheapRunNs === undefined ? {} : { cheapRunNs: this.cheapRunNs }),
    });
    const model = new PooledModelImpl(
      modelPath,
      device,
      executionProviders,
      metadata.inputs,
      metadata.outputs,
      replicas,
      callingThread,
      () => this.models.delete(model),
      this.intraOpNumThreads,
    );
    this.models.add(model);
    return model;
  }

  /** Terminates every worker; pending requests reject with Unavailable. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

class PooledModelImpl implements PooledModel {
  private unloaded = false;
  /** Runs of this model started and not yet finished, wherever they compute. */
  private runsInFlight = 0;
  /** Per client connection: its runs of this model waiting for the end of the current turn (runSomewhere). */
  private readonly awaitingTurnEnd = new Map<object, number>();
  /** Per client connection: the burst whose runs computed here wait for its last run (joinBurst). */
  private readonly bursts = new Map<object, { released: Promise<void>; release: () => void }>();
  /** Runs computed here that wait for the rest of their burst (afterBurst): no longer in flight for `mayRunHere`. */
  private heldForBurst = 0;
  runsOnCallingThread = 0;
  chunkedRuns = 0;

  constructor(
    readonly modelPath: string,
    readonly device: ServingDevice,
    readonly executionProviders: readonly string[],
    readonly inputs: readonly WireValueInfo[],
    readonly outputs: readonly WireValueInfo[],
    private readonly replicas: { thread: InferenceThread; sessionId: number }[],
    private readonly callingThread: CallingThreadRuns,
    private readonly onUnload: () => void,
    private readonly intraOpThreads: number,
  ) {}

  get replicaCount(): number {
    return this.replicas.length;
  }

  get runsInJavaScript(): number {
    return this.callingThread.javascriptRuns;
  }

  predictedRunNs(feeds: Record<string, HostTensor>): number {
    return this.callingThread.predictNs(feeds);
  }

  parallelBatchRuns(elements: number): number {
    if (this.device !== 'cpu' || this.callingThread.computesBatchOfHere(elements)) return 1;
    return this.replicas.length;
  }

  /** Loads this model into `fresh` in place of its replica on the worker that died. */
  async moveReplica(dead: InferenceThread, fresh: InferenceThread, options: LoadOptions): Promise<void> {
    const replica = this.replicas.find((r) => r.thread === dead);
    if (!replica || this.unloaded) return;
    const reply = await fresh.request({ type: 'load', modelPath: this.modelPath, options }).catch(() => undefined);
    if (reply?.ok && reply.kind === 'loaded' && !this.unloaded) {
      replica.thread = fresh;
      replica.sessionId = reply.sessionId;
    }
  }

  async run(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    options: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    if (this.unloaded) throw new Unavailable(`model ${this.modelPath} has been unloaded`);
    this.runsInFlight++;
    try {
      return await this.runSomewhere(feeds, fetches, options);
    } finally {
      this.runsInFlight--;
    }
  }

  /**
   * The calling thread computes a run only when the model's other runs in flight, if any, are runs of the same client
   * connection waiting for the end of this turn (a burst of streams on one HTTP/2 session), and the workers holding
   * the model are idle. Such a burst computes here back to back, warm in cache, and its replies go out together in
   * one write: on one connection with 8 streams that beat sending it to a worker by 8–21 % (docs/performance.md,
   * "Round 8"). Runs of different connections that overlap mean the event loop, which every request's transport
   * work needs, is the scarce thread; a run handed to a worker costs it ~10 µs against ~17 µs computed here
   * (docs/performance.md, "Round 6: the gRPC path"), and the worker computes on another core meanwhile (REST at 32
   * connections lost 10–20 % when all its runs computed here). The REST front's MANY_CONNECTIONS runs are an
   * exception: at most MAX_BURST_HERE of them a turn, they compute here whatever else is in flight, so that the event
   * loop computes a share of a busy turn's runs instead of waiting for the workers' replies ("Round 10").
   *
   * A run of a client connection (an HTTP/2 session's, or MANY_CONNECTIONS) that is cheaper than its hand-off
   * (calling-thread-runs.ts, CHEAPER_THAN_HANDOFF_NS) computes here whatever else is in flight and however large its
   * burst: handing it off frees nothing on the event loop. With every such run here, v2 REST binary answered 20–40 %
   * more at 32 and 64 connections than with 8 a turn here and the rest in a worker, and gRPC Predict on one connection
   * with 32 streams 5–16 % more than with the burst in a worker ("Round 11"). A merged batch of the batch scheduler
   * (RunOptions.batched) predicted within BATCH_RUN_BUDGET_NS does too: with batching on at 64 streams, a batch sent
   * to a worker whenever the other batch was in flight kept the next ones there too (half of them and more), and the
   * server used more CPU a request than with batching off ("Round 14"). Other runs without a connection (node:http's)
   * keep the rules above. `cheap`: the run is such a run (runSomewhere).
   */
  private mayRunHere(options: RunOptions, cheap: boolean): boolean {
    if (options.chunkRows !== undefined) return false;
    // A client connection's run cheaper than its hand-off computes here whatever else is in flight ("Round 11").
    if (cheap) return true;
    const together = options.connection ? (this.awaitingTurnEnd.get(options.connection) ?? 0) : 0;
    // The REST front's share of a turn computes here whatever else is in flight (MANY_CONNECTIONS).
    if (options.connection === MANY_CONNECTIONS) return together + this.heldForBurst + 1 <= MAX_BURST_HERE;
    const others = this.runsInFlight - 1 - this.heldForBurst;
    if (others > together || together + this.heldForBurst + 1 > MAX_BURST_HERE) return false;
    for (const r of this.replicas) if (r.thread.inFlight > 0) return false;
    return true;
  }

  /**
   * After its wait for the end of the turn, a run of a connection's burst learns whether more of the burst is still
   * waiting. If so, its caller is answered only once the last of them has decided (`afterBurst`): the burst's ONNX
   * Runtime runs then follow each other with nothing between them (18.8 µs a run of the MNIST softmax when each
   * reply was encoded between two runs, ~7.5 µs back to back: docs/performance.md, "Round 8"), and the replies are
   * encoded after. The last run releases the others. Undefined: answer at once.
   */
  private joinBurst(connection: object | undefined): Promise<void> | undefined {
    if (connection === undefined) return undefined;
    if (!this.awaitingTurnEnd.has(connection)) {
      const burst = this.bursts.get(connection);
      this.bursts.delete(connection);
      burst?.release();
      return undefined;
    }
    let burst = this.bursts.get(connection);
    if (!burst) {
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      burst = { released, release };
      this.bursts.set(connection, burst);
    }
    return burst.released;
  }

  /** A run computed here: its result once `burst` (joinBurst) is released; counted as held meanwhile. */
  private async afterBurst<T>(result: Promise<T>, burst: Promise<void> | undefined): Promise<T> {
    if (!burst) return result;
    this.heldForBurst++;
    try {
      const value = await result;
      await burst;
      return value;
    } finally {
      this.heldForBurst--;
    }
  }

  /** Waits for the end of this turn, counted among `connection`'s runs that wait for it too. */
  private async endOfTurnWith(connection: object | undefined): Promise<void> {
    if (!connection) return endOfTurn();
    this.awaitingTurnEnd.set(connection, (this.awaitingTurnEnd.get(connection) ?? 0) + 1);
    try {
      await endOfTurn();
    } finally {
      const left = (this.awaitingTurnEnd.get(connection) ?? 1) - 1;
      if (left === 0) this.awaitingTurnEnd.delete(connection);
      else this.awaitingTurnEnd.set(connection, left);
    }
  }

  private async runSomewhere(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    options: RunOptions,
  ): Promise<Record<string, HostTensor>> {
    const postedAt = sharedClockMs();
    // A connection's run cheaper than its hand-off (or a merged batch within BATCH_RUN_BUDGET_NS) joins the turn's one
    // burst of such runs, whatever its connection (MANY_CONNECTIONS): they compute back to back, and their callers are
    // answered after the last of them. Computed one by one, each between two replies' encoding and writing, 32
    // connections with a stream each answered 12 % less than with their runs in a worker ("Round 11").
    const cheap = options.batched
      ? this.callingThread.computesBatchHere(feeds)
      : options.connection !== undefined && this.callingThread.isCheap(feeds);
    const group = cheap ? MANY_CONNECTIONS : options.connection;
    // A connection's run of a model not yet measured here may compute here, to be measured (probes).
    const probe =
      options.connection !== undefined && options.chunkRows === undefined && !cheap && this.callingThread.probes(feeds);
    if (
      probe ||
      (this.mayRunHere(options, cheap) && this.callingThread.qualifies(feeds, runBudgetOf(options, false)))
    ) {
      // A synchronous run waits for the end of this turn (the check phase, where the public run would have started
      // anyway), when every run of the turn is known: a burst of one connection then computes here run after run;
      // if runs of other connections arrived too, this one joins them in a worker instead, so their replies come
      // back together (PACK_BACKLOG_NS), unless it is cheap. A lone call (client-connection.ts: its connection's only
      // call in progress, begun in a turn of its own) has no burst to wait for: it computes now, and its reply goes
      // out in this turn. So does the batch scheduler's batch of one lone call, sent at once (`lone`).
      let burst: Promise<void> | undefined;
      if (this.callingThread.synchronous && !options.lone && !isLoneCall(options.connection)) {
        await this.endOfTurnWith(group);
        burst = this.joinBurst(group);
        if (this.unloaded) throw new Unavailable(`model ${this.modelPath} has been unloaded`);
      }
      // Taken before tryRun: a synchronous run has computed by the time it returns.
      const startedAt = sharedClockMs();
      const here =
        probe || this.mayRunHere(options, cheap)
          ? this.callingThread.tryRun(feeds, fetches, cheap, runBudgetOf(options, probe))
          : undefined;
      if (here) {
        this.runsOnCallingThread++;
        const { outputs, inferNs } = await this.afterBurst(
          here.catch((err: unknown) => {
            throw new InvalidArgument(err instanceof Error ? err.message : String(err));
          }),
          burst,
        );
        if (options.timing) {
          options.timing.queueNs = elapsedNs(postedAt, startedAt);
          options.timing.computeInputNs = 0;
          options.timing.computeInferNs = inferNs;
          options.timing.computeOutputNs = Math.max(0, elapsedNs(startedAt, sharedClockMs()) - inferNs);
        }
        return outputs;
      }
    }
    const predictedNs = this.callingThread.predictNs(feeds);
    const replica = this.pickReplica(predictedNs);
    const message: FlatRun = [
      'run',
      0,
      replica.sessionId,
      options.deadline ?? NaN,
      options.chunkRows ?? NaN,
      repliesMayWait(options.connection) ? 1 : 0,
      fetches.length,
      ...fetches,
    ];
    // Transferred: every input's buffer when the caller gave them up, else only the copies toWire made.
    const transferred: WireTensor['data'][] = [];
    for (const name in feeds) {
      const tensor = feeds[name] as HostTensor;
      const wire = toWire(tensor, options.transferInputs);
      message.push(name, wire.dtype, wire.shape, wire.data);
      if (options.transferInputs || wire.data !== tensor.data) transferred.push(wire.data);
    }
    const reply = await replica.thread.requestRun(
      message,
      predictedNs,
      transferred.length > 0 ? transferablesOf(transferred) : undefined,
    );
    if (!isFlatRan(reply)) {
      if (!reply.ok && reply.expired) throw new DroppedAtDeadline(WORKER_QUEUE);
      if (!reply.ok) throw new InvalidArgument(reply.error.message);
      throw new Internal(`unexpected worker reply '${reply.kind}' to run`);
    }
    if ((reply[1] as number) > 1) this.chunkedRuns++;
    const outputs: Record<string, HostTensor> = {};
    for (let i = RAN_OUTPUTS_AT; i + 3 < reply.length; i += 4) {
      const tensor = {
        dtype: reply[i + 1] as DType,
        shape: reply[i + 2] as number[],
        data: reply[i + 3] as WireTensor['data'],
      };
      // Awaited only for many strings: every other reply is answered without another turn or promise.
      outputs[reply[i] as string] = isManyStrings(tensor.data)
        ? await fromWireInTurns({ ...tensor, data: tensor.data })
        : fromWire(tensor);
    }
    const receivedAt = reply[RAN_TIMES.receivedAt] as number;
    const startedAt = reply[RAN_TIMES.startedAt] as number;
    const inferStartedAt = reply[RAN_TIMES.inferStartedAt] as number;
    const inferEndedAt = reply[RAN_TIMES.inferEndedAt] as number;
    this.callingThread.observe(elapsedNs(inferStartedAt, inferEndedAt), feeds);
    if (options.timing) {
      options.timing.queueNs = elapsedNs(receivedAt, startedAt);
      options.timing.computeInputNs = elapsedNs(postedAt, receivedAt) + elapsedNs(startedAt, inferStartedAt);
      options.timing.computeInferNs = elapsedNs(inferStartedAt, inferEndedAt);
      options.timing.computeOutputNs = elapsedNs(inferEndedAt, sharedClockMs());
    }
    return outputs;
  }

  async calibrateChunks(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    plan: ChunkCalibrationPlan,
  ): Promise<ChunkMeasurement> {
    if (this.unloaded) throw new Unavailable(`model ${this.modelPath} has been unloaded`);
    const replica = this.pickReplica();
    const wireFeeds: Record<string, WireTensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) wireFeeds[name] = toWire(tensor);
    const reply = await replica.thread.request({
      type: 'calibrate',
      sessionId: replica.sessionId,
      feeds: wireFeeds,
      fetches: [...fetches],
      // With more than one intra-op thread, ONNX Runtime also computes on threads the worker's CPU time misses.
      plan: this.intraOpThreads > 1 ? { ...plan, clock: 'wall' } : plan,
    });
    if (!reply.ok) throw new InvalidArgument(reply.error.message);
    if (reply.kind !== 'calibrated') throw new Internal(`unexpected worker reply '${reply.kind}' to calibrate`);
    return reply.measurement;
  }

  /** A busy worker whose backlog the run fits (PACK_BACKLOG_NS), else the least busy. */
  private pickReplica(predictedNs = Infinity): { thread: InferenceThread; sessionId: number } {
    let best: { thread: InferenceThread; sessionId: number } | undefined;
    for (const r of this.replicas) if (r.thread.packs(predictedNs)) return r;
    for (const r of this.replicas) {
      if (r.thread.alive && (!best || r.thread.inFlight < best.thread.inFlight)) best = r;
    }
    if (!best) throw new Unavailable(`no inference worker holding ${this.modelPath} is running`);
    return best;
  }

  async unload(): Promise<void> {
    if (this.unloaded) return;
    this.unloaded = true;
    this.onUnload();
    await this.callingThread.release();
    await Promise.allSettled(
      this.replicas
        .filter((r) => r.thread.alive)
        .map((r) => r.thread.request({ type: 'unload', sessionId: r.sessionId })),
    );
  }
}
