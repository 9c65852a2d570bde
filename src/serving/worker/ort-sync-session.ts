/**
 * onnxruntime-node's native session, run synchronously. The public `InferenceSession.run` (and its session handler)
 * wraps the native run in a promise that starts it from `setImmediate`: every run costs a turn of the event loop
 * and a promise chain, ≈7 µs of CPU on a ≈8 µs run of the MNIST softmax (docs/performance.md, "Round 7"). For
 * tiny models, where that overhead is as large as the compute, flowserve calls the native binding directly.
 *
 * The binding is not public API: src/runtime/ort-native.ts says when it is used; otherwise `createSyncSession` returns
 * undefined and the caller keeps the public, asynchronous path (test/serving/worker/ort-sync-session.test.ts pins
 * which one the installed ONNX Runtime gets).
 */
import * as ort from 'onnxruntime-node';
import { loadNativeSession, type NativeSession } from '../../runtime/ort-native.js';

const NO_RUN_OPTIONS = Object.freeze({});

/** A CPU session whose `run` computes before it returns: no promise, no turn of the event loop. */
export class SyncSession {
  private released = false;

  constructor(private readonly native: NativeSession) {}

  /** Throws ONNX Runtime's error (wrong shape, wrong type…) as the public run would reject with it. */
  run(feeds: Record<string, ort.Tensor>, fetches: readonly string[]): Record<string, ort.Tensor> {
    if (this.released) throw new Error('the ONNX Runtime session has been released');
    const fetchObject: Record<string, null> = {};
    for (const name of fetches) fetchObject[name] = null;
    const results = this.native.run(feeds, fetchObject, NO_RUN_OPTIONS);
    const out: Record<string, ort.Tensor> = {};
    for (const name in results) {
      const value = results[name] as ort.Tensor;
      // The binding returns ort.Tensor objects in 1.30; a plain {type, data, dims} is wrapped as the public run does.
      out[name] =
        value instanceof ort.Tensor ? value : new ort.Tensor(value.type, value.data as Float32Array, value.dims);
    }
    return out;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.native.dispose();
  }
}

/**
 * Loads `modelPath` (synchronously: callers load only small files, MAX_MODEL_BYTES) on the CPU with one intra-op
 * thread; undefined when the binding is not as expected. A load error (corrupt model) throws.
 */
export function createSyncSession(modelPath: string): SyncSession | undefined {
  const loaded = loadNativeSession(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  return loaded && new SyncSession(loaded.native);
}
