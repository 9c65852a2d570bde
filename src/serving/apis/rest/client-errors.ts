/**
 * Answers to requests Node's HTTP parser refuses before any route sees them: a request line or headers over the
 * header size limit (431), a request not received in time (408), anything unparsable (400). Fastify's default
 * handler sends a JSON body even to a HEAD request, whose reply must not have one (RFC 9110 §9.3.2): a client
 * reading the reply takes the body for the start of the next response and fails ("Expected HTTP/"), found by
 * `npm run fuzz`. Here a HEAD request gets the status line and headers only; others get TF Serving's error body.
 * The connection is closed either way: after a parse error the stream cannot be trusted.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

interface ClientError extends Error {
  code?: string;
  /** The bytes Node's parser was reading when it failed (a Buffer, for parse errors; fastify types it loosely). */
  rawPacket?: unknown;
}

function statusOf(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/** fastify's `clientErrorHandler` (Node's 'clientError' event). */
export function clientErrorHandler(err: ClientError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = statusOf(err.code);
  const reason = STATUS_CODES[status] ?? 'Bad Request';
  const packet = err.rawPacket;
  const isHead = Buffer.isBuffer(packet) && packet.subarray(0, 5).toString('latin1').toUpperCase() === 'HEAD ';
  const body = isHead ? '' : JSON.stringify({ error: `${reason} (${err.code ?? 'malformed HTTP request'})` });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
