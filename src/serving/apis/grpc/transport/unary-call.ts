/** A unary call on flowserve's gRPC transport, as grpc-js's ServerUnaryCall presents it to a handler. */
import type { Metadata } from '@grpc/grpc-js';
import { GrpcCall } from './call.js';

type UnaryCallback = (err: unknown, value?: unknown, trailer?: Metadata) => void;

/** A unary call: one request message, then the handler, then one response or a status. */
export class UnaryCall extends GrpcCall {
  request: unknown = undefined;
  private received = false;

  protected onStart(): void {}

  protected onMessage(message: unknown): void {
    if (this.received) {
      this.unimplemented(`Received a second request message for server streaming method ${this.method.path}`);
      return;
    }
    this.received = true;
    this.request = message;
  }

  protected onRequestEnd(): void {
    if (!this.received) {
      this.unimplemented(`Received no request message for server streaming method ${this.method.path}`);
      return;
    }
    const callback: UnaryCallback = (err, value, trailer) => {
      if (err) this.fail(err);
      else if (trailer) {
        if (this.sendMessage(value)) this.sendStatus({ code: 0, details: '', metadata: trailer });
      } else this.sendOnlyMessage(value);
    };
    try {
      (this.method.handler as (call: UnaryCall, callback: UnaryCallback) => void)(this, callback);
    } catch (err) {
      this.fail(err);
    }
  }
}
