/**
 * One gRPC call on a node:http2 stream, shaped as the grpc-js server call its handler already reads (request,
 * metadata, getDeadline(), cancelled and its 'cancelled' event; write/end and data/end/pause/resume for streams), so
 * the handlers serve unchanged on either transport. The request is read through MessageReader (limit checked on the
 * length prefix), decompressed when flagged, and decoded with the method's deserializer; unary-call.ts and
 * stream-call.ts add what each kind of call does with its messages.
 */
import { EventEmitter } from 'node:events';
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Metadata } from '@grpc/grpc-js';
import { DeadlineExceeded, Internal, ResourceExhausted, Unimplemented } from '../../../../errors.js';
import type { ClientConnection } from '../../../worker/client-connection.js';
import { toGrpcStatus } from '../status.js';
import { ACCEPTED_ENCODINGS, decompressMessage, UnsupportedEncoding } from './compression.js';
import { framedChunks, MessageReader } from './message-framing.js';
import type { ServedMethod } from './method-table.js';
import { submitOkTrailersNow } from './prompt-trailers.js';
import { OK_TRAILERS, RESPONSE_HEADERS, statusTrailers, trailersOnly, type CallStatus } from './status-headers.js';

export interface CallLimits {
  /** The largest message received (each method has its own, ServedMethod.maxReceiveBytes, at most this). */
  maxReceiveBytes: number;
  /** The largest message sent. */
  maxSendBytes: number;
}

/** Request headers that are the transport's, not the application's (grpc-js drops the same ones). */
const TRANSPORT_HEADERS = [
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'te',
  'content-type',
];

/** A handler's error (grpc-js's ServerErrorResponse / partial StatusObject, or anything thrown) as a status. */
function statusOf(err: unknown): CallStatus {
  if (
    err !== null &&
    typeof err === 'object' &&
    typeof (err as CallStatus).code === 'number' &&
    !(err instanceof Error)
  ) {
    const status = err as Partial<CallStatus>;
    return { code: status.code as number, details: status.details ?? '', metadata: status.metadata ?? null };
  }
  if (err instanceof Error && typeof (err as Partial<CallStatus>).code === 'number' && !('grpcCode' in err)) {
    // A grpc-js ServiceError-like error: its code and details (or message).
    const e = err as Error & Partial<CallStatus>;
    return { code: e.code as number, details: e.details ?? e.message, metadata: e.metadata ?? null };
  }
  return toGrpcStatus(err);
}

/** The call a stream carries, for the listeners below: one function each for every call, no per-call closures. */
const CALL = Symbol('grpcCall');
const MAX_TIMER_MS = 2 ** 31 - 1;
type CallStream = ServerHttp2Stream & { [CALL]?: GrpcCall };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.onData(chunk);
}

function onStreamEnd(this: CallStream): void {
  this[CALL]?.onEnd();
}

function onStreamClose(this: CallStream): void {
  this[CALL]?.onClosed();
}

function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/**
 * The trailers of a reply that was its connection's only call in progress: in the reply's own turn where node:http2
 * lets us (prompt-trailers.ts), else the public way. The public way's trailers go out a turn later, in the write of
 * that turn's replies. With other calls in progress on the connection that saves a write a turn (h2load -c1 -m64:
 * 1,888 writev for 20,000 requests, against 3,723 with every reply's trailers sent promptly), so those replies keep it.
 */
function sendOkTrailersPromptly(this: ServerHttp2Stream): void {
  if (!submitOkTrailersNow(this)) this.sendTrailers(OK_TRAILERS);
}

/** respond() options: no `date` header (gRPC has no use for it, and node:http2 formats one per response otherwise). */
const RESPOND_WITH_MESSAGES = Object.freeze({ waitForTrailers: true, sendDate: false });
const RESPOND_TRAILERS_ONLY = Object.freeze({ endStream: true, sendDate: false });

