/**
 * inference.GRPCInferenceService (the Open Inference Protocol over gRPC, with Triton's extensions): decode → the
 * transport-neutral v2 core (src/serving/apis/v2/) → encode. No serving logic lives here.
 * ModelInfer and ModelStreamInfer read and write their messages with the project's own codecs
 * (infer-request-wire.ts, infer-response-wire.ts); the other RPCs use @grpc/proto-loader's.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServingCore } from '../../../core/types.js';
import { modelConfigV2 } from '../../v2/config.js';
import {
  repositoryIndexV2,
  repositoryLoadV2,
  repositoryUnloadV2,
  type V2RepositoryParameters,
} from '../../v2/repository.js';
import { modelStatisticsV2 } from '../../v2/statistics.js';
import { modelMetadataV2, modelReadyV2, serverLiveV2, serverMetadataV2, serverReadyV2 } from '../../v2/metadata.js';
import type { RequestObserver } from '../../shared/request-event.js';
import { unary, type CallContext } from '../unary.js';
import type { ModelInferWire } from './infer-request-wire.js';
import { modelInferOnce, type EncodedInferResponse } from './model-infer.js';
import { modelStreamInfer } from './stream-infer.js';

export interface InferenceServiceOptions {
  observe?: RequestObserver;
  /** The largest response message this service sends (--max_v2_grpc_message_bytes). */
  maxSendMessageBytes: number;
}

/** Name and version of ModelReady/ModelMetadata/ModelConfig/ModelStatistics requests. */
interface ModelRequest {
  name?: string;
  version?: string;
}

/** ModelRepositoryParameter as proto-loader decodes it (oneofs: the chosen field's name, then its value). */
interface RepositoryParameterMsg {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  bytes_param?: Buffer;
}

/** flowserve has one model repository: repository_name is not needed and not checked (Triton's clients send ""). */
interface RepositoryChangeRequest {
  repository_name?: string;
  model_name?: string;
  parameters?: Record<string, RepositoryParameterMsg>;
}

/**
 * gRPC's ModelRepositoryParameter values as the plain values the core takes: int64 as a number (a string past
 * 2^53, as it arrived), bytes as a Buffer, a parameter with no choice set left out.
 */
function repositoryParameters(parameters: Record<string, RepositoryParameterMsg> | undefined): V2RepositoryParameters {
  const plain: V2RepositoryParameters = {};
  for (const [key, value] of Object.entries(parameters ?? {})) {
    const choice = value.parameter_choice;
    if (choice === undefined) continue;
    const raw = value[choice];
    plain[key] = choice === 'int64_param' && Number.isSafeInteger(Number(raw)) ? Number(raw) : raw;
  }
  return plain;
}

export function inferenceService(core: ServingCore, options: InferenceServiceOptions): UntypedServiceImplementation {
  const common = { observe: options.observe, protocol: 'v2' as const };
  const byName = { ...common, modelOf: (r: ModelRequest) => r.name };

  const modelInfer = (wire: ModelInferWire, call: CallContext) =>
    modelInferOnce(core, wire, call, options.maxSendMessageBytes);

  return {
    ServerLive: unary(() => ({ live: serverLiveV2() }), { api: 'ServerLive', ...common }),
    ServerReady: unary(() => ({ ready: serverReadyV2(core) }), { api: 'ServerReady', ...common }),
    ModelReady: unary((r: ModelRequest) => ({ ready: modelReadyV2(core, r.name ?? '', r.version) }), {
      api: 'ModelReady',
      ...byName,
    }),
    ServerMetadata: unary(() => serverMetadataV2(core), { api: 'ServerMetadata', ...common }),
    ModelMetadata: unary((r: ModelRequest) => modelMetadataV2(core, r.name ?? '', r.version), {
      api: 'ModelMetadata',
      ...byName,
    }),
    ModelInfer: unary(modelInfer, {
      api: 'ModelInfer',
      ...common,
      modelOf: (wire: ModelInferWire) => wire.modelName,
      versionOf: (response: EncodedInferResponse) => response.version,
    }),
    ModelStreamInfer: modelStreamInfer(core, options),
    ModelConfig: unary((r: ModelRequest) => ({ config: modelConfigV2(core, r.name ?? '', r.version) }), {
      api: 'ModelConfig',
      ...byName,
    }),
    ModelStatistics: unary((r: ModelRequest) => modelStatisticsV2(core, r.name, r.version), {
      api: 'ModelStatistics',
      ...byName,
    }),
    RepositoryIndex: unary((r: { ready?: boolean }) => ({ models: repositoryIndexV2(core, { ready: r.ready }) }), {
      api: 'RepositoryIndex',
      ...common,
    }),
    RepositoryModelLoad: unary(
      async (r: RepositoryChangeRequest, call: CallContext) => {
        await repositoryLoadV2(core, r.model_name ?? '', repositoryParameters(r.parameters), { signal: call.signal });
        return {};
      },
      { api: 'RepositoryModelLoad', ...common, modelOf: (r: RepositoryChangeRequest) => r.model_name },
    ),
    RepositoryModelUnload: unary(
      async (r: RepositoryChangeRequest, call: CallContext) => {
        await repositoryUnloadV2(core, r.model_name ?? '', repositoryParameters(r.parameters), { signal: call.signal });
        return {};
      },
      { api: 'RepositoryModelUnload', ...common, modelOf: (r: RepositoryChangeRequest) => r.model_name },
    ),
  };
}
