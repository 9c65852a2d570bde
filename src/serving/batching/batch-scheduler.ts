/**
 * Server-side batching for one (model version, signature), after TF Serving's BasicBatchScheduler: concurrent
 * requests are concatenated along dim 0 into one model run, and the results are split back.
 *
 * - When a batch leaves depends on `dispatch` (BatchDispatch): by default as soon as a batch thread is free (after
 *   the turn in which its first task arrived); with `timeout`, the newest batch stays open until it is full, or
 *   until `batchTimeoutMicros` after its first task once a batch thread is free. Older batches are closed either
 *   way. Up to `numBatchThreads` batches run at once.
 * - By default a batch that leaves takes at most its share of the rows queued and running: their count over the
 *   batches that can compute at once (`parallelRuns`), whole tasks from the front; the rest waits at the head for the
 *   next free batch thread. Otherwise, under a steady load from N clients, one batch took nearly all N tasks and the
 *   other batch threads ran the one or two left over: the MNIST CNN's batches at 64 streams were of 63–64 rows and of
 *   1, and two workers were each busy half the time (docs/performance.md, "Round 24"). With `timeout` a batch
 *   leaves whole, as TF Serving's do.
 * - A lone task (its caller knows no other task can join it in this turn: a lone call, client-connection.ts) that
 *   finds nothing queued and a batch thread free leaves at once, by default, as Triton's dynamic batcher sends what
 *   is queued when an instance is free: the end of the turn would find it alone. Its run is told so (`lone`), and
 *   does not wait for the end of the turn either. With `timeout` it waits as any task does.
 * - A task that does not fit the open batch starts a new one; more than `maxEnqueuedBatches` waiting batches →
 *   Unavailable. Tasks whose inputs differ in dtype or inner shape never share a batch.
 * - `allowedBatchSizes`: with `padToAllowedSizes` (the default), a batch is padded up to the next allowed size, and the
 *   padding is sliced off the outputs (TF Serving's rule: its graphs are compiled per batch size). Without it a batch
 *   runs at its own size: ONNX Runtime on the CPU runs any size at no extra cost on first use, so padding would only
 *   compute rows that are thrown away (docs/performance.md, "Round 5").
 * - A batch of one task that needs no padding runs on the task's own tensors (no merge, no split); its tensors are
 *   the runner's to move only when the task's were (`owned`). A merged batch's outputs are split as views of the
 *   batch's buffers, not copies.
 * - Tasks whose rows cost more to copy into a merged buffer than merging saves (merge-costs.ts: large rows of a
 *   model that computes little on them) run apart, each on its own tensors, still one batch thread's work.
 * - `enableLargeBatchSplitting`: a task larger than the room left is split across batches of at most
 *   `maxExecutionBatchSize`; without it a task larger than `maxBatchSize` is rejected.
 * - Deadlines: when a batch is cut, its tasks whose deadline has passed are dropped (DroppedAtDeadline) and the rest
 *   run; the batch's run carries the latest remaining deadline, so the worker can drop it too.
 * - Timing (the statistics extension): a task given a RequestTiming gets its wait in the queue, its batch's merge,
 *   run and split times added; a batch holding such a task is reported to `onExecution` once it is split.
 */
import { InvalidArgument, Internal, Unavailable, toFlowserveError } from '../../errors.js';
import type { HostTensor } from '../../graph/host-tensor.js';
import type { BatchingParameters } from '../config/batching-parameters.js';
import { deadlinePassed, DroppedAtDeadline, latestDeadline, type Deadline } from '../deadline.js';
import { emptyStageTimes, type RequestTiming, type StageTimes } from '../run-timing.js';
import { concatRows, padRows, rowsView, sliceRows } from './batch-tensors.js';
import { MergeCosts } from './merge-costs.js';

export type TensorMap = Record<string, HostTensor>;

/**
 * Runs one merged batch; the scheduler owns (and may transfer) the tensors it passes. `deadline`: when every task of
 * the batch has stopped waiting (undefined = some task has no deadline). `timing`, when given, is to be filled with
 * the run's stage times.
 */
