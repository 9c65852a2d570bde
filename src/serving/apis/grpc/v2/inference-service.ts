/**
 * inference.GRPCInferenceService (the Open Inference Protocol over gRPC, with Triton's extensions): decode → the
 * transport-neutral v2 core (src/serving/apis/v2/) → encode. No serving logic lives here.
 * ModelInfer and ModelStreamInfer read and write their messages with the project's own codecs
 * (infer-request-wire.ts, infer-response-wire.ts); the other RPCs use @grpc/proto-loader's.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServingCore } from '../../../core/types.js';
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

export function inferenceService(core: ServingCore, options: InferenceServiceOptions): UntypedServiceImplementation {
  const common = { observe: options.observe };
  const byName = { ...common, modelOf: (r: ModelRequest) => r.name };

  const modelInfer = (wire: ModelInferWire, call: CallContext) =>
    modelInferOnce(core, wire, call.deadline, options.maxSendMessageBytes);

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
  };
}
