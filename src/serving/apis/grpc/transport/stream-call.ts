/** Server-streaming and bidirectional calls on flowserve's gRPC transport, as grpc-js's stream calls present them. */
import { GrpcCall } from './call.js';

/**
 * A server-streaming or bidirectional call, as grpc-js's ServerWritableStream / ServerDuplexStream present it:
 * write(), end(), 'data' and 'end' events with pause()/resume(), and an 'error' emitted by the handler ends the call
 * with that status.
 */
export class StreamCall extends GrpcCall {
  request: unknown = undefined;
  private received = false;
  private paused = false;
  private readonly queue: unknown[] = [];
  private halfClosed = false;
  private handlerStarted = false;

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  protected onStart(): void {
    this.on('error', (err: unknown) => this.fail(err));
    if (this.method.kind === 'bidi') this.runHandler();
  }

  private runHandler(): void {
    this.handlerStarted = true;
    try {
      (this.method.handler as (call: StreamCall) => void)(this);
    } catch (err) {
      this.fail(err);
    }
  }

  protected onMessage(message: unknown): void {
    if (this.method.kind === 'serverStream') {
      if (this.received) {
        this.unimplemented(`Received a second request message for server streaming method ${this.method.path}`);
        return;
      }
      this.received = true;
      this.request = message;
      return;
    }
    if (this.paused || this.queue.length > 0) this.queue.push(message);
    else this.emit('data', message);
  }

  protected onRequestEnd(): void {
    if (this.method.kind === 'serverStream') {
      if (!this.received) {
        this.unimplemented(`Received no request message for server streaming method ${this.method.path}`);
        return;
      }
      this.runHandler();
      return;
    }
    if (this.queue.length === 0 && !this.paused) this.emit('end');
    else this.halfClosed = true;
  }

  pause(): this {
    this.paused = true;
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.paused = false;
    while (!this.paused && this.queue.length > 0 && !this.finished) this.emit('data', this.queue.shift());
    if (this.paused) return this;
    if (this.halfClosed && this.queue.length === 0 && this.handlerStarted) {
      this.halfClosed = false;
      this.emit('end');
    }
    this.stream.resume();
    return this;
  }

  write(value: unknown, callback?: (error?: Error | null) => void): boolean {
    const sent = this.sendMessage(value, callback);
    if (!sent) callback?.();
    return sent;
  }

  end(): this {
    this.sendStatus({ code: 0, details: '' });
    return this;
  }
}
