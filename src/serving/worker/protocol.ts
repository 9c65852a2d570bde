/**
 * Messages between the main thread and an inference worker. Tensors cross as plain {dtype, shape, data}; typed
 * arrays that own their whole buffer are transferred instead of copied.
 */
import type { DType, TypedArray } from '../../graph/dtype.js';

/**
 * A tensor crossing to or from a worker. String elements cross in ONNX Runtime's form (ort-strings.ts): the
 * worker hands them to ONNX Runtime as they are, and the main thread alone converts bytes. Cloning JavaScript
 * strings also copies only each element, where cloning byte views would copy each whole request buffer they view.
 */
export interface WireTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray | string[];
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

export type WorkerReply =
  | { id: number; ok: true; kind: 'loaded'; sessionId: number; inputs: WireValueInfo[]; outputs: WireValueInfo[] }
  | { id: number; ok: true; kind: 'ran'; outputs: Record<string, WireTensor> }
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
