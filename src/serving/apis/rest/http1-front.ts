/**
 * flowserve's own HTTP/1.1 reading and writing for the two hot routes (./hot-routes.ts), on the REST port's
 * plain-TCP connections. node:http costs the main thread more per request than the whole of a small model's run:
 * its parser's callbacks, an IncomingMessage and a ServerResponse with their streams, the header object, the
 * reply's corked writes. A bare node:http server answering canned bytes reached 45–49k req/s under `wrk -c32` on
 * this 2-core machine, a bare `net` server writing the same bytes 97–100k (docs/performance.md, "Round 9").
 *
 * The front reads a connection's bytes itself and answers a request only when it is plainly one of the hot routes
 * and wholly in hand:
 * - `POST <target> HTTP/1.1`, the target one of the hot routes' paths, printable ASCII with no `#`;
 * - every header line `token: printable ASCII`, each name once, in a header block within node's --max-http-header-size;
 * - a Host header (node refuses a request without one), a Content-Length of digits within --max_request_bytes, and
 *   the whole body read: a request of at most WAIT_FOR_BODY_BELOW bytes whose header block is whole waits for the
 *   rest of its body, a larger one is node's;
 * - no Transfer-Encoding, Expect or Upgrade, no Connection but `keep-alive`, a Content-Type the hot routes take.
 *
 * At the first request that is anything else (another route, a chunked or large partial body, `Connection: close`, HTTP/1.0,
 * a header out of this subset, the server closing), and only once every earlier reply is written, the connection is
 * handed to node:http with the bytes read so far put back (`socket.unshift`), as if node had had it from the start:
 * its parser, limits, timeouts and errors (400, 413, 431, 505 …), then the hot routes or fastify, answer that request
 * and every later one. So the front never refuses anything itself, and a slow or partial request is node's to time out.
 *
 * A reply is written as node:http writes the hot routes' replies: the same status line and headers in the same order,
 * then `Date`, `Connection: keep-alive` and `Keep-Alive: timeout=<the server's keepAliveTimeout in seconds>`, in one
 * socket write. An idle connection closes after the server's keepAliveTimeout (headersTimeout before its first request),
 * as under node. The server's closeIdleConnections and closeAllConnections (fastify's close, flowserve's drain) also
 * close the front's connections: idle ones at once, a busy one after its reply, which then says `Connection: close`.
 */
