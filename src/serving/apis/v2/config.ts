/**
 * Triton's model_configuration extension (spec open-inference-protocol.md §6.3): the JSON form of
 * model_config.proto's ModelConfig, built from the served version — what perf_analyzer reads before a run
 * (max_batch_size, input/output names and dims, dynamic_batching, model_transaction_policy).
 *
 * - The tensors are those of the signature an inference without `signature_name` uses (`serving_default`, else the
 *   servable's default), named by alias, as in the model metadata.
 * - max_batch_size: the batching parameters' max_batch_size when batching is on and that signature batches (every
 *   input's dim 0 is free), else 0. When it is > 0, dims leave out the batch dimension, as Triton's do.
 * - dynamic_batching (only when batching): max_queue_delay_microseconds = batch_timeout_micros, preferred_batch_size =
 *   allowed_batch_sizes.
 * - platform: Triton's name of the format the version was read from; backend: `onnxruntime`, which computes every
 *   model flowserve serves (TensorFlow models are converted to ONNX when they load).
 * - instance_group: one group, KIND_CPU with one instance per worker thread, or KIND_GPU with one on GPU 0.
 */
import { NotFound } from '../../../errors.js';
import type { DType } from '../../../graph/dtype.js';
import type { VersionPolicy } from '../../config/model-server-config.js';
import { isBatchable } from '../../core/onnx-servable.js';
import { DEFAULT_SIGNATURE, type ServingCore, type TensorSpec } from '../../core/types.js';
import { v2DatatypeOf } from './datatypes.js';
import { selectorOfV2 } from './infer.js';

/** The extension name advertised in `GET /v2` / ServerMetadata. */
export const MODEL_CONFIGURATION_EXTENSION = 'model_configuration';

/** model_config.proto's DataType names: the protocol datatype with TYPE_, and BYTES as TYPE_STRING. */
export function tritonDataType(dtype: DType): string {
  const datatype = v2DatatypeOf(dtype);
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}

export interface TritonModelInput {
  name: string;
  data_type: string;
  format: 'FORMAT_NONE';
  dims: number[];
  /** Present for scalars: Triton writes a rank-0 tensor as dims [1] reshaped to []. */
  reshape?: { shape: number[] };
  is_shape_tensor: false;
  allow_ragged_batch: false;
  optional: false;
}

export interface TritonModelOutput {
  name: string;
  data_type: string;
  dims: number[];
  reshape?: { shape: number[] };
  label_filename: string;
  is_shape_tensor: false;
}

export type TritonVersionPolicy =
  { latest: { num_versions: number } } | { all: Record<string, never> } | { specific: { versions: number[] } };

export interface TritonModelConfig {
  name: string;
  platform: string;
  backend: string;
  version_policy: TritonVersionPolicy;
  max_batch_size: number;
  input: TritonModelInput[];
  output: TritonModelOutput[];
  dynamic_batching?: { max_queue_delay_microseconds: number; preferred_batch_size: number[] };
  instance_group: { name: string; kind: 'KIND_CPU' | 'KIND_GPU'; count: number; gpus: number[] }[];
  model_transaction_policy: { decoupled: false };
  response_cache: { enable: false };
}

/** model_config.proto's ModelVersionPolicy of a TF Serving version policy (the same three kinds). */
export function tritonVersionPolicy(policy: VersionPolicy): TritonVersionPolicy {
  switch (policy.kind) {
    case 'latest':
      return { latest: { num_versions: policy.numVersions } };
    case 'all':
      return { all: {} };
    case 'specific':
      return { specific: { versions: [...policy.versions] } };
  }
}

/** dims (batch dim dropped when batching) and, for a scalar, Triton's [1] → [] reshape. */
function dimsOf(spec: TensorSpec, batched: boolean): { dims: number[]; reshape?: { shape: number[] } } {
  const shape = spec.shape.map((d) => (d < 0 ? -1 : d));
  const dims = batched ? shape.slice(1) : shape;
  return dims.length === 0 && !spec.unknownRank ? { dims: [1], reshape: { shape: [] } } : { dims };
}

/** GET /v2/models/{m}[/versions/{v}]/config, gRPC ModelConfig. `version` absent or "" = the latest. */
export function modelConfigV2(core: ServingCore, name: string, version?: string): TritonModelConfig {
  const model = core.describe(selectorOfV2(name, version));
  const signatureName = DEFAULT_SIGNATURE in model.signatures ? DEFAULT_SIGNATURE : model.defaultSignature;
  const signature = model.signatures[signatureName];
  if (!signature) throw new NotFound(`model '${name}' has no signature '${signatureName}'`);
  const batched = model.batching !== undefined && isBatchable(signature);
  const config: TritonModelConfig = {
    name: model.modelName,
    platform: model.platform,
    backend: 'onnxruntime',
    version_policy: tritonVersionPolicy(model.versionPolicy),
    max_batch_size: batched ? (model.batching?.maxBatchSize ?? 0) : 0,
    input: Object.entries(signature.inputs).map(([alias, spec]) => ({
      name: alias,
      data_type: tritonDataType(spec.dtype),
      format: 'FORMAT_NONE',
      ...dimsOf(spec, batched),
      is_shape_tensor: false,
      allow_ragged_batch: false,
      optional: false,
    })),
    output: Object.entries(signature.outputs).map(([alias, spec]) => ({
      name: alias,
      data_type: tritonDataType(spec.dtype),
      ...dimsOf(spec, batched),
      label_filename: '',
      is_shape_tensor: false,
    })),
    instance_group: [
      {
        name: model.modelName,
        kind: model.device === 'gpu' ? 'KIND_GPU' : 'KIND_CPU',
        count: model.instances,
        gpus: model.device === 'gpu' ? [0] : [],
      },
    ],
    model_transaction_policy: { decoupled: false },
    response_cache: { enable: false },
  };
  if (batched && model.batching) {
    config.dynamic_batching = {
      max_queue_delay_microseconds: model.batching.batchTimeoutMicros,
      preferred_batch_size: [...model.batching.allowedBatchSizes],
    };
  }
  return config;
}
