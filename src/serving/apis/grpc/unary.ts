/** Wraps a request handler as a grpc-js-style unary handler: errors go through toGrpcStatus, timing to the observer. */
import type { Deadline as GrpcDeadline, handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
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
  /** The client connection the call came on (flowserve's transport: the HTTP/2 session); undefined with grpc-js. */
  connection: object | undefined;
}

/** flowserve's transport names a call's connection (GrpcCall.getConnection); grpc-js's calls do not. */
function connectionOf(call: ServerUnaryCall<unknown, unknown>): object | undefined {
  const named = call as { getConnection?: () => object | undefined };
  return typeof named.getConnection === 'function' ? named.getConnection() : undefined;
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
 * request: docs/performance.md, "Serving"). A class rather than closures: one object per call.
 */
class UnaryCallContext implements CallContext {
  readonly deadline: number | undefined;
  readonly connection: object | undefined;
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private onCancel: (() => void) | undefined;
  private finished = false;

  constructor(private readonly call: ServerUnaryCall<unknown, unknown>) {
    this.deadline = deadlineMs(call.getDeadline());
    this.connection = connectionOf(call);
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    // A handler reading the signal after the call ended (it never should) gets one that stays as the call left it.
    if (this.finished) return controller.signal;
    this.onCancel = () => controller.abort(new Cancelled('the client cancelled the call or disconnected'));
    this.call.once('cancelled', this.onCancel);
    if (this.call.cancelled) this.onCancel();
    // The transport answers DEADLINE_EXCEEDED itself; the timer makes sure the handler hears of it as well.
    // setTimeout fires at once past 2^31-1 ms: a deadline further off than those 24.8 days needs no timer.
    if (this.deadline !== undefined && this.deadline - Date.now() <= 2 ** 31 - 1) {
      this.timer = setTimeout(
        () => controller.abort(new DeadlineExceeded("the call's deadline passed")),
        Math.max(0, this.deadline - Date.now()),
      );
    }
    return controller.signal;
  }

  done(): void {
    this.finished = true;
    if (!this.onCancel) return;
    clearTimeout(this.timer);
    this.call.removeListener('cancelled', this.onCancel);
  }
}

/**
 * A request handler as a grpc-js-style unary handler (served by either transport): the handler runs at once, its
 * result or error is answered through the callback (errors through toGrpcStatus) and reported to the observer.
 */
export function unary<Req, Res extends object>(
  handler: (request: Req, context: CallContext) => Promise<Res> | Res,
  options: UnaryOptions<Req, Res>,
): handleUnaryCall<Req, Res> {
  const { observe } = options;
  const report = (call: ServerUnaryCall<Req, Res>, started: bigint, status: string, version?: number) => {
    if (!observe) return;
    observe({
      model: call.request instanceof UndecodableRequest ? '' : (options.modelOf?.(call.request) ?? ''),
      version,
      api: options.api,
      entrypoint: 'GRPC',
      ...(options.protocol ? { protocol: options.protocol } : {}),
      status,
      latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
    });
  };
  const answer = (
    call: ServerUnaryCall<Req, Res>,
    callback: sendUnaryData<Res>,
    started: bigint,
    response: Res,
  ): void => {
    callback(null, response);
    const version = options.versionOf
      ? options.versionOf(response)
      : (response as { model_spec?: ModelSpecMsg }).model_spec?.version?.value;
    report(call, started, 'OK', version === undefined ? undefined : Number(version));
  };
  const fail = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>, started: bigint, err: unknown) => {
    callback(toGrpcStatus(err));
    report(call, started, toFlowserveError(err).codeName);
  };
  return (call, callback) => {
    const context = new UnaryCallContext(call as ServerUnaryCall<unknown, unknown>);
    const started = observe ? process.hrtime.bigint() : 0n;
    let result: Promise<Res> | Res;
    try {
      if (call.request instanceof UndecodableRequest) throw call.request.toError();
      result = handler(call.request, context);
    } catch (err) {
      context.done();
      fail(call, callback, started, err);
      return;
    }
    if (!(result instanceof Promise)) {
      context.done();
      answer(call, callback, started, result);
      return;
    }
    result.then(
      (response) => {
        context.done();
        answer(call, callback, started, response);
      },
      (err: unknown) => {
        context.done();
        fail(call, callback, started, err);
      },
    );
  };
}

export function specModel(request: { model_spec?: ModelSpecMsg }): string | undefined {
  return request.model_spec?.name;
}
