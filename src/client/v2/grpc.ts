/**
 * V2Client over gRPC: `inference.GRPCInferenceService` (proto/inference/grpc_service.proto). Inputs travel in
 * `raw_input_contents`, as Triton's own client sends them; outputs are read from `raw_output_contents`, or from the
 * typed `contents` fields when a server answers that way (spec §7.3).
 */
import type { Client } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgument } from '../../errors.js';
import { fromValues } from '../../graph/dtype.js';
import { HostTensor } from '../../graph/host-tensor.js';
import { stringTensorFromBytes } from '../../graph/string-bytes.js';
import { LOADER_OPTIONS, protoRoot } from '../../serving/apis/shared/protos.js';
import type { GrpcClientOptions } from '../grpc-client.js';
import { openChannel, unaryCall, type AnyMethod } from '../grpc-unary.js';
import type { CallOptions } from '../types.js';
import { inferParameters, statisticsList } from './messages.js';
import { dtypeOfV2, v2DatatypeOf } from '../../serving/apis/v2/datatypes.js';
import { tensorBytes, tensorFromBytes } from './tensors.js';
import type {
  V2Client,
  V2InferOptions,
  V2InferResult,
  V2ModelConfig,
  V2ModelMetadata,
  V2ModelStatistics,
  V2ModelTarget,
  V2OutputTensor,
  V2Parameter,
  V2RepositoryModel,
  V2RepositoryParameters,
  V2ServerMetadata,
} from './types.js';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const INFERENCE_PROTO_FILE = 'inference/grpc_service.proto';

let definition: protoLoader.PackageDefinition | undefined;

/**
 * The inference package, loaded as the TF Serving services are (snake_case names, int64 as strings, bytes as
 * Buffers) except enums, read as their names (`TYPE_FP32`) so a model config reads the same as over REST.
 */
export function loadInferencePackageDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(INFERENCE_PROTO_FILE, {
    ...LOADER_OPTIONS,
    enums: String,
    includeDirs: [protoRoot()],
  });
  return definition;
}

/** InferParameter: bool, int64 for integers, double for other numbers, string. */
export function inferParameterMsg(value: V2Parameter): Record<string, unknown> {
  if (typeof value === 'boolean') return { bool_param: value };
  if (typeof value === 'string') return { string_param: value };
  return Number.isInteger(value) ? { int64_param: String(value) } : { double_param: value };
}

function parameterValue(msg: Record<string, unknown>): V2Parameter {
  const choice = msg.parameter_choice as string | undefined;
  const value = choice === undefined ? undefined : msg[choice];
  if (choice === 'int64_param' || choice === 'uint64_param') return Number(value);
  return value as V2Parameter;
}

interface InferTensorMsg {
  name?: string;
  datatype?: string;
  shape?: string[];
  contents?: Record<string, unknown[] | undefined>;
}

interface ModelInferResponseMsg {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, Record<string, unknown>>;
  outputs?: InferTensorMsg[];
  raw_output_contents?: Uint8Array[];
}

/** Builds a ModelInferRequest (exported for the benchmark, which sends the same request many times). */
export function encodeGrpcInfer(
  target: V2ModelTarget,
  inputs: Record<string, HostTensor>,
  options: V2InferOptions = {},
): Record<string, unknown> {
  const parameters = inferParameters(target, options);
  const entries = Object.entries(inputs);
  return {
    model_name: target.name,
    model_version: target.version === undefined ? '' : String(target.version),
    id: options.id ?? '',
    parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, inferParameterMsg(v)])),
    inputs: entries.map(([name, tensor]) => ({
      name,
      datatype: v2DatatypeOf(tensor.dtype),
      shape: tensor.shape.map(String),
    })),
    outputs: (options.outputs ?? []).map((name) => ({ name })),
    raw_input_contents: entries.map(([, tensor]) => tensorBytes(tensor)),
  };
}

/** The typed `contents` field of each datatype (spec §4). */
const CONTENTS_FIELD: Record<string, string> = {
  BOOL: 'bool_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
  STRING: 'bytes_contents',
};

function tensorFromContents(output: InferTensorMsg, shape: number[], name: string): HostTensor {
  const datatype = output.datatype ?? '';
  const dtype = dtypeOfV2(datatype, `output ${name}`);
  const field = CONTENTS_FIELD[datatype];
  if (!field) throw new InvalidArgument(`output ${name}: ${datatype} has no typed contents field; expected raw`);
  const values = output.contents?.[field] ?? [];
  if (dtype === 'string') return stringTensorFromBytes(shape, values as Uint8Array[]);
  const typed = dtype === 'int64' || dtype === 'uint64' ? values.map((v) => BigInt(v as string)) : values;
  return new HostTensor(dtype, shape, fromValues(dtype, typed as ArrayLike<number | bigint | boolean>));
}

/** A ModelInferResponse → result: raw_output_contents[i] is outputs[i]'s bytes when present. */
export function decodeGrpcInfer(response: ModelInferResponseMsg): V2InferResult {
  const raw = response.raw_output_contents ?? [];
  const tensors: V2OutputTensor[] = (response.outputs ?? []).map((output, i) => {
    const name = output.name ?? '';
    const datatype = output.datatype ?? '';
    const shape = (output.shape ?? []).map(Number);
    const bytes = raw[i];
    const tensor =
      raw.length > 0 && bytes !== undefined
        ? tensorFromBytes(datatype, shape, bytes, name)
        : tensorFromContents(output, shape, name);
    return { name, datatype, shape, tensor };
  });
  const result: V2InferResult = {
    modelName: response.model_name ?? '',
    modelVersion: response.model_version ?? '',
    outputs: Object.fromEntries(tensors.map((t) => [t.name, t.tensor])),
    tensors,
  };
  if (response.id) result.id = response.id;
  const parameters = Object.entries(response.parameters ?? {});
  if (parameters.length > 0) result.parameters = Object.fromEntries(parameters.map(([k, v]) => [k, parameterValue(v)]));
  return result;
}