export abstract class GrpcCall extends EventEmitter {
  cancelled = false;
  protected finished = false;
  private headersSent = false;
  private readonly reader: MessageReader;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private deadline = Infinity;
  /** Set while messages wait for decompression: later messages and the half-close queue behind them. */
  private pending: Promise<void> | undefined;
  private metadataValue: Metadata | undefined;

  constructor(
    protected readonly stream: ServerHttp2Stream,
    protected readonly headers: IncomingHttpHeaders,
    protected readonly method: ServedMethod,
    protected readonly limits: CallLimits,
    private readonly connection: ClientConnection,
  ) {
    super();
    this.reader = new MessageReader(method.maxReceiveBytes, method.tooLarge);
  }

  /** Starts the call: deadline, reading. `timeoutMs` is the parsed grpc-timeout, if any. */
  start(timeoutMs: number | undefined): void {
    const stream = this.stream as CallStream;
    stream[CALL] = this;
    this.connection.begin();
    stream.on('close', onStreamClose);
    if (timeoutMs !== undefined) {
      this.deadline = Date.now() + timeoutMs;
      // setTimeout fires at once past 2^31-1 ms; a deadline further off than those 24.8 days needs no timer.
      if (timeoutMs <= MAX_TIMER_MS)
        this.timer = setTimeout(() => {
          this.sendStatus(toGrpcStatus(new DeadlineExceeded('Deadline exceeded')));
          this.markCancelled();
        }, timeoutMs);
    }
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    this.onStart();
  }

  /** The request metadata as grpc-js Metadata, built only when a handler reads it. */
  get metadata(): Metadata {
    if (this.metadataValue === undefined) {
      const metadata = Metadata.fromHttp2Headers(this.headers);
      for (const name of TRANSPORT_HEADERS) metadata.remove(name);
      this.metadataValue = metadata;
    }
    return this.metadataValue;
  }

  getDeadline(): number {
    return this.deadline;
  }

  getPath(): string {
    return this.method.path;
  }

  /** The client connection the call came on, one per HTTP/2 session (RunRequest.connection). */
  getConnection(): object | undefined {
    return this.connection;
  }

