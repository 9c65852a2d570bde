/** tensorflow.serving.PredictionService: decode → ServingCore → encode. No serving logic lives here. */
import { setImmediate } from 'node:timers/promises';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { dtypeFromTf } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { InvalidArgument, Unimplemented } from '../../../errors.js';
import { METHOD_CLASSIFY, METHOD_REGRESS, type ServingCore } from '../../core/types.js';
import {
  allocateForRequest,
  holdsLargeTensor,
  LARGE_TENSOR_BYTES,
  LARGE_TENSOR_STRINGS,
  storageWith,
  takenInSlices,
} from '../../request-buffers.js';
import { classify, regress } from '../shared/inference.js';
import { responseSpec, targetFromSpec } from '../shared/model-spec.js';
import type {
  ClassificationResponseMsg,
  GetModelMetadataRequestMsg,
  GetModelMetadataResponseMsg,
  InferenceResultMsg,
  MultiInferenceResponseMsg,
  RegressionResponseMsg,
  TensorProtoMsg,
} from '../shared/proto-types.js';
import { protobufRoot, SIGNATURE_DEF_MAP_TYPE_URL } from '../shared/protos.js';
import type { RequestObserver } from '../shared/request-event.js';
import { signatureDefMap } from '../shared/signature-def.js';
import { decodedBytesHeld, decodeTensorProto, type EncodeOptions, type TensorStorage } from '../shared/tensor-proto.js';
import { admitExamples, type ExampleRequestWire, type MultiInferenceRequestWire } from './examples-wire.js';
import { encodePredictResponseInTurns, type PredictWireRequest, type PredictWireResponse } from './predict-wire.js';
import { checkReplyBytes, protoTensorBytes } from '../shared/reply-limit.js';
import { specModel, unary, type CallContext } from './unary.js';

/** A string input of more elements than LARGE_TENSOR_STRINGS declared (its decode makes a view of each). */
function isLargeStringInput(proto: TensorProtoMsg): boolean {
  if (dtypeFromTf(proto.dtype ?? 0) !== 'string') return false;
  let elements = 1;
  for (const dim of proto.tensor_shape?.dim ?? []) elements *= Number(dim.size ?? 0);
  return elements > LARGE_TENSOR_STRINGS;
}

export interface PredictionServiceOptions extends EncodeOptions {
  observe?: RequestObserver;
}

