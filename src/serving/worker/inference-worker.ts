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
  transferables,
  type WireValueInfo,
  type WorkerEnvelope,
  type WorkerReply,
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
): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
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
        reply: { id: request.id, ok: true, kind: 'ran', outputs, times, chunks: chunked?.chunks ?? 1 },
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
function serve(request: WorkerRequest, receivedAt: number): Promise<void> {
  return handle(request, receivedAt).then(
    ({ reply, transfer }) => port?.postMessage(reply, transfer),
    (err: unknown) => {
      const error =
        err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
      port?.postMessage({ id: request.id, ok: false, error } satisfies WorkerReply);
    },
  );
}

/**
 * Runs go one after the other, in arrival order, each replying as soon as it is done. ONNX Runtime computes off this
 * thread, so without the chain a run that arrives during another would pass its deadline check at once and then
 * wait behind it; chained, the check happens when the run is about to start. Loads and unloads do not wait.
 */
let runs: Promise<void> = Promise.resolve();

port.on('message', (envelope: WorkerEnvelope) => {
  const receivedAt = sharedClockMs();
  const requests = envelope.type === 'many' ? envelope.requests : [envelope];
  for (const request of requests) {
    if (request.type === 'run' || request.type === 'calibrate') runs = runs.then(() => serve(request, receivedAt));
    else void serve(request, receivedAt);
  }
});