export type BatchRunner = (
  inputs: TensorMap,
  deadline: Deadline,
  timing?: StageTimes,
  /** False when `inputs` are a task's own tensors that its caller did not give up: copy them, never move them. */
  owned?: boolean,
  /** The batch is one lone task's, sent at once (BatchScheduler.schedule): its run need not wait for anything. */
  lone?: boolean,
  /** `inputs` are one task of a batch whose tasks run apart (merge-costs.ts): placed as a task that is not batched. */
  apart?: boolean,
) => Promise<TensorMap>;

export interface BatchStats {
  /** Examples in the batch before padding. */
  inputSize: number;
  /** Examples computed, padding included. */
  processedSize: number;
  /** How long the batch's oldest task waited. */
  queuingSeconds: number;
  tasks: number;
}

export interface BatchSchedulerHooks {
  onBatch?(stats: BatchStats): void;
  /**
   * Tasks (or task pieces) waiting, once per turn of the event loop in which tasks were queued or batches were cut
   * (a lone task sent at once is neither: the depth stays 0).
   */
  onQueueDepth?(depth: number): void;
  /**
   * A batch that held a timed task has run and been split: `rows` = its examples before padding, `times` = the
   * whole execution (merge, run, split; queue = its worker-side wait).
   */
  onExecution?(rows: number, times: StageTimes): void;
}

/** The batch scheduler's wording in DroppedAtDeadline messages. */
export const BATCH_QUEUE = 'while waiting in the batch scheduling queue';

export type BatchSchedulerOptions = Pick<
  BatchingParameters,
  | 'maxBatchSize'
  | 'batchTimeoutMicros'
  | 'maxEnqueuedBatches'
  | 'numBatchThreads'
  | 'allowedBatchSizes'
  | 'enableLargeBatchSplitting'
  | 'maxExecutionBatchSize'
  | 'dispatch'
> & {
  /** Pad each batch up to the next of `allowedBatchSizes` (TF Serving's rule). Default true. */
  padToAllowedSizes?: boolean;
  /**
   * How many batches of `elements` input elements can compute at the same time, at most `numBatchThreads`: 1 when
   * they compute one after another (on the event loop's thread), so that dividing a batch would only add runs.
   * Default: `numBatchThreads`.
   */
  parallelRuns?: (elements: number) => number;
};

export const QUEUE_FULL_MESSAGE = 'The batch scheduling queue to which this task was submitted is full';

/** A task, or one piece of a split task. */
interface Piece {
  inputs: TensorMap;
  size: number;
  enqueuedAt: number;
  deadline: Deadline;
  /** The task's stage times, added to as its pieces run; undefined = not timed (warmup). */
  timing: RequestTiming | undefined;
  /** The caller gave up the task's tensors (they may be moved to a worker). */
  owned: boolean;
  settle(outputs: TensorMap | Error): void;
}

interface Batch {
  pieces: Piece[];
  size: number;
  shapeKey: string;
  deadline: number;
}

/** Size of dim 0, shared by every input (validated by the caller; checked again here). */
export function taskSize(inputs: TensorMap): number | undefined {
  let size: number | undefined;
  for (const [alias, t] of Object.entries(inputs)) {
    if (t.rank === 0) return undefined;
    const rows = t.shape[0] as number;
    if (size !== undefined && rows !== size) {
      throw new InvalidArgument(
        `Batching Run() input tensors must have equal 0th-dimension size; input '${alias}' has ${rows}, expected ${size}`,
      );
    }
    size = rows;
  }
  return size;
}

/** What tasks must share to share a batch: each input's name, dtype and shape past dim 0 (a loop: once a request). */
function shapeKeyOf(inputs: TensorMap): string {
  const names = Object.keys(inputs);
  if (names.length > 1) names.sort();
  let key = '';
  for (const name of names) {
    const t = inputs[name] as HostTensor;
    key += `${name}:${t.dtype}[`;
    for (let d = 1; d < t.rank; d++) key += d > 1 ? `,${t.shape[d]}` : String(t.shape[d]);
    key += '];';
  }
  return key;
}

export class BatchScheduler {
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  /** Rows of the batches running (before padding). */
  private runningRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  /** Whether merging pays for this signature's batches, from the compute of its runs so far (merge-costs.ts). */
  private readonly mergeCosts = new MergeCosts();

  constructor(
    private readonly options: BatchSchedulerOptions,
    private readonly runner: BatchRunner,
    private readonly hooks: BatchSchedulerHooks = {},
  ) {}

