/**
 * The inference worker: owns ONNX Runtime sessions. onnxruntime-node blocks its thread while it creates a session
 * and while run() computes (DESIGN.md), so this is the only place in the server that calls it.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isDType } from '../../graph/dtype.js';
import { quietOnGpu } from '../../runtime/ort.js';
import { sharedClockMs } from '../run-timing.js';
import {
  transferables,
  type WireTensor,
  type WireValueInfo,
  type WorkerEnvelope,
  type WorkerReply,
  type WorkerRequest,
} from './protocol.js';

const sessions = new Map<number, ort.InferenceSession>();
let nextSessionId = 1;

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): WireValueInfo[] {
  return metadata.map((m) => ({
    name: m.name,
    dtype: m.isTensor && isDType(m.type) ? m.type : undefined,
    shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [],
  }));
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
      const reply: WorkerReply = {
        id: request.id,
        ok: true,
        kind: 'loaded',
        sessionId,
        inputs: describe(s.inputMetadata),
        outputs: describe(s.outputMetadata),
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
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(request.feeds)) {
        feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
      }
      const inferStartedAt = sharedClockMs();
      const results = await s.run(feeds, request.fetches);
      const inferEndedAt = sharedClockMs();
      const outputs: Record<string, WireTensor> = {};
      for (const [name, t] of Object.entries(results)) {
        if (!isDType(t.type)) throw new Error(`output '${name}' has type ${t.type}, which flowserve cannot return`);
        outputs[name] = { dtype: t.type, shape: [...t.dims], data: t.data as WireTensor['data'] };
      }
      const times = { receivedAt, startedAt, inferStartedAt, inferEndedAt, repliedAt: sharedClockMs() };
      return {
        reply: { id: request.id, ok: true, kind: 'ran', outputs, times },
        transfer: transferables(Object.values(outputs)),
      };
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
    if (request.type === 'run') runs = runs.then(() => serve(request, receivedAt));
    else void serve(request, receivedAt);
  }
});
