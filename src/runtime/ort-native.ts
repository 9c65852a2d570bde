/**
 * onnxruntime-node's native binding, reached without its JavaScript session handler. The handler's `run` starts every
 * native run from `setImmediate` inside an async function: a turn of the event loop and three promise hops per run,
 * while the native run itself blocks the thread anyway (ONNX Runtime 1.30 computes on the calling thread; its own
 * intra-op threads help inside it). At batch 1 that wrapper is a third of a run's CPU (docs/performance.md, "Engine",
 * round 17).
 *
 * The binding (`onnxruntime-node/dist/binding.js`) is not public API: it is used only when it looks as in 1.30 (an
 * `initOrt` function and an `InferenceSession` class whose instances have `loadModel`, `run` and `dispose`, and report
 * their inputs and outputs as `inputMetadata` / `outputMetadata`); otherwise `loadNativeSession` returns undefined and
 * callers keep the public, asynchronous path (test/runtime/ort.test.ts and
 * test/serving/worker/ort-sync-session.test.ts pin which one the installed ONNX Runtime gets).
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

/** The native session as binding.js exports it (onnxruntime-node 1.30). */
export interface NativeSession {
  loadModel(path: string, options: object): void;
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: object): Record<string, unknown>;
  dispose(): void;
  readonly inputMetadata?: readonly { name?: unknown }[];
  readonly outputMetadata?: readonly { name?: unknown }[];
}

interface Binding {
  initOrt(): void;
  binding: { InferenceSession: new () => NativeSession };
}

let binding: Binding | null | undefined;

/** The native binding when it has the shape this module relies on; null when not (cached either way). */
export function nativeBinding(): Binding | null {
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

/**
 * A CPU session whose `run` computes before it returns: no promise, no turn of the event loop. `inputNames` and
 * `outputNames` are the model's, in its order.
 */
export class SyncSession {
  private released = false;

  constructor(
    private readonly native: NativeSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  /** Throws ONNX Runtime's error (wrong shape, wrong type…) as the public run would reject with it. */
  run(feeds: Record<string, ort.Tensor>, fetches: readonly string[]): Record<string, ort.Tensor> {
    const fetchObject: Record<string, null> = {};
    for (const name of fetches) fetchObject[name] = null;
    return this.runFetching(feeds, fetchObject);
  }

  /** `run` with ONNX Runtime's fetch object ({name: null}) built by the caller, e.g. once per model. */
  runFetching(feeds: Record<string, ort.Tensor>, fetches: Readonly<Record<string, null>>): Record<string, ort.Tensor> {
    if (this.released) throw new Error('the ONNX Runtime session has been released');
    const results = this.native.run(feeds, fetches, NO_RUN_OPTIONS);
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

function namesOf(metadata: readonly { name?: unknown }[] | undefined): string[] | undefined {
  if (!Array.isArray(metadata)) return undefined;
  const names: string[] = [];
  for (const m of metadata) {
    if (typeof m?.name !== 'string') return undefined;
    names.push(m.name);
  }
  return names;
}

/**
 * Loads `model` (a path or the model's bytes) with `options` (ONNX Runtime's session options, as the public
 * `InferenceSession.create` passes them on). Undefined when the binding is not as expected, or does not report the
 * session's inputs and outputs; a load error (corrupt model, unknown option value) throws ONNX Runtime's own error.
 */
export function loadNativeSession(model: string | Uint8Array, options: object): SyncSession | undefined {
  const b = nativeBinding();
  if (!b) return undefined;
  b.initOrt();
  const native = new b.binding.InferenceSession();
  if (typeof model === 'string') native.loadModel(model, options);
  else native.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
  const inputNames = namesOf(native.inputMetadata);
  const outputNames = namesOf(native.outputMetadata);
  if (!inputNames || !outputNames) {
    native.dispose();
    return undefined;
  }
  return new SyncSession(native, inputNames, outputNames);
}
