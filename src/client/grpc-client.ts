/** ServingClient over gRPC, wire-compatible with TensorFlow Serving (usable against either server). */
import type { ChannelCredentials, Client } from '@grpc/grpc-js';
import type { HostTensor } from '../graph/host-tensor.js';
import type {
  ClassificationResponseMsg,
  ExampleMsg,
  FeatureMsg,
  GetModelMetadataResponseMsg,
  GetModelStatusResponseMsg,
  ModelSpecMsg,
  PredictResponseMsg,
  RegressionResponseMsg,
  TensorProtoMsg,
} from '../serving/apis/shared/proto-types.js';
import { loadServicePackageDefinition, protobufRoot } from '../serving/apis/shared/protos.js';
import { errorCodeName, versionStateName } from '../serving/apis/shared/status-codes.js';
import { decodeTensorProto, encodeTensorProto } from '../serving/apis/shared/tensor-proto.js';
import type { VersionState, VersionStatus } from '../serving/core/types.js';
import { openChannel, unaryCall, type AnyMethod } from './grpc-unary.js';
import { signaturesFromDefs } from './signatures.js';
import type {
  CallOptions,
  ClassifyResult,
  ExampleInput,
  ModelMetadata,
  ModelTarget,
  PredictOptions,
  PredictResult,
  RegressResult,
  ReloadModel,
  ServedModel,
  ServingClient,
} from './types.js';

export function modelSpec(target: ModelTarget): ModelSpecMsg {
  const spec: ModelSpecMsg = { name: target.name };
  if (target.version !== undefined) spec.version = { value: String(target.version) };
  else if (target.label !== undefined) spec.version_label = target.label;
  if (target.signatureName) spec.signature_name = target.signatureName;
  return spec;
}

export function servedModel(spec: ModelSpecMsg | undefined): ServedModel {
  const version = spec?.version?.value;
  return {
    name: spec?.name ?? '',
    version: version === undefined ? undefined : Number(version),
    signatureName: spec?.signature_name,
  };
}

function feature(values: ExampleInput[string]): FeatureMsg {
  const first = values[0];
  if (typeof first === 'bigint') return { int64_list: { value: (values as bigint[]).map(String) } };
  if (typeof first === 'string') return { bytes_list: { value: (values as string[]).map((s) => Buffer.from(s)) } };
  if (first instanceof Uint8Array) return { bytes_list: { value: values as Uint8Array[] } };
  return { float_list: { value: values as number[] } };
}

export function exampleMsg(example: ExampleInput): ExampleMsg {
  return { features: { feature: Object.fromEntries(Object.entries(example).map(([k, v]) => [k, feature(v)])) } };
}

function exampleInput(examples: ExampleInput[], context?: ExampleInput) {
  const list = examples.map(exampleMsg);
  return context
    ? { example_list_with_context: { examples: list, context: exampleMsg(context) } }
    : { example_list: { examples: list } };
}

export interface GrpcClientOptions {
  /** Numbers as tensor_content (as tf.make_tensor_proto does) rather than typed fields. Default true. */
  tensorContent?: boolean;
  /** Largest response accepted; default unlimited (TF Serving's own clients default to 4 MiB). */
  maxReceiveMessageBytes?: number;
  /** Channel credentials, e.g. `credentials.createSsl(ca, key, cert)` for a TLS/mTLS server; default plaintext. */
  credentials?: ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on every call (servers started with --auth_token_file). */
  authToken?: string;
}

export class GrpcServingClient implements ServingClient {
  readonly api = 'grpc' as const;
  private readonly client: Client;
  private readonly methods: Record<string, AnyMethod> = {};

  constructor(
    address: string,
    private readonly options: GrpcClientOptions = {},
  ) {
    this.client = openChannel(address, options);
    const definition = loadServicePackageDefinition();
    for (const service of ['tensorflow.serving.PredictionService', 'tensorflow.serving.ModelService']) {
      const methods = definition[service] as unknown as Record<string, AnyMethod>;
      for (const [name, method] of Object.entries(methods)) this.methods[name] = method;
    }
  }