  /** Largest batch that is ever run. */
  private get capacity(): number {
    return this.options.enableLargeBatchSplitting ? this.options.maxExecutionBatchSize : this.options.maxBatchSize;
  }

  get queuedTasks(): number {
    return this.queue.reduce((n, b) => n + b.pieces.length, 0);
  }

  /**
   * Queues `inputs` (every tensor batched along dim 0) and resolves with this task's rows of the outputs; rejects
   * with DroppedAtDeadline when `deadline` passes before its batch is cut. `timing` (optional) gets the task's stage
   * times added once it has run. `owned`: the caller gives up `inputs`' buffers (they may be moved to a worker).
   * `lone`: no other task can join this one in this turn (see the top of this file).
   */
  schedule(
    inputs: TensorMap,
    deadline?: Deadline,
    timing?: RequestTiming,
    owned = false,
    lone = false,
  ): Promise<TensorMap> {
    if (this.closing) return Promise.reject(new Unavailable('the batch scheduler is shutting down'));
    const size = taskSize(inputs);
    // Scalars cannot be batched and empty tasks have nothing to merge: run them alone.
    if (size === undefined || size === 0) return this.runAlone(inputs, deadline, timing, owned);
    if (size > this.options.maxBatchSize && !this.options.enableLargeBatchSplitting) {
      return Promise.reject(
        new InvalidArgument(`Task size ${size} is larger than maximum input batch size ${this.options.maxBatchSize}`),
      );
    }
    const shapeKey = shapeKeyOf(inputs);
    const open = this.openBatch(shapeKey);
    if (size <= this.capacity) {
      // The usual task: one piece, settled with its own rows, in the open batch when it has room.
      const batch = open && open.size + size <= this.capacity ? open : undefined;
      if (!batch && this.queue.length + 1 > this.options.maxEnqueuedBatches) {
        return Promise.reject(new Unavailable(QUEUE_FULL_MESSAGE));
      }
      const enqueuedAt = performance.now();
      const atOnce =
        lone &&
        this.queue.length === 0 &&
        this.inFlight < this.options.numBatchThreads &&
        this.options.dispatch !== 'timeout';
      return new Promise<TensorMap>((resolve, reject) => {
        const piece: Piece = {
          inputs,
          size,
          enqueuedAt,
          deadline,
          timing,
          owned,
          settle: (outputs) => (outputs instanceof Error ? reject(outputs) : resolve(outputs)),
        };
        if (atOnce) {
          void this.runBatch({ pieces: [piece], size, shapeKey, deadline: enqueuedAt }, true);
          return;
        }
        this.enqueueIn(batch, shapeKey, piece);
        // The depth is reported by the pump this schedules, once per turn rather than once per task.
        this.schedulePump();
      });
    }
    // Larger than any batch (enableLargeBatchSplitting): cut into pieces.
    const pieceSizes = this.planPieces(size, open);
    const newBatches = pieceSizes.length - (open && open.size + (pieceSizes[0] as number) <= this.capacity ? 1 : 0);
    if (this.queue.length + newBatches > this.options.maxEnqueuedBatches) {
      return Promise.reject(new Unavailable(QUEUE_FULL_MESSAGE));
    }
    const now = performance.now();
    return new Promise<TensorMap>((resolve, reject) => {
      const results: TensorMap[] = [];
      let remaining = pieceSizes.length;
      let failed = false;
      let offset = 0;
      pieceSizes.forEach((pieceSize, index) => {
        const pieceInputs = mapTensors(inputs, (t) => sliceRows(t, offset, pieceSize));
        offset += pieceSize;
        this.enqueue(shapeKey, {
          inputs: pieceInputs,
          size: pieceSize,
          enqueuedAt: now,
          deadline,
          timing,
          // A piece cut from the task is a copy of its own.
          owned: true,
          settle: (outputs) => {
            if (failed) return;
            if (outputs instanceof Error) {
              failed = true;
              reject(outputs);
              return;
            }
            results[index] = outputs;
            if (--remaining === 0) resolve(concatMaps(results));
          },
        });
      });
      this.schedulePump();
    });
  }