export function predictionService(
  core: ServingCore,
  options: PredictionServiceOptions = {},
): UntypedServiceImplementation {
  const signatureDefMapType = protobufRoot().lookupType('tensorflow.serving.SignatureDefMap');
  const common = { observe: options.observe, modelOf: specModel };

  /** The call's deadline and connection, for requests that reach a queue. */
  const until = (call: CallContext) => ({
    ...(call.deadline === undefined ? {} : { deadline: call.deadline }),
    ...(call.connection === undefined ? {} : { connection: call.connection }),
  });

  async function predict(request: PredictWireRequest, call: CallContext): Promise<PredictWireResponse> {
    const { selector, signatureName } = targetFromSpec(request.model_spec);
    // Every input is admitted from its header (signature, limits) before any memory is allocated for it.
    const { admission } = core.admission(selector, signatureName);
    const sent = Object.entries(request.inputs ?? {});
    admission.checkNames(sent.map(([alias]) => alias));
    const inputs: Record<string, HostTensor> = {};
    for (const [alias, proto] of sent) {
      // grpc-js assembled the message in this turn of the event loop (48 MiB: ~35 ms): copy a large tensor in a turn
      // of its own, so that no turn holds the loop for both.
      let storage: TensorStorage = allocateForRequest;
      if (proto.wireBody.byteLength > LARGE_TENSOR_BYTES || isLargeStringInput(proto)) {
        await setImmediate();
        // Its storage's pages are taken a slice a turn first (fresh memory's first write is dear on some machines),
        // never more than the request holds and only within --max_input_bytes; admission still decides.
        const bytes = decodedBytesHeld(proto, proto.wireBody.byteLength);
        if (bytes !== undefined && bytes <= core.limits.maxInputBytes)
          storage = storageWith(await takenInSlices(bytes));
      }
      inputs[alias] = decodeTensorProto(proto, alias, (header) => admission.admit(alias, header), storage);
    }
    // The hand-off to a worker, which walks a large input once more (50,000 strings: 20–40 ms on a slow machine), gets
    // a turn of its own in core.run (request-buffers.ts, readyForHandOff).
    const result = await core.run({
      model: selector,
      signatureName,
      inputs,
      outputFilter: request.output_filter,
      inputsOwned: true,
      ...until(call),
    });
    // The reply's strings were unpacked from the worker's message in this turn: a large reply is checked and encoded
    // in a turn of its own, so that no turn holds the loop for both (50,000 strings: 40–100 ms in one turn on a slow
    // machine, where the event-loop test bounds a turn at 50 ms).
    const largeReply = holdsLargeTensor(Object.values(result.outputs));
    if (largeReply) await setImmediate();
    checkReplyBytes(result.outputs, core.limits.maxResponseBytes, protoTensorBytes);
    // Serialized by predict-wire straight from the typed arrays: in the transport, once this returns, or for a large
    // reply here, in turns of its own after the check's.
    const response: PredictWireResponse = {
      outputs: result.outputs,
      model_spec: responseSpec(result.modelName, result.version, result.signatureName),
      tensorContent: options.tensorContent ?? false,
    };
    if (largeReply) {
      await setImmediate();
      response.encoded = await encodePredictResponseInTurns(response);
    }
    return response;
  }

  const examplesOf = (request: ExampleRequestWire | MultiInferenceRequestWire) =>
    admitExamples(request, core.maxExamplesPerRequest);

  async function classifyRpc(request: ExampleRequestWire, call: CallContext): Promise<ClassificationResponseMsg> {
    const { selector, signatureName } = targetFromSpec(request.model_spec);
    const outcome = await classify(core, { selector, signatureName, examples: examplesOf(request), ...until(call) });
    return {
      result: { classifications: outcome.classifications.map((classes) => ({ classes })) },
      model_spec: responseSpec(outcome.modelName, outcome.version, outcome.signatureName),
    };
  }

  async function regressRpc(request: ExampleRequestWire, call: CallContext): Promise<RegressionResponseMsg> {
    const { selector, signatureName } = targetFromSpec(request.model_spec);
    const outcome = await regress(core, { selector, signatureName, examples: examplesOf(request), ...until(call) });
    return {
      result: { regressions: outcome.values.map((value) => ({ value })) },
      model_spec: responseSpec(outcome.modelName, outcome.version, outcome.signatureName),
    };
  }

  /** multi_inference.cc's checks, then one classify/regress per task on the version tasks[0] selects. */
  async function multiInference(
    request: MultiInferenceRequestWire,
    call: CallContext,
  ): Promise<MultiInferenceResponseMsg> {
    const tasks = request.tasks ?? [];
    if (tasks.length === 0) throw new InvalidArgument('ModelSpec has no name specified.');
    const modelName = tasks[0]?.model_spec?.name;
    const seen = new Set<string>();
    for (const task of tasks) {
      if (!task.model_spec?.name) throw new InvalidArgument('Found ModelSpec with an empty model name.');
      if (task.model_spec.name !== modelName) {
        throw new InvalidArgument('All ModelSpecs in a MultiInferenceRequest must access the same model name.');
      }
      const signature = task.model_spec.signature_name ?? '';
      if (seen.has(signature)) throw new InvalidArgument(`Duplicate evaluation of signature: ${signature}`);
      seen.add(signature);
      if (task.method_name !== METHOD_CLASSIFY && task.method_name !== METHOD_REGRESS) {
        throw new Unimplemented(`Unsupported signature method_name: ${task.method_name ?? ''}`);
      }
    }
    const { selector } = targetFromSpec(tasks[0]?.model_spec);
    const examples = examplesOf(request);
    const results = await Promise.all(
      tasks.map(async (task): Promise<InferenceResultMsg> => {
        const signatureName = task.model_spec?.signature_name || undefined;
        if (task.method_name === METHOD_CLASSIFY) {
          const o = await classify(core, { selector, signatureName, examples, ...until(call) });
          return {
            model_spec: responseSpec(o.modelName, o.version, o.signatureName),
            classification_result: { classifications: o.classifications.map((classes) => ({ classes })) },
          };
        }
        const o = await regress(core, { selector, signatureName, examples, ...until(call) });
        return {
          model_spec: responseSpec(o.modelName, o.version, o.signatureName),
          regression_result: { regressions: o.values.map((value) => ({ value })) },
        };
      }),
    );
    return { results };
  }

  function getModelMetadata(request: GetModelMetadataRequestMsg): GetModelMetadataResponseMsg {
    const { selector } = targetFromSpec(request.model_spec);
    const fields = request.metadata_field ?? [];
    if (fields.length === 0) {
      throw new InvalidArgument('GetModelMetadataRequest must specify at least one metadata_field');
    }
    for (const field of fields) {
      if (field !== 'signature_def') throw new InvalidArgument(`Metadata field ${field} is not supported`);
    }
    const info = core.info(selector);
    const value = signatureDefMapType.encode(signatureDefMapType.fromObject(signatureDefMap(info))).finish();
    return {
      // TF Serving sets only name and version here.
      model_spec: responseSpec(info.modelName, info.version),
      metadata: { signature_def: { type_url: SIGNATURE_DEF_MAP_TYPE_URL, value: Buffer.from(value) } },
    };
  }

  return {
    Predict: unary(predict, { api: 'Predict', ...common }),
    Classify: unary(classifyRpc, { api: 'Classify', ...common }),
    Regress: unary(regressRpc, { api: 'Regress', ...common }),
    MultiInference: unary(multiInference, {
      api: 'MultiInference',
      observe: options.observe,
      modelOf: (r: MultiInferenceRequestWire) => r.tasks[0]?.model_spec?.name,
    }),
    GetModelMetadata: unary(getModelMetadata, { api: 'GetModelMetadata', ...common }),
  };
}
