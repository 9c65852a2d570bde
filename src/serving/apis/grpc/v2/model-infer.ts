/** One ModelInferRequest, for ModelInfer and for each message of ModelStreamInfer. */
import { setImmediate } from 'node:timers/promises';
import { PayloadTooLarge } from '../../../../errors.js';
import { holdsLargeTensor } from '../../../request-buffers.js';
import type { ServingCore } from '../../../core/types.js';
import { inferV2, type V2InferResult } from '../../v2/infer.js';
import { decodeInferRequest } from './infer-inputs.js';
import type { ModelInferWire } from './infer-request-wire.js';
import { encodeModelInferResponse, encodeModelInferResponseInTurns, sendsRawOutputs } from './infer-response-wire.js';

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
  /** The encoder (default: a ModelInferResponse, a large one in turns: encodeModelInferResponseInTurns). */
  encode?: (result: V2InferResult, raw: boolean) => Buffer,
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
  let encoded: Buffer;
  if (!holdsLargeTensor(result.outputs.map((output) => output.tensor))) {
    encoded = (encode ?? encodeModelInferResponse)(result, raw);
  } else if (encode) {
    // The reply's tensors came from the worker's message in this turn: a large one is encoded in a turn of its own.
    await setImmediate();
    encoded = encode(result, raw);
  } else encoded = await encodeModelInferResponseInTurns(result, raw);
  if (encoded.byteLength > maxSendMessageBytes) {
    throw new PayloadTooLarge(
      `the response to model '${result.modelName}' is ${encoded.byteLength} bytes, more than ` +
        `--max_v2_grpc_message_bytes=${maxSendMessageBytes}`,
    );
  }
  return { encoded, version: Number(result.modelVersion) };
}