import { maxHeaderSize, STATUS_CODES, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { MANY_CONNECTIONS } from '../../core/index.js';
import { ClientConnection, isLoneCall } from '../../worker/client-connection.js';
import { errorReply, type RestReply } from './http-common.js';
import type { HotRoute, HotRoutes } from './hot-routes.js';

/** A header name: RFC 9110's token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A header value: printable ASCII and tabs only (node takes more; anything else is node's to judge). */
const PLAIN_VALUE = /^[\t\x20-\x7e]*$/;
/** A request target: origin-form, printable ASCII, no fragment. */
const PLAIN_TARGET = /^\/[\x21-\x22\x24-\x7e]*$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;
const REQUEST_LINE_START = 'POST ';
const REQUEST_LINE_END = ' HTTP/1.1';
/** Below this size a Buffer body is copied behind the head for one write; above it, head and body are written corked. */
const COPY_BODY_BELOW = 16 * 1024;
const CLOSE_LINES = 'Connection: close\r\n';
/**
 * A request of at most this many bytes whose header block has arrived waits for the rest of its body: Python's
 * http.client (under `requests`) sends a body of 2,000 bytes or more in a send of its own, so its MNIST request comes
 * in two reads. A larger body goes to node:http, whose collection copies each chunk once instead of joining them.
 */
export const WAIT_FOR_BODY_BELOW = 256 * 1024;
/** parseHotRequest's answer for a hot request whose body has not all arrived: the bytes the whole request takes. */
export interface Incomplete {
  needed: number;
}

type ConnectionListener = (socket: Socket) => void;

/** What the front needs of the server it sits on; read from it when the front is put in place. */
interface ServerLimits {
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  /** The largest header block the front reads: half of node's limit, so that node would surely have taken it. */
  maxHeaderBytes: number;
}

/** A request the front answers: its route, target, headers, body, and how many bytes it took of the connection. */
interface ParsedRequest {
  route: HotRoute;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  length: number;
}

/**
 * Reads one request from the start of `bytes`; Incomplete when it is a hot request of at most WAIT_FOR_BODY_BELOW
 * bytes whose body has not all arrived; undefined when it is not one the front takes (the connection then goes to
 * node:http). Nothing is allocated before the header block is known to be complete and small.
 */
export function parseHotRequest(
  bytes: Buffer,
  hot: Pick<HotRoutes, 'routeOf' | 'bodyLimit'>,
  maxHeaderBytes: number,
): ParsedRequest | Incomplete | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n', 0, 'latin1');
  if (headEnd < 0 || headEnd > maxHeaderBytes) return undefined;
  const head = bytes.toString('latin1', 0, headEnd);
  const lineEnd = head.indexOf('\r\n');
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  if (!requestLine.startsWith(REQUEST_LINE_START) || !requestLine.endsWith(REQUEST_LINE_END)) return undefined;
  const url = requestLine.slice(REQUEST_LINE_START.length, requestLine.length - REQUEST_LINE_END.length);
  if (!PLAIN_TARGET.test(url)) return undefined;

  // A null prototype: a header named `__proto__` is a header like any other.
  const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  let at = lineEnd < 0 ? head.length : lineEnd + 2;
  while (at < head.length) {
    let end = head.indexOf('\r\n', at);
    if (end < 0) end = head.length;
    const colon = head.indexOf(':', at);
    if (colon < 0 || colon > end) return undefined;
    const name = head.slice(at, colon);
    const raw = head.slice(colon + 1, end);
    if (!TOKEN.test(name) || !PLAIN_VALUE.test(raw)) return undefined;
    const key = name.toLowerCase();
    if (key in headers) return undefined;
    headers[key] = raw.trim();
    at = end + 2;
  }
  if (headers.host === undefined) return undefined;
  if (headers['transfer-encoding'] !== undefined || headers.expect !== undefined || headers.upgrade !== undefined) {
    return undefined;
  }
  const connection = headers.connection;
  if (connection !== undefined && connection.toLowerCase() !== 'keep-alive') return undefined;
  const contentLength = headers['content-length'];
  if (contentLength === undefined || !CONTENT_LENGTH.test(contentLength)) return undefined;
  const bodyLength = Number(contentLength);
  if (bodyLength > hot.bodyLimit) return undefined;
  const route = hot.routeOf('POST', url, headers['content-type']);
  if (route === undefined) return undefined;
  const bodyStart = headEnd + 4;
  const length = bodyStart + bodyLength;
  if (bytes.length < length) return length <= WAIT_FOR_BODY_BELOW ? { needed: length } : undefined;
  return { route, url, headers, body: bytes.subarray(bodyStart, length), length };
}

/** The Date header's value, made at most once a second as node:http does. */
let cachedDate: string | undefined;
function httpDate(): string {
  if (cachedDate === undefined) {
    const now = new Date();
    cachedDate = now.toUTCString();
    setTimeout(() => (cachedDate = undefined), 1000 - now.getMilliseconds()).unref();
  }
  return cachedDate;
}

