/**
 * What every REST route shares, TF Serving's /v1 and the Open Inference Protocol's /v2, whichever transport received
 * the request (fastify, or the lean node:http front of ./hot-routes.ts): the request and reply as plain data, the
 * request body's bytes (gzip inflated off the event loop), the error body {"error": msg} with the error's HTTP
 * status, and the --rest_api_timeout_in_ms race.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  clientMessage,
  DeadlineExceeded,
  InvalidArgument,
  PayloadTooLarge,
  toFlowserveError,
} from '../../../errors.js';
import { DroppedAtDeadline } from '../../deadline.js';

/** --rest_api_enable_cors_support: the headers every reply carries (fastify's onSend hook and the hot routes). */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, GET',
  'access-control-allow-headers': 'Content-Type',
};

const gunzipAsync = promisify(gunzip);

/** What a route reads of a request: the same fields from fastify's request or from node:http's. */
export interface RestRequest {
  method: string;
  /** The raw request target, query included. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The collected body (a Buffer; anything else reads as empty), still gzip-encoded if it came so. */
  body: unknown;
  /** The client's connection (a repository load is cancelled when it closes). */
  socket: Socket;
  /**
   * The run group the transport names for the request's model run (RunRequest.connection): the HTTP/1.1 front's
   * MANY_CONNECTIONS for every request it takes (the requests of a loop turn form one burst); undefined from
   * node:http and fastify.
   */
  connection?: object;
}

/** What a route answers, for the transport to write: a status, a body, and any headers beyond Content-Type. */
export interface RestReply {
  status: number;
  body: string | Buffer;
  contentType: string;
  headers?: Record<string, string>;
  /** The version that served the request, for metrics. */
  version?: number;
}

/**
 * A JSON reply's Content-Type, the same whether the JSON comes as text or as its UTF-8 bytes (a large reply): fastify
 * (and headersOf in ./hot-routes.ts, which writes what it would) adds `; charset=utf-8` to JSON text, and sends bytes
 * with the type they are given.
 */
export function jsonContentType(body: string | Buffer): string {
  return typeof body === 'string' ? 'application/json' : 'application/json; charset=utf-8';
}

export function restRequestOf(request: FastifyRequest): RestRequest {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: request.body,
    socket: request.raw.socket,
  };
}

/** Writes a route's reply through fastify (its onSend hooks, CORS among them, run as for any reply). */
export function sendReply(reply: FastifyReply, result: RestReply): FastifyReply {
  reply.code(result.status).type(result.contentType);
  for (const [name, value] of Object.entries(result.headers ?? {})) reply.header(name, value);
  return reply.send(result.body);
}

/**
 * The body's bytes (never copied into a string: the JSON reader reads them in place); gzip is inflated on libuv's
 * thread pool, so a large body does not block the event loop.
 */
export async function bodyBytes(request: Pick<RestRequest, 'body' | 'headers'>, maxBytes: number): Promise<Buffer> {
  const raw = request.body;
  if (!Buffer.isBuffer(raw)) return Buffer.alloc(0);
  if (/gzip/i.test(String(request.headers['content-encoding'] ?? ''))) {
    let inflated: Buffer;
    try {
      inflated = await gunzipAsync(raw, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new PayloadTooLarge(`gzip request body inflates to more than --max_request_bytes=${maxBytes} bytes`);
      }
      throw new InvalidArgument(`Failed to decompress gzip request body: ${(err as Error).message}`);
    }
    return inflated;
  }
  return raw;
}

/** TF Serving's REST error body; `message` is already cut by clientMessage, so an error stays small. */
export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/** An error as TF Serving's REST answer: its HTTP status and {"error": msg}. */
export function errorReply(err: unknown): RestReply {
  const error = toFlowserveError(err);
  return { status: error.httpStatus, body: errorBody(clientMessage(error)), contentType: 'application/json' };
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  return sendReply(reply, errorReply(err));
}

/**
 * TF Serving turns --rest_api_timeout_in_ms into the session-run timeout of a REST call. A model run cannot be
 * interrupted (ONNX Runtime has no cancel), so the answer is given up on instead: the client gets 504 at the
 * deadline and the late result is dropped.
 */
function timeoutMessage(timeoutMs: number): string {
  return `Request did not complete within --rest_api_timeout_in_ms=${timeoutMs}`;
}

export function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  if (!(timeoutMs > 0)) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(timeoutMessage(timeoutMs))), timeoutMs);
  });
  // A request dropped unrun at the same deadline answers with the same words.
  const dropped = (err: unknown) => {
    if (err instanceof DroppedAtDeadline) throw new DeadlineExceeded(`${timeoutMessage(timeoutMs)}: ${err.message}`);
    throw err;
  };
  return Promise.race([work, deadline])
    .catch(dropped)
    .finally(() => clearTimeout(timer));
}