function repositoryParameters(parameters: V2RepositoryParameters | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(parameters ?? {}).map(([k, v]) => [
      k,
      typeof v === 'boolean'
        ? { bool_param: v }
        : typeof v === 'number'
          ? { int64_param: String(v) }
          : { string_param: v },
    ]),
  );
}

export class GrpcV2Client implements V2Client {
  readonly protocol = 'v2' as const;
  readonly api = 'grpc' as const;
  private readonly client: Client;
  private readonly methods: Record<string, AnyMethod>;

  constructor(
    address: string,
    private readonly options: GrpcClientOptions = {},
  ) {
    // Triton's client raises both limits to INT32_MAX.
    this.client = openChannel(address, options);
    this.methods = loadInferencePackageDefinition()[INFERENCE_SERVICE] as unknown as Record<string, AnyMethod>;
  }

  /** One unary call; server errors become ServingClientError with the gRPC code and the server's message. */
  call<Res>(method: string, request: object, options: CallOptions = {}): Promise<Res> {
    const name = `${INFERENCE_SERVICE}/${method}`;
    return unaryCall(this.client, this.methods[method], name, request, this.options.authToken, options);
  }

  async infer(
    target: V2ModelTarget,
    inputs: Record<string, HostTensor>,
    options: V2InferOptions = {},
  ): Promise<V2InferResult> {
    const response = await this.call<ModelInferResponseMsg>(
      'ModelInfer',
      encodeGrpcInfer(target, inputs, options),
      options,
    );
    return decodeGrpcInfer(response);
  }

  async serverLive(options?: CallOptions): Promise<boolean> {
    return (await this.call<{ live?: boolean }>('ServerLive', {}, options)).live ?? false;
  }

  async serverReady(options?: CallOptions): Promise<boolean> {
    return (await this.call<{ ready?: boolean }>('ServerReady', {}, options)).ready ?? false;
  }

  async modelReady(target: V2ModelTarget, options?: CallOptions): Promise<boolean> {
    const request = { name: target.name, version: target.version === undefined ? '' : String(target.version) };
    return (await this.call<{ ready?: boolean }>('ModelReady', request, options)).ready ?? false;
  }

  async serverMetadata(options?: CallOptions): Promise<V2ServerMetadata> {
    const response = await this.call<Partial<V2ServerMetadata>>('ServerMetadata', {}, options);
    return { name: response.name ?? '', version: response.version ?? '', extensions: response.extensions ?? [] };
  }

  async modelMetadata(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelMetadata> {
    const request = { name: target.name, version: target.version === undefined ? '' : String(target.version) };
    const response = await this.call<{
      name?: string;
      versions?: string[];
      platform?: string;
      inputs?: { name?: string; datatype?: string; shape?: string[] }[];
      outputs?: { name?: string; datatype?: string; shape?: string[] }[];
    }>('ModelMetadata', request, options);
    const tensors = (list: typeof response.inputs) =>
      (list ?? []).map((t) => ({ name: t.name ?? '', datatype: t.datatype ?? '', shape: (t.shape ?? []).map(Number) }));
    return {
      name: response.name ?? '',
      versions: response.versions ?? [],
      platform: response.platform ?? '',
      inputs: tensors(response.inputs),
      outputs: tensors(response.outputs),
    };
  }

  async modelConfig(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelConfig> {
    const request = { name: target.name, version: target.version === undefined ? '' : String(target.version) };
    const response = await this.call<{ config?: V2ModelConfig }>('ModelConfig', request, options);
    const config = response.config ?? { name: '' };
    // int64 dims arrive as strings (LOADER_OPTIONS keeps int64 exact); REST sends numbers.
    for (const tensor of [...(config.input ?? []), ...(config.output ?? [])])
      tensor.dims = (tensor.dims ?? []).map(Number);
    return config;
  }

  async modelStatistics(target?: V2ModelTarget, options?: CallOptions): Promise<V2ModelStatistics[]> {
    const request = {
      name: target?.name ?? '',
      version: target?.version === undefined ? '' : String(target.version),
    };
    return statisticsList(await this.call('ModelStatistics', request, options));
  }

  async repositoryIndex(filter: { ready?: boolean } = {}, options?: CallOptions): Promise<V2RepositoryModel[]> {
    const response = await this.call<{ models?: Partial<V2RepositoryModel>[] }>(
      'RepositoryIndex',
      { repository_name: '', ready: filter.ready ?? false },
      options,
    );
    return (response.models ?? []).map((m) => ({
      name: m.name ?? '',
      ...(m.version ? { version: m.version } : {}),
      state: m.state ?? '',
      reason: m.reason ?? '',
    }));
  }

  async loadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void> {
    const request = { repository_name: '', model_name: name, parameters: repositoryParameters(parameters) };
    await this.call('RepositoryModelLoad', request, options);
  }

  async unloadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void> {
    const request = { repository_name: '', model_name: name, parameters: repositoryParameters(parameters) };
    await this.call('RepositoryModelUnload', request, options);
  }

  close(): void {
    this.client.close();
  }
}
