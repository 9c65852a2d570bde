/** The typed client's public types: plain data in and out, HostTensors for tensors. */
import type { HostTensor } from '../graph/host-tensor.js';
import { FlowserveError } from '../errors.js';
import { errorCodeName } from '../serving/apis/shared/status-codes.js';
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

/** gRPC code → HTTP status, as src/errors.ts maps each class (TF Serving's mapping). */
const HTTP_OF_GRPC: Record<number, number> = {
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

/**
 * An error answered by the server (or the transport): a FlowserveError carrying the server's message, its gRPC code
 * (`code`, also `grpcCode`) and HTTP status — the one the server answered on REST, the usual one for the code on gRPC.
 */
export class ServingClientError extends FlowserveError {
  override readonly grpcCode: number;
  override readonly httpStatus: number;
  override readonly codeName: string;

  constructor(
    message: string,
    readonly code: number,
    httpStatus?: number,
  ) {
    super(message);
    this.name = 'ServingClientError';
    this.grpcCode = code;
    this.httpStatus = httpStatus ?? HTTP_OF_GRPC[code] ?? 500;
    this.codeName = errorCodeName(code);
  }
}
