/**
 * flowserve's own gRPC server on node:http2: the same services, handlers and wire behaviour as the grpc-js Server it
 * can replace (--grpc_transport), without grpc-js's per-call machinery (interceptor chain, channelz, Metadata objects,
 * stream decoder, per-call closures) that cost about a third of a small call's CPU (docs/performance.md, "Round 5").
 * A request is checked in this order before any message byte is read: HTTP method, content-type, path, bearer token,
 * grpc-timeout; then each message's length prefix against the receive limit.
 */
import {
  constants,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type ServerOptions,
} from 'node:http2';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgument } from '../../../../errors.js';
import { ClientConnection } from '../../../worker/client-connection.js';
import type { BearerToken } from '../../security/bearer-token.js';
import { secureContextOptions, type SslConfigFile } from '../../security/tls.js';
import { isOpenToAll } from '../auth-interceptor.js';
import { toGrpcStatus } from '../status.js';
import type { CallLimits } from './call.js';
import { StreamCall } from './stream-call.js';
import { UnaryCall } from './unary-call.js';
import { transportSettings, type TransportSettings } from '../../../config/grpc-channel-arguments.js';
import { parseGrpcTimeout } from './grpc-timeout.js';
import { methodsOf, type ServedMethod, type ServiceReceiveLimit } from './method-table.js';
import { watchSession } from './session-lifetime.js';
import { CONTENT_TYPE, trailersOnly } from './status-headers.js';

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE } = constants;

export interface FlowserveGrpcServerOptions {
  /** The largest message received (the larger of the services' limits; each service checks its own after). */
  maxReceiveBytes: number;
  maxSendBytes: number;
  /** --grpc_channel_arguments (refused here when this transport cannot honour one). */
  channelArguments?: Record<string, string | number>;
  /** --auth_token_file: checked on the request headers, before the body is read; health checks are exempt. */
  auth?: BearerToken;
}

type SessionHook = ((stream: ServerHttp2Stream) => void) | null;

/** What the server keeps per HTTP/2 session: its timers' per-call hook, and the connection its calls name. */
interface SessionState {
  hook: SessionHook;
  connection: ClientConnection;
}

function ignore(): void {}

const ENDS_STREAM = Object.freeze({ endStream: true, sendDate: false });

export class FlowserveGrpcServer {
  private readonly methods = new Map<string, ServedMethod>();
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private readonly settings: TransportSettings;
  private readonly limits: CallLimits;
  private readonly auth: BearerToken | undefined;
  private http2: Http2Server | Http2SecureServer | undefined;
  private shuttingDown = false;
  /** Whether a per-connection timer (idle, keepalive) needs to see each call. */
  private readonly countsCalls: boolean;

  constructor(options: FlowserveGrpcServerOptions) {
    this.settings = transportSettings(options.channelArguments);
    this.limits = {
      maxReceiveBytes: this.settings.maxReceiveBytes ?? options.maxReceiveBytes,
      maxSendBytes: this.settings.maxSendBytes ?? options.maxSendBytes,
    };
    this.auth = options.auth;
    this.countsCalls = this.settings.maxConnectionIdleMs !== undefined || this.settings.keepaliveTimeMs !== undefined;
  }

  /** Serves a service's methods; `receiveLimit`, when below the server's, is checked on each message's prefix. */
  addService(
    definition: ServiceDefinition,
    implementation: UntypedServiceImplementation,
    receiveLimit?: ServiceReceiveLimit,
  ): void {
    for (const method of methodsOf(definition, implementation, this.limits.maxReceiveBytes, receiveLimit)) {
      if (this.methods.has(method.path)) throw new InvalidArgument(`method ${method.path} is added twice`);
      this.methods.set(method.path, method);
    }
  }

