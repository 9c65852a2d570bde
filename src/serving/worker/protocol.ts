/**
 * Messages between the main thread and an inference worker. Tensors cross as plain {dtype, shape, data}; typed
 * arrays that own their whole buffer are transferred instead of copied.
 */
import type { DType, TensorData } from '../../graph/dtype.js';

export interface WireTensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** An ONNX graph input or output as ONNX Runtime reports it; symbolic or unknown dims are -1. */
export interface WireValueInfo {
  name: string;
  dtype: DType | undefined;
  shape: number[];
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
    }
  | { type: 'unload'; id: number; sessionId: number }
  | { type: 'ping'; id: number };

/** What the main thread posts: one request, or several that arrived while the worker was busy. */
export type WorkerEnvelope = WorkerRequest | { type: 'many'; requests: WorkerRequest[] };

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
  | { id: number; ok: true; kind: 'ran'; outputs: Record<string, WireTensor>; times: WorkerRunTimes }
  | { id: number; ok: true; kind: 'done' }
  /** `expired`: a run dropped before it started because its deadline had passed. */
  | { id: number; ok: false; error: { name: string; message: string }; expired?: true };

/** The buffers of `tensors` that can be moved rather than copied (a typed array spanning its whole buffer). */
export function transferables(tensors: Iterable<WireTensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of tensors) {
    if (Array.isArray(t.data)) continue;
    const view = t.data as ArrayBufferView;
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) {
      out.add(view.buffer);
    }
  }
  return [...out];
}