  /** A task that cannot share a batch: run as is, its execution reported with its rows (0) or 1 for scalars. */
  private async runAlone(
    inputs: TensorMap,
    deadline: Deadline,
    timing: RequestTiming | undefined,
    owned: boolean,
  ): Promise<TensorMap> {
    if (!timing) return this.runner(inputs, deadline, undefined, owned);
    const times = emptyStageTimes();
    const outputs = await this.runner(inputs, deadline, times, owned);
    timing.queueNs += times.queueNs;
    timing.computeInputNs += times.computeInputNs;
    timing.computeInferNs += times.computeInferNs;
    timing.computeOutputNs += times.computeOutputNs;
    this.hooks.onExecution?.(taskSize(inputs) ?? 1, times);
    return outputs;
  }

  /** Sizes of the pieces a task larger than `capacity` is cut into: the first fills `open`'s room, the rest full batches. */
  private planPieces(size: number, open: Batch | undefined): number[] {
    const pieces: number[] = [];
    let left = size;
    const room = open ? this.capacity - open.size : 0;
    if (room > 0) {
      pieces.push(Math.min(room, left));
      left -= Math.min(room, left);
    }
    while (left > 0) {
      pieces.push(Math.min(this.capacity, left));
      left -= Math.min(this.capacity, left);
    }
    return pieces;
  }

  private openBatch(shapeKey: string): Batch | undefined {
    const last = this.queue[this.queue.length - 1];
    return last && last.shapeKey === shapeKey && last.size < this.capacity ? last : undefined;
  }

  private enqueue(shapeKey: string, piece: Piece): void {
    const open = this.openBatch(shapeKey);
    this.enqueueIn(open && open.size + piece.size <= this.capacity ? open : undefined, shapeKey, piece);
  }

  /** Adds `piece` to `batch`, or to a new batch at the end of the queue when `batch` is undefined. */
  private enqueueIn(batch: Batch | undefined, shapeKey: string, piece: Piece): void {
    if (!batch) {
      batch = { pieces: [], size: 0, shapeKey, deadline: piece.enqueuedAt + this.options.batchTimeoutMicros / 1000 };
      this.queue.push(batch);
    }
    batch.pieces.push(piece);
    batch.size += piece.size;
  }

  /** Pumps on the next turn of the event loop so that requests arriving together share a batch. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.options.numBatchThreads) {
      const head = this.queue[0];
      if (!head) break;
      // pump() runs only with a batch thread free: with `idle_thread` dispatch the head batch goes now.
      const ready =
        this.options.dispatch !== 'timeout' ||
        head.size >= this.capacity ||
        this.queue.length > 1 ||
        this.closing ||
        performance.now() >= head.deadline;
      if (!ready) {
        this.timer = setTimeout(() => this.pump(), Math.max(0, head.deadline - performance.now()));
        break;
      }
      void this.runBatch(this.cutHead(head));
    }
    this.reportDepth();
    this.notifyIdle();
  }

  /**
   * The batch to run from `head`, the queue's first: all of it, or under `idle_thread` dispatch its first tasks up to
   * its share of the rows queued and running (see the top of this file), the rest left at the head.
   */
  private cutHead(head: Batch): Batch {
    const whole = () => {
      this.queue.shift();
      return head;
    };
    if (this.options.dispatch === 'timeout' || this.closing || head.pieces.length < 2) return whole();
    const threads = this.options.numBatchThreads;
    let rows = this.runningRows;
    for (const batch of this.queue) rows += batch.size;
    const even = Math.ceil(rows / threads);
    if (head.size <= even) return whole();
    const first = head.pieces[0] as Piece;
    const parallel = Math.min(
      threads,
      this.options.parallelRuns?.((elementCount(first.inputs) / first.size) * even) ?? threads,
    );
    const share = Math.ceil(rows / Math.max(1, parallel));
    let taken = 0;
    let size = 0;
    while (size < share && taken < head.pieces.length) size += (head.pieces[taken++] as Piece).size;
    if (taken === head.pieces.length) return whole();
    head.size -= size;
    return { pieces: head.pieces.splice(0, taken), size, shapeKey: head.shapeKey, deadline: head.deadline };
  }

  /** Settles the pieces whose deadline has passed; the batch keeps the others. */
  private dropExpired(batch: Batch): void {
    const now = Date.now();
    // Most batches have none: no arrays made for them.
    if (!batch.pieces.some((p) => deadlinePassed(p.deadline, now))) return;
    const expired = batch.pieces.filter((p) => deadlinePassed(p.deadline, now));
    batch.pieces = batch.pieces.filter((p) => !deadlinePassed(p.deadline, now));
    batch.size = batch.pieces.reduce((n, p) => n + p.size, 0);
    for (const piece of expired) piece.settle(new DroppedAtDeadline(BATCH_QUEUE));
  }

