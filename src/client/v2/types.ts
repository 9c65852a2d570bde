/**
 * The Open Inference Protocol (KServe v2 / Triton) client's public types: plain data in and out, HostTensors for
 * tensors, the same on REST (JSON or binary tensors) and gRPC.
 */
import type { HostTensor } from '../../graph/host-tensor.js';
import type { CallOptions } from '../types.js';

/** Which model a v2 call addresses; no version = the server's choice (flowserve: the latest, as TF Serving). */
export interface V2ModelTarget {
  name: string;
  version?: string | number;
  /** Sent as the request parameter `signature_name` (flowserve's default: `serving_default`). */
  signatureName?: string;
}

/** A request or response parameter value (InferParameter: bool, int64, string; double where the server allows). */
export type V2Parameter = string | number | boolean;

export interface V2InferOptions extends CallOptions {
  /** Echoed back in the result. */
  id?: string;
  /** Request-level parameters besides `signature_name` (reserved keys such as `binary_data_output` excepted). */
  parameters?: Record<string, V2Parameter>;
  /** Only these outputs (default: every output of the signature). */
  outputs?: string[];
}

export interface V2OutputTensor {
  name: string;
  /** The protocol's datatype string, e.g. `FP32`, `BYTES`. */
  datatype: string;
  shape: number[];
  tensor: HostTensor;
}

export interface V2InferResult {
  modelName: string;
  modelVersion: string;
  id?: string;
  parameters?: Record<string, V2Parameter>;
  /** Output name → tensor. */
  outputs: Record<string, HostTensor>;
  /** The outputs in the server's order, with their datatype strings. */
  tensors: V2OutputTensor[];
}

export interface V2ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface V2TensorMetadata {
  name: string;
  datatype: string;
  /** -1 for a variable dimension. */
  shape: number[];
}

export interface V2ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: V2TensorMetadata[];
  outputs: V2TensorMetadata[];
}

/**
 * Triton's model configuration (model_config.proto's ModelConfig, JSON field names), as the server sends it; the
 * fields clients commonly read are typed, the rest pass through.
 */
export interface V2ModelConfig {
  name: string;
  platform?: string;
  backend?: string;
  max_batch_size?: number;
  input?: { name: string; data_type: string; dims: number[]; [key: string]: unknown }[];
  output?: { name: string; data_type: string; dims: number[]; [key: string]: unknown }[];
  dynamic_batching?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface V2Duration {
  count: number;
  ns: number;
}

/** One model version's counters (Triton's ModelStatistics), cumulative since the server started. */
export interface V2ModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<string, V2Duration>;
  batch_stats: { batch_size: number; [phase: string]: V2Duration | number }[];
  [key: string]: unknown;
}

export interface V2RepositoryModel {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

/** Repository load/unload parameters (`config` as a JSON string, `unload_dependents`, …). */
export type V2RepositoryParameters = Record<string, string | number | boolean>;

export interface V2Client {
  readonly protocol: 'v2';
  readonly api: 'grpc' | 'rest';
  infer(target: V2ModelTarget, inputs: Record<string, HostTensor>, options?: V2InferOptions): Promise<V2InferResult>;
  serverLive(options?: CallOptions): Promise<boolean>;
  serverReady(options?: CallOptions): Promise<boolean>;
  modelReady(target: V2ModelTarget, options?: CallOptions): Promise<boolean>;
  serverMetadata(options?: CallOptions): Promise<V2ServerMetadata>;
  modelMetadata(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelMetadata>;
  modelConfig(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelConfig>;
  /** Every model's statistics, or one model's (one version's when `target.version` is set). */
  modelStatistics(target?: V2ModelTarget, options?: CallOptions): Promise<V2ModelStatistics[]>;
  repositoryIndex(filter?: { ready?: boolean }, options?: CallOptions): Promise<V2RepositoryModel[]>;
  loadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void>;
  unloadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void>;
  close(): void;
}
