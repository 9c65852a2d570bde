/**
 * The inference worker: owns ONNX Runtime sessions. onnxruntime-node blocks its thread while it creates a session
 * and while run() computes (DESIGN.md), so this is the only place in the server that calls it.
 */
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isDType } from '../../graph/dtype.js';
import { graphValueTypes } from '../../onnx/value-types.js';
import { quietOnGpu } from '../../runtime/ort.js';
import { sharedClockMs } from '../run-timing.js';
import { calibrateChunks, ortFeedsOfWire, runChunked, wireOutputsOfOrt } from './chunked-runs.js';
import {
  flatRan,
  isFlatRun,
  runRequestOfFlat,
  transferables,
  type FlatRan,
  type WireValueInfo,
  type WorkerEnvelope,
  type WireTensor,
  type WorkerReply,
  type WorkerReplyEnvelope,
  type WorkerRequest,
} from './protocol.js';

const sessions = new Map<number, ort.InferenceSession>();
let nextSessionId = 1;

function describe(
  metadata: readonly ort.InferenceSession.ValueMetadata[],
  onnxTypes: ReadonlyMap<string, string>,
): WireValueInfo[] {
  return metadata.map((m) => {
    const dtype = m.isTensor && isDType(m.type) ? m.type : undefined;
    const shape = m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [];
    if (dtype) return { name: m.name, dtype, shape };
    const onnxType = onnxTypes.get(m.name) ?? (m.isTensor ? `tensor(${m.type})` : 'unknown');
    return { name: m.name, dtype, shape, onnxType };
  });
}

/**
 * ONNX Runtime's JavaScript API says only "not a tensor" of a sequence, map or optional value: the model's own
 * type is read for the load error. Only then is the model decoded a second time (here, off the event loop).
 */
async function onnxTypesIfNeeded(path: string, session: ort.InferenceSession): Promise<Map<string, string>> {
  const all = [...session.inputMetadata, ...session.outputMetadata];
  if (all.every((m) => m.isTensor && isDType(m.type))) return new Map();
  try {
    return graphValueTypes(new Uint8Array(await readFile(path)));
  } catch {
    return new Map(); // ONNX Runtime read it; a reader that cannot only loses the type's name.
  }
}

function session(id: number): ort.InferenceSession {
  const s = sessions.get(id);
  if (!s) throw new Error(`no ONNX Runtime session ${id} in this worker (already unloaded?)`);
  return s;
}

async function handle(
  request: WorkerRequest,
  receivedAt: number,
): Promise<{ reply: WorkerReply | FlatRan; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'load': {
      const s = await ort.InferenceSession.create(request.modelPath, {
        intraOpNumThreads: request.options.intraOpNumThreads,
        interOpNumThreads: 1,
        executionProviders: request.options.executionProviders,
        ...quietOnGpu(request.options.executionProviders),
      });
      const sessionId = nextSessionId++;
      sessions.set(sessionId, s);
      const onnxTypes = await onnxTypesIfNeeded(request.modelPath, s);
      const reply: WorkerReply = {
        id: request.id,
        ok: true,
        kind: 'loaded',
        sessionId,
        inputs: describe(s.inputMetadata, onnxTypes),
        outputs: describe(s.outputMetadata, onnxTypes),
      };
      return { reply, transfer: [] };
    }
    case 'run': {
      // Runs queue here while this thread computes: one whose client has stopped waiting is not worth running.
      if (request.deadline !== undefined && Date.now() >= request.deadline) {
        const error = { name: 'DeadlineExceeded', message: 'deadline passed in the worker queue' };
        return { reply: { id: request.id, ok: false, error, expired: true }, transfer: [] };
      }
      const startedAt = sharedClockMs();
      const s = session(request.sessionId);
      const { feeds, fetches, chunkRows } = request;
      let inferStartedAt = sharedClockMs();
      // A chunked run builds each chunk's tensors as it goes: its input stage is within the infer stage.
      const chunked = chunkRows === undefined ? undefined : await runChunked(s, feeds, fetches, chunkRows);
      let outputs = chunked?.outputs;
      if (!outputs) {
        const ortFeeds = ortFeedsOfWire(feeds);
        inferStartedAt = sharedClockMs();
        outputs = wireOutputsOfOrt(await s.run(ortFeeds, fetches));
      }
      const inferEndedAt = sharedClockMs();
      const times = { receivedAt, startedAt, inferStartedAt, inferEndedAt, repliedAt: sharedClockMs() };
      return {
        reply: flatRan(request.id, chunked?.chunks ?? 1, times, outputs),
        transfer: transferables(Object.values(outputs)),
      };
    }
    case 'calibrate': {
      const measurement = await calibrateChunks(
        session(request.sessionId),
        request.feeds,
        request.fetches,
        request.plan,
      );
      return { reply: { id: request.id, ok: true, kind: 'calibrated', measurement }, transfer: [] };
    }
    case 'unload': {
      const s = sessions.get(request.sessionId);
      sessions.delete(request.sessionId);
      await s?.release();
      return { reply: { id: request.id, ok: true, kind: 'done' }, transfer: [] };
    }
    case 'ping':
      return { reply: { id: request.id, ok: true, kind: 'done' }, transfer: [] };
  }
}