/** The status line and headers node:http writes for a hot route's reply (its order, its Date and Connection lines). */
export function replyHead(
  status: number,
  headers: Record<string, string | number | readonly string[] | undefined>,
  connectionLines: string,
): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  for (const name in headers) {
    const value = String(headers[name]);
    // Route-made values only, but a CR or LF would let a value write a header of its own.
    if (value.includes('\r') || value.includes('\n')) throw new Error(`header ${name} has a line break in its value`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}Date: ${httpDate()}\r\n${connectionLines}\r\n`;
}

/** One connection while the front has it. */
class FrontConnection {
  /** Bytes read and not yet taken by a request. */
  private pending: Buffer | undefined;
  /** A hot request whose body is still arriving: its bytes so far, and how many the whole request takes. */
  private awaiting: { needed: number; chunks: Buffer[]; bytes: number } | undefined;
  /** A request is being answered: later bytes wait, and the connection cannot be handed over. */
  private busy = false;
  /** Its call in progress, counted among the turn's calls (client-connection.ts), one at a time. */
  private readonly calls = new ClientConnection(false);
  private answeredOne = false;
  /** The client closed its side, or the server is closing: close once the reply in progress is written. */
  private closeAfterReply = false;
  private readonly onData = (chunk: Buffer) => this.data(chunk);
  private readonly onEnd = () => this.clientEnded();
  private readonly onTimeout = () => this.idleTimeout();
  private readonly onError = () => this.socket.destroy();
  private readonly onClose = () => this.front.forget(this);

  constructor(
    private readonly front: Http1Front,
    readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.setTimeout(front.limits.headersTimeoutMs);
    // node:http turns Nagle's algorithm off in its own connection listener (http.Server's noDelay, on by default),
    // which the front takes the connection from: without this, a reply written while an earlier one is unacknowledged
    // waits for the client's delayed ACK (up to 200 ms on Linux).
    if (front.noDelay) socket.setNoDelay(true);
  }

  /**
   * The server is closing: an idle connection closes now; a busy one, or one whose request's body is arriving, after
   * its reply (node:http too answers a request it has begun to read before closing its connection).
   */
  close(): void {
    if (this.busy || this.awaiting !== undefined) this.closeAfterReply = true;
    else this.socket.destroy();
  }

  /** Whether a request's body is arriving here (tests). */
  get receiving(): boolean {
    return this.awaiting !== undefined;
  }

  private data(chunk: Buffer): void {
    if (this.awaiting !== undefined) {
      // The rest of a request's body: its chunks are kept and joined once, when the request is whole, so a client
      // dripping a byte at a time costs a copy of the request, not one per byte.
      const parts = this.awaiting;
      parts.chunks.push(chunk);
      parts.bytes += chunk.length;
      if (parts.bytes < parts.needed) return;
      this.awaiting = undefined;
      this.pending = Buffer.concat(parts.chunks, parts.bytes);
      this.next(true);
      return;
    }
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.busy) {
      // A pipelined request: read no more until the reply in progress is written.
      this.socket.pause();
      return;
    }
    this.next();
  }

  /**
   * Takes the next whole request in hand, or hands the connection over when the next request is not the front's.
   * `begun`: its bytes were already taken for a request (its body was awaited), which is answered even if the server
   * has begun to close since.
   */
  private next(begun = false): void {
    const bytes = this.pending;
    if (bytes === undefined) return;
    const request =
      this.front.accepting || begun
        ? parseHotRequest(bytes, this.front.hot, this.front.limits.maxHeaderBytes)
        : undefined;
    if (request === undefined) {
      this.handOver();
      return;
    }
    if (!('route' in request)) {
      // The rest of its body is still to come.
      this.awaiting = { needed: request.needed, chunks: [bytes], bytes: bytes.length };
      this.pending = undefined;
      return;
    }
    this.pending = request.length === bytes.length ? undefined : bytes.subarray(request.length);
    this.busy = true;
    this.calls.begin();
    // The front's requests of one loop turn are one burst of MANY_CONNECTIONS: runs cheaper than their hand-off
    // compute back to back on the calling thread at the end of the turn (worker-pool.ts, mayRunHere). A lone call
    // (one request in flight on the whole port) has no burst to join: named by its own connection, it computes at
    // once, as gRPC's do (docs/performance.md, "Round 21").
    const connection = isLoneCall(this.calls) ? this.calls : MANY_CONNECTIONS;
    this.front.hot
      .answer(request.route, request.url, request.headers, this.socket, () => request.body, connection)
      .then(
        ({ reply, extra }) => this.reply(reply, extra),
        (err: unknown) => this.reply(errorReply(err), undefined),
      )
      .catch(() => this.socket.destroy());
  }

  private reply(reply: RestReply, extra: Record<string, string> | undefined): void {
    const { socket } = this;
    this.busy = false;
    this.calls.end();
    if (socket.destroyed) return;
    const headers = this.front.hot.headersOf(reply, extra);
    // A reply that closes the connection itself (`connection: close`, after a refused body) says so once.
    const closedByReply = headers.connection !== undefined;
    const close = this.closeAfterReply || closedByReply;
    const head = replyHead(reply.status, headers, closedByReply ? '' : close ? CLOSE_LINES : this.front.keepAliveLines);
    const { body } = reply;
    if (typeof body === 'string') socket.write(head + body);
    else if (body.length < COPY_BODY_BELOW) socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
    if (close) {
      socket.end();
      return;
    }
    if (!this.answeredOne) {
      this.answeredOne = true;
      socket.setTimeout(this.front.limits.keepAliveTimeoutMs);
    }
    if (this.pending !== undefined) {
      this.next();
      if (!this.busy && socket.isPaused()) socket.resume();
    } else if (socket.isPaused()) socket.resume();
  }

  private clientEnded(): void {
    // The client sends no more; an answer in progress is still written, then the connection closes.
    if (this.busy) this.closeAfterReply = true;
    else this.socket.end();
  }

  private idleTimeout(): void {
    if (!this.busy) this.socket.destroy();
  }

  /** From the next request on, node:http has the connection, with the bytes read so far put back. */
  private handOver(): void {
    const { socket } = this;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('timeout', this.onTimeout);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    socket.setTimeout(0);
    this.front.forget(this);
    const { pending } = this;
    this.pending = undefined;
    if (pending !== undefined) socket.unshift(pending);
    if (socket.isPaused()) socket.resume();
    this.front.handToNode(socket);
  }
}

/** The front on one node:http server: its connections, and node's own connection listeners to hand them to. */
export class Http1Front {
  readonly limits: ServerLimits;
  /** `Connection: keep-alive` and `Keep-Alive: timeout=N`, as node writes them for this server. */
  readonly keepAliveLines: string;
  private readonly connections = new Set<FrontConnection>();
  /** The server's `noDelay` (node's default true): its connections' sockets send each write at once. */
  readonly noDelay: boolean;
  private readonly nodeListeners: ConnectionListener[];
  private closed = false;

  constructor(
    private readonly server: HttpServer,
    readonly hot: HotRoutes,
  ) {
    this.limits = {
      keepAliveTimeoutMs: server.keepAliveTimeout,
      headersTimeoutMs: server.headersTimeout,
      maxHeaderBytes: Math.floor(
        ((server as HttpServer & { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize) / 2,
      ),
    };
    const { keepAliveTimeout } = server;
    this.keepAliveLines =
      keepAliveTimeout > 0
        ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveTimeout / 1000)}\r\n`
        : 'Connection: keep-alive\r\n';
    this.noDelay = (server as HttpServer & { noDelay?: boolean }).noDelay !== false;
    this.nodeListeners = server.listeners('connection') as ConnectionListener[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      if (this.closed) this.handToNode(socket);
      else this.connections.add(new FrontConnection(this, socket));
    });
    // fastify's close and flowserve's drain close connections through these; the front's are closed with node's.
    const closeIdle = server.closeIdleConnections.bind(server);
    const closeAll = server.closeAllConnections.bind(server);
    server.closeIdleConnections = () => {
      this.closeConnections(false);
      closeIdle();
    };
    server.closeAllConnections = () => {
      this.closeConnections(true);
      closeAll();
    };
  }

  /** Whether a new request may be the front's: not once the server is closing (fastify then answers 503). */
  get accepting(): boolean {
    return !this.closed;
  }

  /** The connections the front has now (tests). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections on which a request's body is arriving (tests). */
  get receivingCount(): number {
    let count = 0;
    for (const connection of this.connections) if (connection.receiving) count++;
    return count;
  }

  forget(connection: FrontConnection): void {
    this.connections.delete(connection);
  }

  handToNode(socket: Socket): void {
    for (const listener of this.nodeListeners) listener.call(this.server, socket);
  }

  private closeConnections(all: boolean): void {
    this.closed = true;
    for (const connection of this.connections) {
      if (all) connection.socket.destroy();
      else connection.close();
    }
  }
}
