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
import { loadNativeSession, SyncSession } from '../../runtime/ort-native.js';

export { SyncSession };

/**
 * Loads `modelPath` (synchronously: callers load only small files, MAX_MODEL_BYTES) on the CPU with one intra-op
 * thread; undefined when the binding is not as expected. A load error (corrupt model) throws.
 */
export function createSyncSession(modelPath: string): SyncSession | undefined {
  return loadNativeSession(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
}
