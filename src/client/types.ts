/** The typed client's public types: plain data in and out, HostTensors for tensors. */
import type { HostTensor } from '../graph/host-tensor.js';
import type { Signature, VersionStatus } from '../serving/core/types.js';

/** Which model (and version or label, and signature) a call addresses. */
export interface ModelTarget {
  name: string;
  version?: number;
  label?: string;
  signatureName?: string;
}

/** The model spec a server reports back. */
export interface ServedModel {
  name: string;
  version?: number;
  signatureName?: string;
}

/** One tf.Example: feature name → values (numbers → float_list, bigints → int64_list, strings/bytes → bytes_list). */
export type ExampleInput = Record<
  string,
  readonly number[] | readonly bigint[] | readonly string[] | readonly Uint8Array[]
>;

export interface PredictOptions {
  outputFilter?: string[];
  /** Deadline in milliseconds (gRPC) / request timeout (REST). */
  timeoutMs?: number;
}

export interface PredictResult {
  outputs: Record<string, HostTensor>;
  model: ServedModel;
}

export interface ClassifyResult {
  /** Per example, every class with its label and score, in the model's order. */
  classifications: { label: string; score: number }[][];
  model: ServedModel;
}

export interface RegressResult {
  values: number[];
  model: ServedModel;
}

export interface ModelMetadata {
  model: ServedModel;
  signatures: Record<string, Pick<Signature, 'method' | 'inputs' | 'outputs'>>;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface ServingClient {
  readonly api: 'grpc' | 'rest';
  predict(target: ModelTarget, inputs: Record<string, HostTensor>, options?: PredictOptions): Promise<PredictResult>;
  classify(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<ClassifyResult>;
  regress(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<RegressResult>;
  metadata(target: ModelTarget, options?: CallOptions): Promise<ModelMetadata>;
  status(target: ModelTarget, options?: CallOptions): Promise<VersionStatus[]>;
  /** ModelService/HandleReloadConfigRequest (gRPC only): the full new model list. */
  reload(models: ReloadModel[], options?: CallOptions): Promise<void>;
  close(): void;
}

export interface ReloadModel {
  name: string;
  basePath: string;
  modelPlatform?: string;
  versionPolicy?: { latest: number } | { all: true } | { specific: number[] };
  versionLabels?: Record<string, number>;
}

/** An error answered by the server: gRPC code (or HTTP status) and message. */
export class ServingClientError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'ServingClientError';
  }
}