  /** One unary call; server errors become ServingClientError with the gRPC code and details. */
  call<Res>(method: string, request: object, options: CallOptions = {}): Promise<Res> {
    return unaryCall(this.client, this.methods[method], method, request, this.options.authToken, options);
  }

  async predict(
    target: ModelTarget,
    inputs: Record<string, HostTensor>,
    options: PredictOptions = {},
  ): Promise<PredictResult> {
    const tensorContent = this.options.tensorContent ?? true;
    const protos: Record<string, TensorProtoMsg> = {};
    for (const [alias, tensor] of Object.entries(inputs)) protos[alias] = encodeTensorProto(tensor, { tensorContent });
    const request = { model_spec: modelSpec(target), inputs: protos, output_filter: options.outputFilter ?? [] };
    const response = await this.call<PredictResponseMsg>('Predict', request, options);
    const outputs: Record<string, HostTensor> = {};
    for (const [alias, proto] of Object.entries(response.outputs ?? {}))
      outputs[alias] = decodeTensorProto(proto, alias);
    return { outputs, model: servedModel(response.model_spec) };
  }

  async classify(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<ClassifyResult> {
    const request = { model_spec: modelSpec(target), input: exampleInput(examples, context) };
    const response = await this.call<ClassificationResponseMsg>('Classify', request, options);
    return {
      classifications: (response.result?.classifications ?? []).map((c) =>
        (c.classes ?? []).map((k) => ({ label: k.label ?? '', score: k.score ?? 0 })),
      ),
      model: servedModel(response.model_spec),
    };
  }

  async regress(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<RegressResult> {
    const request = { model_spec: modelSpec(target), input: exampleInput(examples, context) };
    const response = await this.call<RegressionResponseMsg>('Regress', request, options);
    return {
      values: (response.result?.regressions ?? []).map((r) => r.value ?? 0),
      model: servedModel(response.model_spec),
    };
  }

  async metadata(target: ModelTarget, options?: CallOptions): Promise<ModelMetadata> {
    const request = { model_spec: modelSpec(target), metadata_field: ['signature_def'] };
    const response = await this.call<GetModelMetadataResponseMsg>('GetModelMetadata', request, options);
    const any = response.metadata?.signature_def;
    const type = protobufRoot().lookupType('tensorflow.serving.SignatureDefMap');
    const map = any?.value
      ? type.toObject(type.decode(any.value), { longs: String, defaults: false, arrays: true })
      : {};
    return { model: servedModel(response.model_spec), signatures: signaturesFromDefs(map) };
  }

  async status(target: ModelTarget, options?: CallOptions): Promise<VersionStatus[]> {
    const spec: ModelSpecMsg = { name: target.name };
    if (target.version !== undefined) spec.version = { value: String(target.version) };
    const response = await this.call<GetModelStatusResponseMsg>('GetModelStatus', { model_spec: spec }, options);
    return (response.model_version_status ?? []).map((s) => {
      const status: VersionStatus = {
        version: Number(s.version ?? 0),
        state: versionStateName(s.state ?? 0) as VersionState,
      };
      if (s.status?.error_code)
        status.error = { code: errorCodeName(s.status.error_code), message: s.status.error_message ?? '' };
      return status;
    });
  }

  async reload(models: ReloadModel[], options?: CallOptions): Promise<void> {
    const config = {
      model_config_list: {
        config: models.map((m) => ({
          name: m.name,
          base_path: m.basePath,
          model_platform: m.modelPlatform ?? 'tensorflow',
          ...(m.versionPolicy ? { model_version_policy: versionPolicyMsg(m.versionPolicy) } : {}),
          ...(m.versionLabels
            ? { version_labels: Object.fromEntries(Object.entries(m.versionLabels).map(([k, v]) => [k, String(v)])) }
            : {}),
        })),
      },
    };
    await this.call('HandleReloadConfigRequest', { config }, options);
  }

  close(): void {
    this.client.close();
  }
}

function versionPolicyMsg(policy: NonNullable<ReloadModel['versionPolicy']>): object {
  if ('latest' in policy) return { latest: { num_versions: policy.latest } };
  if ('all' in policy) return { all: {} };
  return { specific: { versions: policy.specific.map(String) } };
}
