/** One ModelInferRequest, for ModelInfer and for each message of ModelStreamInfer. */
import { PayloadTooLarge } from '../../../../errors.js';
import { holdsLargeTensor } from '../../../request-buffers.js';
import type { ServingCore } from '../../../core/types.js';
import { inferV2, type V2InferResult } from '../../v2/infer.js';
import { decodeInferRequest } from './infer-inputs.js';
import type { ModelInferWire } from './infer-request-wire.js';
import { encodeModelInferResponse, encodeModelInferResponseInTurns, sendsRawOutputs } from './infer-response-wire.js';

/** How a result becomes its message: in one call, and over turns of the event loop for a reply that holds a large tensor. */
export interface InferResponseEncoder {
  whole(result: V2InferResult, raw: boolean): Buffer;
  inTurns(result: V2InferResult, raw: boolean): Promise<Buffer>;
}

/** ModelInfer's message: a ModelInferResponse. */
const MODEL_INFER_RESPONSE: InferResponseEncoder = {
  whole: encodeModelInferResponse,
  inTurns: encodeModelInferResponseInTurns,
};

/** What ModelInfer's handler returns: the response already encoded (the method's serializer passes it on). */
export interface EncodedInferResponse {
  encoded: Buffer;
  version: number;
}

/**
 * One ModelInferRequest, start to end: decoded and admitted, run, encoded; a response over the send limit is
 * refused here with RESOURCE_EXHAUSTED (as grpc-js would, but naming the flag).
 */
export async function modelInferOnce(
  core: ServingCore,
  wire: ModelInferWire,
  call: { deadline: number | undefined; connection?: object | undefined },
  maxSendMessageBytes: number,
  /** The message the result is written as (default: a ModelInferResponse). */
  encoder: InferResponseEncoder = MODEL_INFER_RESPONSE,
): Promise<EncodedInferResponse> {
  const decoding = decodeInferRequest(core, wire, call.deadline);
  const decoded = decoding instanceof Promise ? await decoding : decoding;
  const result = await inferV2(core, decoded.request, {
    target: decoded.target,
    inputsOwned: true,
    ...(decoded.deadline === undefined ? {} : { deadline: decoded.deadline }),
    ...(call.connection === undefined ? {} : { connection: call.connection }),
  });
  const raw = sendsRawOutputs(result, decoded.inputsCameRaw, decoded.request.inputs.length);
  const encoded = holdsLargeTensor(result.outputs.map((output) => output.tensor))
    ? await encoder.inTurns(result, raw)
    : encoder.whole(result, raw);
  if (encoded.byteLength > maxSendMessageBytes) {
    throw new PayloadTooLarge(
      `the response to model '${result.modelName}' is ${encoded.byteLength} bytes, more than ` +
        `--max_v2_grpc_message_bytes=${maxSendMessageBytes}`,
    );
  }
  return { encoded, version: Number(result.modelVersion) };
}
