/** What the manager serves: one loaded model version, and the Loader that produces it. */
import type { HostTensor } from '../../graph/host-tensor.js';
import type { ServingDevice } from '../config/model-server-config.js';
import type { ModelFormat } from '../../import/imported-model.js';
import type { RequestTiming } from '../run-timing.js';
import type { ChunkedRunsDecision } from './chunked-runs.js';
import type { GraphSummarySource } from './graph-summary.js';
import type { Signature } from './types.js';

export interface ServableRunOptions {
  /** The caller gives up the inputs' buffers: they may be moved to a worker thread instead of copied. */
  inputsOwned?: boolean;
  /** Date.now() ms after which the request is dropped unrun if still queued (RunRequest.deadline). */
  deadline?: number;
  /** The client connection the request came on (RunRequest.connection). */
  connection?: object;
  /**
   * A request the statistics extension counts: the servable adds its stage times and sets `items`, and counts the
   * executions it ran for it. Absent (warmup): nothing is counted.
   */
  timing?: RequestTiming;
}

/**
 * What a version was loaded from: flowserve's export (model.onnx + signatures.json), a plain model.onnx (signature
 * derived from the graph), or an imported TensorFlow format.
 */
export type ServableFormat = 'flowserve' | 'onnx' | ModelFormat;

/** What a servable is and where it runs, for Triton's model configuration (apis/v2/config.ts) and the dashboard. */
export interface ServableDescription {
  /** Triton's platform name: `onnxruntime_onnx`, `tensorflow_savedmodel`, `tensorflow_graphdef`. */
  platform: string;
  device: ServingDevice;
  /** Copies of the model that compute in parallel (one per worker thread on the CPU; one on the GPU). */
  instances: number;
  /** Absent for servables that do not say. */
  format?: ServableFormat;
  /** The graph the servable runs, read on first use (the dashboard's placement view); absent when it does not say. */
  graph?: GraphSummarySource;
  /**
   * Per signature, whether larger batches run in chunks and what was measured (--chunked_runs,
   * src/serving/core/chunked-runs.ts); absent when no calibration ran (the flag off, or not yet).
   */
  chunkedRuns?: ChunkedRunsDecision[];
}

export interface Servable {
  readonly signatures: Readonly<Record<string, Signature>>;
  /** The signature used when a request names none. */
  readonly defaultSignature: string;
  /** Absent for servables that do not say (test fakes). */
  readonly description?: ServableDescription;
  /**
   * Runs `signatureName` on inputs keyed by alias (already validated) and returns the outputs named in
   * `outputAliases`, keyed by alias. A run still queued at `options.deadline` (Date.now() ms) rejects with
   * DroppedAtDeadline instead of running.
   */
  run(
    signatureName: string,
    inputs: Record<string, HostTensor>,
    outputAliases: readonly string[],
    options?: ServableRunOptions,
  ): Promise<Record<string, HostTensor>>;
  /** Releases the model (called once no request holds the version any more). */
  unload(): Promise<void>;
}

/** Loads one version; a rejection is that version's load error (retried per --max_num_load_retries). */
export interface Loader {
  load(): Promise<Servable>;
}

export type LoaderFactory = (modelName: string, version: number, versionPath: string) => Loader;