const port = parentPort;
if (!port) throw new Error('inference-worker.js must run as a worker thread');

/**
 * Replies wait here while more runs are queued behind the one that finished: the main thread then gets one message
 * for several runs instead of one each (each message event costs it ~10 µs, more than a tiny model's share of the
 * hand-off). Only runs marked `replyMayWait` (a gRPC connection's, whose replies then go out in one write) are held:
 * a REST reply goes back at once, since each waits on its own connection (v2 REST binary at 8 and 32 connections
 * answered 3–20 % more requests unheld: docs/performance.md, "Round 8"). A reply is held only while the next queued
 * run is predicted (its session's last measured ms per input element × its elements) to end within REPLY_HOLD_MS of
 * the oldest held reply: a slow model's replies, or those queued before a slow run of another model, go out at once.
 */
const REPLY_HOLD_MS = 0.5;
let held: (WorkerReply | FlatRan)[] = [];
let heldTransfer: ArrayBuffer[] = [];
let heldSince = 0;
/** Runs (and calibrations) received and not yet finished, in order. */
const queued: WorkerRequest[] = [];
/** Per session: ms per input element of its last run. */
const msPerElement = new Map<number, number>();

function elementsOf(request: WorkerRequest & { type: 'run' }): number {
  let n = 0;
  for (const name in request.feeds) {
    let size = 1;
    for (const d of (request.feeds[name] as WireTensor).shape) size *= d;
    n += size;
  }
  return Math.max(1, n);
}

/** The next queued run's predicted ms, Infinity when unknown (a calibration, or a session not yet measured). */
function predictedMs(request: WorkerRequest | undefined): number {
  if (request?.type !== 'run') return Infinity;
  const rate = msPerElement.get(request.sessionId);
  return rate === undefined ? Infinity : rate * elementsOf(request);
}

function flushReplies(): void {
  if (held.length === 0) return;
  const replies = held;
  const transfer = heldTransfer;
  held = [];
  heldTransfer = [];
  if (replies.length === 1) port?.postMessage(replies[0], transfer);
  else port?.postMessage({ type: 'replies', replies } satisfies WorkerReplyEnvelope, transfer);
}

/** `startedAt`: performance.now() when a queued run began; undefined for loads, unloads and pings (never held). */
function reply(
  request: WorkerRequest,
  message: WorkerReply | FlatRan,
  transfer: ArrayBuffer[],
  startedAt?: number,
): void {
  const now = performance.now();
  if (held.length === 0) heldSince = now;
  held.push(message);
  for (const buffer of transfer) heldTransfer.push(buffer);
  let hold = false;
  if (startedAt !== undefined) {
    queued.shift();
    if (request.type === 'run' && (Array.isArray(message) || message.ok))
      msPerElement.set(request.sessionId, (now - startedAt) / elementsOf(request));
    const mayWait = request.type !== 'run' || request.replyMayWait === true;
    hold = mayWait && queued.length > 0 && now + predictedMs(queued[0]) - heldSince < REPLY_HOLD_MS;
  }
  if (!hold) flushReplies();
}

function serve(request: WorkerRequest, receivedAt: number, queuedRun: boolean): Promise<void> {
  const startedAt = queuedRun ? performance.now() : undefined;
  return handle(request, receivedAt).then(
    ({ reply: message, transfer }) => reply(request, message, transfer, startedAt),
    (err: unknown) => {
      const error =
        err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
      reply(request, { id: request.id, ok: false, error }, [], startedAt);
    },
  );
}

/**
 * Runs go one after the other, in arrival order, each replying as soon as it is done (or with the next ones, see
 * `reply`). ONNX Runtime computes off this thread, so without the chain a run that arrives during another would pass
 * its deadline check at once and then wait behind it; chained, the check happens when the run is about to start.
 * Loads and unloads do not wait.
 */
let runs: Promise<void> = Promise.resolve();

port.on('message', (envelope: WorkerEnvelope) => {
  const receivedAt = sharedClockMs();
  const requests = isFlatRun(envelope) ? [envelope] : envelope.type === 'many' ? envelope.requests : [envelope];
  for (const message of requests) {
    const request = isFlatRun(message) ? runRequestOfFlat(message) : message;
    if (request.type === 'run' || request.type === 'calibrate') {
      queued.push(request);
      runs = runs.then(() => serve(request, receivedAt, true));
    } else void serve(request, receivedAt, false);
  }
});
