/**
 * onnxruntime-node's native session, run synchronously. The public `InferenceSession.run` (and its session handler)
 * wraps the native run in a promise that starts it from `setImmediate`: every run costs a turn of the event loop
 * and a promise chain, ≈7 µs of CPU on a ≈8 µs run of the MNIST softmax (docs/performance.md, "Round 7"). For
 * tiny models, where that overhead is as large as the compute, flowserve calls the native binding directly.
 *
 * The binding (`onnxruntime-node/dist/binding.js`) is not public API: it is used only when it looks as in 1.30 (an
 * `initOrt` function and an `InferenceSession` class whose instances have `loadModel`, `run` and `dispose`);
 * otherwise `createSyncSession` returns undefined and the caller keeps the public, asynchronous path
 * (test/serving/worker/ort-sync-session.test.ts pins which one the installed ONNX Runtime gets).
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

/** The native session as binding.js exports it (onnxruntime-node 1.30). */
interface NativeSession {
  loadModel(path: string, options: object): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: object): Record<string, unknown>;
  dispose(): void;
}

interface Binding {
  initOrt(): void;
  binding: { InferenceSession: new () => NativeSession };
}

let binding: Binding | null | undefined;

/** The native binding when it has the shape this module relies on; null when not (cached either way). */
function nativeBinding(): Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const loaded = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Partial<Binding>;
    const Session = loaded.binding?.InferenceSession;
    const proto = (Session as { prototype?: Partial<NativeSession> } | undefined)?.prototype;
    if (
      typeof loaded.initOrt === 'function' &&
      typeof Session === 'function' &&
      typeof proto?.loadModel === 'function' &&
      typeof proto.run === 'function' &&
      typeof proto.dispose === 'function'
    )
      binding = loaded as Binding;
  } catch {
    // An onnxruntime-node laid out differently: the public path only.
  }
  return binding;
}

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
  const b = nativeBinding();
  if (!b) return undefined;
  b.initOrt();
  const native = new b.binding.InferenceSession();
  native.loadModel(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  return new SyncSession(native);
}