  /** Runs `batch` (cut from the queue, or a lone task's sent at once: `lone`), then settles its pieces. */
  private async runBatch(batch: Batch, lone = false): Promise<void> {
    this.dropExpired(batch);
    if (batch.pieces.length === 0) {
      this.schedulePump();
      return;
    }
    this.inFlight++;
    const rows = batch.size;
    this.runningRows += rows;
    try {
      const first = batch.pieces[0] as Piece;
      const apart =
        batch.pieces.length > 1 &&
        this.paddedSize(batch.size) === batch.size &&
        !this.mergeCosts.worthMerging(byteCount(first.inputs) / first.size, elementCount(first.inputs) / first.size);
      await (apart ? this.runApart(batch) : this.runMerged(batch, lone));
    } finally {
      this.inFlight--;
      this.runningRows -= rows;
      // With nothing queued there is nothing to cut, and the depth last reported (after the last batch was cut) is 0:
      // no pump, no turn spent on one (a lone call's batch leaves this way every time).
      if (this.queue.length > 0) this.schedulePump();
      else this.notifyIdle();
    }
  }

  /** One run of the batch's pieces merged (or of its one piece's own tensors); settles every piece. */
  private async runMerged(batch: Batch, lone: boolean): Promise<void> {
    try {
      const startedAt = performance.now();
      const target = this.paddedSize(batch.size);
      // A batch of one task that needs no padding runs on the task's own tensors.
      const only = batch.pieces.length === 1 && target === batch.size ? batch.pieces[0] : undefined;
      const merged = only ? only.inputs : mergePieces(batch.pieces, target);
      const mergedAt = performance.now();
      // Every run is timed: its compute tells mergeCosts whether later batches are worth merging.
      const execution = emptyStageTimes();
      const deadline = latestDeadline(batch.pieces.map((p) => p.deadline));
      const outputs = await this.runner(merged, deadline, execution, only ? only.owned : true, lone);
      const returnedAt = performance.now();
      this.mergeCosts.recordCompute(execution.computeInferNs, elementCount(merged));
      this.hooks.onBatch?.({
        inputSize: batch.size,
        processedSize: target,
        queuingSeconds: (startedAt - oldestEnqueuedAt(batch.pieces)) / 1000,
        tasks: batch.pieces.length,
      });
      let offset = 0;
      const perPiece = batch.pieces.map((piece) => {
        const rows = splitRows(outputs, target, offset, piece.size);
        offset += piece.size;
        return rows;
      });
      if (batch.pieces.some((p) => p.timing !== undefined)) {
        const splitNs = msToNs(performance.now() - returnedAt);
        const mergeNs = msToNs(mergedAt - startedAt);
        for (const piece of batch.pieces) addTiming(piece, startedAt, execution, mergeNs, splitNs);
        this.hooks.onExecution?.(batch.size, {
          queueNs: execution.queueNs,
          computeInputNs: mergeNs + execution.computeInputNs,
          computeInferNs: execution.computeInferNs,
          computeOutputNs: execution.computeOutputNs + splitNs,
        });
      }
      batch.pieces.forEach((piece, i) => piece.settle(perPiece[i] as TensorMap));
    } catch (err) {
      const error = toFlowserveError(err);
      for (const piece of batch.pieces) piece.settle(error);
    }
  }

  /**
   * The batch's pieces run apart, each on its own tensors, all at once (merge-costs.ts: merging their rows would cost
   * the event loop more than it saves). Each is reported as a batch of its own, since that is what computed.
   */
  private async runApart(batch: Batch): Promise<void> {
    await Promise.all(
      batch.pieces.map(async (piece) => {
        try {
          const startedAt = performance.now();
          const execution = emptyStageTimes();
          const outputs = await this.runner(piece.inputs, piece.deadline, execution, piece.owned, false, true);
          const returnedAt = performance.now();
          this.mergeCosts.recordCompute(execution.computeInferNs, elementCount(piece.inputs));
          this.hooks.onBatch?.({
            inputSize: piece.size,
            processedSize: piece.size,
            queuingSeconds: (startedAt - piece.enqueuedAt) / 1000,
            tasks: 1,
          });
          const rows = splitRows(outputs, piece.size, 0, piece.size);
          if (piece.timing) {
            addTiming(piece, startedAt, execution, 0, msToNs(performance.now() - returnedAt));
            this.hooks.onExecution?.(piece.size, execution);
          }
          piece.settle(rows);
        } catch (err) {
          piece.settle(toFlowserveError(err));
        }
      }),
    );
  }

