/** Wraps an async request handler as a grpc-js unary handler: errors go through toGrpcStatus, timing to the observer. */
import type { Deadline as GrpcDeadline, handleUnaryCall, ServerUnaryCall } from '@grpc/grpc-js';
import { Cancelled, DeadlineExceeded, toFlowserveError } from '../../../errors.js';
import type { ModelSpecMsg } from '../shared/proto-types.js';
import type { RequestObserver } from '../shared/request-event.js';
import { UndecodableRequest } from './request-decoding.js';
import { toGrpcStatus } from './status.js';

export interface UnaryOptions<Req, Res = unknown> {
  api: string;
  observe?: RequestObserver;
  /** The model a request addresses, for metrics. */
  modelOf?: (request: Req) => string | undefined;
  /** Which API family the method belongs to, for the metrics' protocol label (default v1). */
  protocol?: 'v1' | 'v2';
  /** The version that served a response, for metrics (default: the response's model_spec.version). */
  versionOf?: (response: Res) => number | undefined;
}

/** What a handler knows of its call besides the request. */
export interface CallContext {
  /** Aborted when the client cancels, disconnects, or its deadline passes. */
  signal: AbortSignal;
  /** The call's deadline as Date.now() ms; undefined when the client set none. */
  deadline: number | undefined;
}

/** grpc-js gives a Date, a number of ms, or Infinity for "none". */
export function deadlineMs(deadline: GrpcDeadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The call's cancellation as an AbortSignal, plus its deadline; `done` releases what the signal holds. The signal is
 * made when a handler first reads it: only long RPCs (config reload, repository load/unload) do, so an inference call
 * pays for no AbortController, 'cancelled' listener or deadline timer (they were ~3 % of the main thread's time per
 * request: docs/performance.md, "Serving").
 */
function callContext(call: ServerUnaryCall<unknown, unknown>): CallContext & { done(): void } {
  const deadline = deadlineMs(call.getDeadline());
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;
  const onCancel = () => controller?.abort(new Cancelled('the client cancelled the call or disconnected'));
  const signal = (): AbortSignal => {
    if (controller) return controller.signal;
    controller = new AbortController();
    // A handler reading the signal after the call ended (it never should) gets one that stays as the call left it.
    if (finished) return controller.signal;
    call.once('cancelled', onCancel);
    if (call.cancelled) onCancel();
    // grpc-js answers DEADLINE_EXCEEDED itself; the timer makes sure the handler hears of it as well.
    if (deadline !== undefined) {
      const c = controller;
      timer = setTimeout(
        () => c.abort(new DeadlineExceeded("the call's deadline passed")),
        Math.max(0, deadline - Date.now()),
      );
    }
    return controller.signal;
  };
  return {
    get signal() {
      return signal();
    },
    deadline,
    done: () => {
      finished = true;
      if (!controller) return;
      clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

export function unary<Req, Res extends object>(
  handler: (request: Req, context: CallContext) => Promise<Res> | Res,
  options: UnaryOptions<Req, Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const context = callContext(call as ServerUnaryCall<unknown, unknown>);
    const started = process.hrtime.bigint();
    const report = (status: string, version?: number) => {
      if (!options.observe) return;
      options.observe({
        model: call.request instanceof UndecodableRequest ? '' : (options.modelOf?.(call.request) ?? ''),
        version,
        api: options.api,
        entrypoint: 'GRPC',
        ...(options.protocol ? { protocol: options.protocol } : {}),
        status,
        latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    };
    Promise.resolve()
      .then(() => {
        if (call.request instanceof UndecodableRequest) throw call.request.toError();
        return handler(call.request, context);
      })
      .finally(() => context.done())
      .then(
        (response) => {
          callback(null, response);
          const version = options.versionOf
            ? options.versionOf(response)
            : (response as { model_spec?: ModelSpecMsg }).model_spec?.version?.value;
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