  /** The call is answered or cancelled: finished, and no longer one of its connection's calls in progress. */
  private finish(): void {
    this.finished = true;
    this.connection.end();
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    return socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort ?? ''}` : 'unknown';
  }

  /** Ends the call with `status`: trailers after messages, or a Trailers-Only response. Later calls do nothing. */
  sendStatus(status: CallStatus, extraHeaders?: Record<string, string>): void {
    if (this.finished) return;
    this.finish();
    clearTimeout(this.timer);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (this.headersSent) {
      stream.once('wantTrailers', () => stream.sendTrailers(statusTrailers(status)));
      stream.end();
      return;
    }
    stream.respond(trailersOnly(status, extraHeaders), RESPOND_TRAILERS_ONLY);
    // What the client still sends is not read: RST_STREAM(NO_ERROR) after the response tells it to stop.
    if (!this.readEnded) stream.close(constants.NGHTTP2_NO_ERROR);
  }

  /** Sends one message (serialized with the method's serializer); false when the call is over. */
  protected sendMessage(value: unknown, callback?: (error?: Error | null) => void): boolean {
    if (this.finished || this.cancelled) return false;
    let message: Buffer;
    try {
      message = this.method.serialize(value);
    } catch (err) {
      this.sendStatus(toGrpcStatus(new Internal(`Error serializing response: ${(err as Error).message}`)));
      return false;
    }
    if (message.byteLength > this.limits.maxSendBytes) {
      this.sendStatus(
        toGrpcStatus(
          new ResourceExhausted(`Sent message larger than max (${message.byteLength} vs. ${this.limits.maxSendBytes})`),
        ),
      );
      return false;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEADERS, RESPOND_WITH_MESSAGES);
    }
    const chunks = framedChunks(message);
    for (let i = 0; i < chunks.length - 1; i++) this.stream.write(chunks[i]);
    this.stream.write(chunks[chunks.length - 1], callback);
    return true;
  }

  /** The unary fast path: headers, the one message and OK trailers, in as few native calls as node:http2 allows. */
  protected sendOnlyMessage(value: unknown): void {
    if (this.finished || this.cancelled) return;
    let message: Buffer;
    try {
      message = this.method.serialize(value);
    } catch (err) {
      this.sendStatus(toGrpcStatus(new Internal(`Error serializing response: ${(err as Error).message}`)));
      return;
    }
    if (message.byteLength > this.limits.maxSendBytes) {
      this.sendStatus(
        toGrpcStatus(
          new ResourceExhausted(`Sent message larger than max (${message.byteLength} vs. ${this.limits.maxSendBytes})`),
        ),
      );
      return;
    }
    const alone = this.connection.callsInProgress === 1;
    this.finish();
    clearTimeout(this.timer);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, RESPOND_WITH_MESSAGES);
    stream.on('wantTrailers', alone ? sendOkTrailersPromptly : sendOkTrailers);
    const chunks = framedChunks(message);
    for (let i = 0; i < chunks.length - 1; i++) stream.write(chunks[i]);
    stream.end(chunks[chunks.length - 1]);
  }

  private readEnded = false;

  onEnd(): void {
    if (this.pending) void this.pending.then(() => this.onHalfClose());
    else this.onHalfClose();
  }

  onData(chunk: Buffer): void {
    if (this.finished) return;
    try {
      this.reader.push(chunk, (body, compressed) => this.onMessageBytes(body, compressed));
    } catch (err) {
      this.sendStatus(toGrpcStatus(err));
    }
  }

  private onMessageBytes(body: Buffer, compressed: boolean): void {
    if (!compressed && this.pending === undefined) {
      this.decode(body);
      return;
    }
    const encoding = compressed ? (this.headers['grpc-encoding'] ?? 'identity') : 'identity';
    const next = (this.pending ?? Promise.resolve()).then(async () => {
      if (this.finished) return;
      try {
        this.decode(compressed ? await decompressMessage(body, String(encoding), this.method.maxReceiveBytes) : body);
      } catch (err) {
        this.sendStatus(
          toGrpcStatus(err),
          err instanceof UnsupportedEncoding ? { 'grpc-accept-encoding': ACCEPTED_ENCODINGS } : undefined,
        );
      }
    });
    this.pending = next;
    void next.then(() => {
      if (this.pending === next) this.pending = undefined;
    });
  }

  private decode(bytes: Buffer): void {
    if (this.finished) return;
    let message: unknown;
    try {
      message = this.method.deserialize(bytes);
    } catch (err) {
      // server.ts's deserializers never throw (request-decoding.ts); a method without that wrapper gets grpc-js's
      // answer.
      this.sendStatus(toGrpcStatus(new Internal(`Error deserializing request: ${(err as Error).message}`)));
      return;
    }
    this.onMessage(message);
  }

  private onHalfClose(): void {
    this.readEnded = true;
    if (this.finished) return;
    if (this.reader.midMessage) {
      this.sendStatus(toGrpcStatus(new Internal('the request stream ended in the middle of a message')));
      return;
    }
    this.onRequestEnd();
  }

  /** The stream closed (client reset, connection lost, or after the status): a call not finished is cancelled. */
  onClosed(): void {
    clearTimeout(this.timer);
    if (!this.finished) {
      this.finish();
      this.markCancelled();
    }
  }

  protected markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled');
  }

  protected unimplemented(details: string): void {
    this.sendStatus(toGrpcStatus(new Unimplemented(details)));
  }

  protected fail(err: unknown): void {
    this.sendStatus(statusOf(err));
  }

  /** Called once reading has begun. */
  protected abstract onStart(): void;
  protected abstract onMessage(message: unknown): void;
  protected abstract onRequestEnd(): void;
}
