/** What the manager serves: one loaded model version, and the Loader that produces it. */
import type { HostTensor } from '../../graph/host-tensor.js';
import type { Signature } from './types.js';

export interface ServableRunOptions {
  /** The caller gives up the inputs' buffers: they may be moved to a worker thread instead of copied. */
  inputsOwned?: boolean;
  /** Date.now() ms after which the request is dropped unrun if still queued (RunRequest.deadline). */
  deadline?: number;
}

export interface Servable {
  readonly signatures: Readonly<Record<string, Signature>>;
  /** The signature used when a request names none. */
  readonly defaultSignature: string;
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
