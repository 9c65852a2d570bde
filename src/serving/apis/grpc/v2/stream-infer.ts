/**
 * ModelStreamInfer: one ModelStreamInferResponse per ModelInferRequest, in the order the requests came. A request
 * that fails answers `error_message` (the same text a unary call's status would carry) and the stream stays open,
 * as Triton does by default (spec §7.4); with the request header `triton_grpc_error: true` (Triton's switch) the
 * first failure ends the stream with its gRPC status instead, and no later request is answered. Requests run concurrently, at most MAX_IN_FLIGHT per stream: past that
 * the stream stops reading until a response has been written, so a client that sends without reading cannot make
 * the server hold an unbounded number of requests or responses.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import { clientMessage, toFlowserveError, type FlowserveError } from '../../../../errors.js';
import type { ServingCore } from '../../../core/types.js';
import type { RequestObserver } from '../../shared/request-event.js';
import { UndecodableRequest } from '../request-decoding.js';
import { toGrpcStatus } from '../status.js';
import { deadlineMs } from '../unary.js';
import { modelInferOnce, type InferResponseEncoder } from './model-infer.js';
import type { ModelInferWire } from './infer-request-wire.js';
import { encodeModelStreamInferResponse, encodeModelStreamInferResponseInTurns } from './infer-response-wire.js';

/** Requests of one stream decoded, running or waiting for their turn to be written. */
export const MAX_IN_FLIGHT = 16;

export interface StreamInferOptions {
  observe?: RequestObserver;
  maxSendMessageBytes: number;
}

type Call = ServerDuplexStream<ModelInferWire | UndecodableRequest, Buffer>;

/** Each result as a ModelStreamInferResponse around it; a large one over turns of the event loop. */
const STREAM_RESPONSE: InferResponseEncoder = {
  whole: (result, raw) => encodeModelStreamInferResponse({ result, raw }),
  inTurns: encodeModelStreamInferResponseInTurns,
};

export function modelStreamInfer(
  core: ServingCore,
  options: StreamInferOptions,
): handleBidiStreamingCall<ModelInferWire | UndecodableRequest, Buffer> {
  return (call: Call) => {
    const deadline = deadlineMs(call.getDeadline());
    let inFlight = 0;
    let written = Promise.resolve();
    let ended = false;
    const statusOnError = call.metadata.get('triton_grpc_error')[0] === 'true';
    /** Set when a failure ends the stream (triton_grpc_error): nothing after it is written. */
    let failed = false;

    const report = (model: string, status: string, started: bigint, version?: number) =>
      options.observe?.({
        model,
        ...(version === undefined ? {} : { version }),
        api: 'ModelStreamInfer',
        entrypoint: 'GRPC',
        protocol: 'v2',
        status,
        latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });

    /** One request's response message, or the error that failed it; never rejects. */
    async function answer(request: ModelInferWire | UndecodableRequest): Promise<Buffer | FlowserveError> {
      const started = process.hrtime.bigint();
      const model = request instanceof UndecodableRequest ? '' : request.modelName;
      try {
        if (request instanceof UndecodableRequest) throw request.toError();
        const response = await modelInferOnce(
          core,
          request,
          { deadline },
          options.maxSendMessageBytes,
          STREAM_RESPONSE,
        );
        report(model, 'OK', started, response.version);
        return response.encoded;
      } catch (err) {
        const error = toFlowserveError(err);
        report(model, error.codeName, started);
        return statusOnError ? error : encodeModelStreamInferResponse({ errorMessage: clientMessage(error) });
      }
    }

    const write = (message: Buffer) =>
      new Promise<void>((resolve) => {
        if (call.cancelled || call.destroyed) resolve();
        else call.write(message, () => resolve());
      });

    call.on('data', (request: ModelInferWire | UndecodableRequest) => {
      if (failed) return;
      if (++inFlight >= MAX_IN_FLIGHT) call.pause();
      const response = answer(request);
      written = written.then(async () => {
        const outcome = await response;
        if (failed) return;
        if (!(outcome instanceof Buffer)) {
          failed = true;
          // grpc-js's duplex stream ends the call with the status of an 'error' it is given.
          call.emit('error', toGrpcStatus(outcome));
          return;
        }
        await write(outcome);
        if (--inFlight < MAX_IN_FLIGHT && !ended) call.resume();
      });
    });
    call.on('end', () => {
      ended = true;
      void written.then(() => {
        if (!call.cancelled && !failed) call.end();
      });
    });
    call.on('error', () => {
      // A stream error (cancelled, reset) ends the call; responses still owed are dropped by write().
    });
  };
}