  /** The smallest allowed batch size that holds `size` examples (no padding when none are configured or wanted). */
  private paddedSize(size: number): number {
    if (this.options.padToAllowedSizes === false) return size;
    return this.options.allowedBatchSizes.find((allowed) => allowed >= size) ?? size;
  }

  private reportDepth(): void {
    this.hooks.onQueueDepth?.(this.queuedTasks);
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops taking tasks, runs what is queued without waiting for timeouts, and resolves when all batches are done. */
  async close(): Promise<void> {
    this.closing = true;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.pump();
    await idle;
    if (this.timer) clearTimeout(this.timer);
  }
}

function oldestEnqueuedAt(pieces: readonly Piece[]): number {
  let oldest = Infinity;
  for (const p of pieces) if (p.enqueuedAt < oldest) oldest = p.enqueuedAt;
  return oldest;
}

/** Elements of every input together (the size the runner's placement is decided by: calling-thread-runs.ts). */
function elementCount(inputs: TensorMap): number {
  let n = 0;
  for (const name in inputs) n += (inputs[name] as HostTensor).size;
  return n;
}

/** A piece's rows [offset, offset + size) of a run's outputs, each checked to hold the run's `rows` along dim 0. */
function splitRows(outputs: TensorMap, rows: number, offset: number, size: number): TensorMap {
  return mapTensors(outputs, (t, alias) => {
    if (t.rank === 0 || t.shape[0] !== rows) {
      throw new Internal(
        `Batched output tensor '${alias}' has 0th dimension ${t.rank === 0 ? 'none' : String(t.shape[0])}; ` +
          `expected the batch size ${rows}`,
      );
    }
    return rowsView(t, offset, size);
  });
}

/** Adds a run's stage times to a timed piece's: its wait in the queue, the merge and the split around the run. */
function addTiming(piece: Piece, startedAt: number, execution: StageTimes, mergeNs: number, splitNs: number): void {
  if (!piece.timing) return;
  piece.timing.queueNs += msToNs(startedAt - piece.enqueuedAt) + execution.queueNs;
  piece.timing.computeInputNs += mergeNs + execution.computeInputNs;
  piece.timing.computeInferNs += execution.computeInferNs;
  piece.timing.computeOutputNs += execution.computeOutputNs + splitNs;
}

/** Bytes a merge copies of `inputs`: typed arrays' bytes, and a reference (8 bytes) for each string element. */
function byteCount(inputs: TensorMap): number {
  let n = 0;
  for (const name in inputs) {
    const t = inputs[name] as HostTensor;
    n += t.dtype === 'string' ? 8 * t.size : (t.data as ArrayBufferView).byteLength;
  }
  return n;
}

function msToNs(ms: number): number {
  return Math.max(0, Math.round(ms * 1e6));
}

function mapTensors(map: TensorMap, fn: (t: HostTensor, alias: string) => HostTensor): TensorMap {
  const out: TensorMap = {};
  for (const [alias, t] of Object.entries(map)) out[alias] = fn(t, alias);
  return out;
}

/** The pieces' inputs concatenated along dim 0, padded to `rows` rows. */
function mergePieces(pieces: readonly Piece[], rows: number): TensorMap {
  const merged: TensorMap = {};
  for (const name of Object.keys(pieces[0]?.inputs ?? {})) {
    const parts = pieces.map((p) => p.inputs[name] as HostTensor);
    // One piece padded: padRows makes the fresh buffer; concatenating first would copy it twice.
    merged[name] = padRows(parts.length === 1 ? (parts[0] as HostTensor) : concatRows(parts), rows);
  }
  return merged;
}

function concatMaps(maps: TensorMap[]): TensorMap {
  const out: TensorMap = {};
  for (const alias of Object.keys(maps[0] ?? {})) out[alias] = concatRows(maps.map((m) => m[alias] as HostTensor));
  return out;
}
