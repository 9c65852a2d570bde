/** Wraps an async request handler as a grpc-js unary handler: errors go through toGrpcStatus, timing to the observer. */
import type { handleUnaryCall } from '@grpc/grpc-js';
import { toFlowserveError } from '../../../errors.js';
import type { ModelSpecMsg } from '../shared/proto-types.js';
import type { RequestObserver } from '../shared/request-event.js';
import { UndecodableRequest } from './request-decoding.js';
import { toGrpcStatus } from './status.js';

export interface UnaryOptions<Req> {
  api: string;
  observe?: RequestObserver;
  /** The model a request addresses, for metrics. */
  modelOf?: (request: Req) => string | undefined;
}

export function unary<Req, Res extends object>(
  handler: (request: Req) => Promise<Res> | Res,
  options: UnaryOptions<Req>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const report = (status: string, version?: number) => {
      if (!options.observe) return;
      options.observe({
        model: call.request instanceof UndecodableRequest ? '' : (options.modelOf?.(call.request) ?? ''),
        version,
        api: options.api,
        entrypoint: 'GRPC',
        status,
        latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    };
    Promise.resolve()
      .then(() => {
        if (call.request instanceof UndecodableRequest) throw call.request.toError();
        return handler(call.request);
      })
      .then(
        (response) => {
          callback(null, response);
          const version = (response as { model_spec?: ModelSpecMsg }).model_spec?.version?.value;
          report('OK', version === undefined ? undefined : Number(version));
        },
        (err: unknown) => {
          callback(toGrpcStatus(err));
          report(toFlowserveError(err).codeName);
        },
      );
  };
}

export function specModel(request: { model_spec?: ModelSpecMsg }): string | undefined {
  return request.model_spec?.name;
}