  /** Listens on host:port (0 = ephemeral), with TLS from `tls` when given; resolves the bound port. */
  bind(host: string, port: number, tls?: SslConfigFile): Promise<number> {
    if (this.http2) return Promise.reject(new Error('the gRPC server is already bound'));
    const options: ServerOptions = {
      settings: this.settings.settings,
      maxSessionMemory: this.settings.maxSessionMemory,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    let server: Http2Server | Http2SecureServer;
    if (tls) {
      const { clientVerify } = tls.current;
      const secure: SecureServerOptions = {
        ...options,
        ...secureContextOptions(tls.current),
        requestCert: clientVerify,
        rejectUnauthorized: clientVerify,
        ALPNProtocols: ['h2'],
      };
      const secureServer = createSecureServer(secure);
      // A new key, certificate or CA applies to new connections; open ones keep theirs.
      tls.onChange((config) => secureServer.setSecureContext(secureContextOptions(config)));
      server = secureServer;
    } else {
      server = createServer(options);
    }
    server.on('session', (session: ServerHttp2Session) => this.onSession(session));
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
    this.http2 = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', ignore);
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting connections, sends GOAWAY to open ones and calls back once their calls have finished. */
  tryShutdown(callback: () => void): void {
    this.shuttingDown = true;
    let pending = 1;
    const done = () => --pending === 0 && callback();
    if (this.http2?.listening) {
      pending++;
      this.http2.close(() => done());
    }
    for (const session of this.sessions.keys()) {
      if (session.closed || session.destroyed) continue;
      pending++;
      session.close(done);
    }
    done();
  }

  /** Cuts every connection now (RST_STREAM CANCEL to calls in flight) and stops listening. */
  forceShutdown(): void {
    this.shuttingDown = true;
    for (const session of this.sessions.keys()) session.destroy(undefined, constants.NGHTTP2_CANCEL);
    this.sessions.clear();
    if (this.http2?.listening) this.http2.close();
  }

  private onSession(session: ServerHttp2Session): void {
    session.on('error', ignore);
    if (this.shuttingDown) {
      session.close();
      return;
    }
    // The connection's window starts at HTTP/2's 64 KiB whatever SETTINGS say (those set each stream's).
    session.setLocalWindowSize(this.settings.connectionWindowBytes);
    this.sessions.set(session, { hook: watchSession(session, this.settings), connection: new ClientConnection() });
    session.once('close', () => this.sessions.delete(session));
  }

  /** The hot path: every call starts here. */
  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', ignore);
    const session = this.sessions.get(stream.session as ServerHttp2Session);
    if (this.countsCalls) session?.hook?.(stream);
    if (headers[HTTP2_HEADER_METHOD] !== 'POST') {
      // gRPC is POST only (PROTOCOL-HTTP2.md): 405, and a gRPC status for clients that read only that.
      this.refuse(stream, 405, `gRPC requests use POST; got ${String(headers[HTTP2_HEADER_METHOD]).slice(0, 32)}`);
      return;
    }
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      // The spec's answer (and grpc-js's): 415 Unsupported Media Type.
      this.refuse(
        stream,
        415,
        `invalid gRPC request content-type ${JSON.stringify(String(contentType ?? '')).slice(0, 80)}`,
      );
      return;
    }
    const path = headers[HTTP2_HEADER_PATH] as string;
    const method = this.methods.get(path);
    if (method === undefined) {
      this.answer(stream, 12, `The server does not implement the method ${path}`);
      return;
    }
    if (this.auth && !isOpenToAll(path)) {
      const value = headers.authorization;
      try {
        this.auth.verify(Array.isArray(value) ? value[0] : value);
      } catch (err) {
        const status = toGrpcStatus(err);
        this.answer(stream, status.code, status.details);
        return;
      }
    }
    let timeoutMs: number | undefined;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      try {
        timeoutMs = parseGrpcTimeout(String(timeout));
      } catch (err) {
        const status = toGrpcStatus(err);
        this.answer(stream, status.code, status.details);
        return;
      }
    }
    // A stream of a session no longer tracked (the server is shutting down) names a connection of its own.
    const connection = session?.connection ?? new ClientConnection();
    const call =
      method.kind === 'unary'
        ? new UnaryCall(stream, headers, method, this.limits, connection)
        : new StreamCall(stream, headers, method, this.limits, connection);
    call.start(timeoutMs);
  }

  /** A Trailers-Only status before the request is read; what the client still sends is refused (RST NO_ERROR). */
  private answer(stream: ServerHttp2Stream, code: number, details: string): void {
    stream.respond(trailersOnly({ code, details }), ENDS_STREAM);
    stream.close(constants.NGHTTP2_NO_ERROR);
  }

  private refuse(stream: ServerHttp2Stream, httpStatus: number, details: string): void {
    stream.respond(
      {
        [HTTP2_HEADER_STATUS]: httpStatus,
        [HTTP2_HEADER_CONTENT_TYPE]: CONTENT_TYPE,
        ...(httpStatus === 405 ? { allow: 'POST' } : {}),
        'grpc-status': '13',
        'grpc-message': encodeURIComponent(details),
      },
      ENDS_STREAM,
    );
    stream.close(constants.NGHTTP2_NO_ERROR);
  }
}
