/** tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest over the core. */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServingCore } from '../../core/types.js';
import { modelStatus, statusResponse } from '../shared/model-status.js';
import type {
  GetModelStatusRequestMsg,
  GetModelStatusResponseMsg,
  ReloadConfigRequestMsg,
  ReloadConfigResponseMsg,
} from '../shared/proto-types.js';
import type { RequestObserver } from '../shared/request-event.js';
import { specModel, unary, type CallContext } from './unary.js';

export function modelService(core: ServingCore, observe?: RequestObserver): UntypedServiceImplementation {
  function getModelStatus(request: GetModelStatusRequestMsg): GetModelStatusResponseMsg {
    return statusResponse(modelStatus(core, request.model_spec));
  }

  /**
   * Blocks until the new config's models are available (or failed); errors fail the RPC, as in TF Serving. A call
   * cancelled by its client (deadline, disconnect) cancels the reload (ServingCore.reloadConfig).
   */
  async function reload(request: ReloadConfigRequestMsg, call: CallContext): Promise<ReloadConfigResponseMsg> {
    await core.reloadConfig(request.config ?? {}, { signal: call.signal });
    return {
      status: { error_code: 0, error_message: '' },
      // Metric deltas are not tracked; each requested name is answered with an increase of 0.
      metric: (request.metric_names ?? []).map((name) => ({ name, int64_value_increase: 0 })),
    };
  }

  return {
    GetModelStatus: unary(getModelStatus, { api: 'GetModelStatus', observe, modelOf: specModel }),
    HandleReloadConfigRequest: unary(reload, { api: 'HandleReloadConfigRequest', observe }),
  };
}
