/**
 * The REST front end (fastify): TF Serving's /v1/ routes over the serving core, its error body {"error": msg} and
 * HTTP mapping, gzip request bodies, CORS preflight, and the Prometheus endpoint when monitoring enables it.
 */
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  clientMessage,
  DeadlineExceeded,
  FlowserveError,
  InvalidArgument,
  PayloadTooLarge,
  toFlowserveError,
} from '../../../errors.js';
import { DEFAULT_REQUEST_LIMITS } from '../../core/request-limits.js';
import type { ServingCore } from '../../core/types.js';
import type { BearerToken } from '../security/bearer-token.js';
import { httpsServerOptions, secureContextOptions, type SslConfigFile } from '../security/tls.js';
import { DroppedAtDeadline } from '../../deadline.js';
import type { RequestObserver } from '../shared/request-event.js';
import { collectBody } from './body-bytes.js';
import {
  classifyAction,
  metadataAction,
  predictAction,
  regressAction,
  statusAction,
  type RestResult,
} from './handlers.js';
import { clientErrorHandler } from './client-errors.js';
import { parseRestPath, type RestRoute } from './paths.js';

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface RestServerOptions {
  observe?: RequestObserver;
  /** Largest accepted request body, also after gunzip; larger → 413. Default DEFAULT_REQUEST_LIMITS. */
  bodyLimitBytes?: number;
  /** --rest_api_enable_cors_support */
  enableCors?: boolean;
  /** Prometheus exposition at this exact path (MonitoringConfig.prometheus_config). */
  prometheus?: { path: string; registry: MetricsSource };
  /** fastify's logger; off unless asked for. */
  logger?: boolean;
  /** --rest_api_timeout_in_ms: a request not answered by then gets DEADLINE_EXCEEDED (HTTP 504). 0 = none. */
  timeoutMs?: number;
  /** --auth_token_file: every request but CORS preflights needs `authorization: Bearer <token>` (else 401). */
  auth?: BearerToken;
  /** --ssl_config_file (unless --rest_api_ssl=false): HTTPS, with mTLS when client_verify is set, following the file. */
  tls?: SslConfigFile;
}

const NOT_FOUND_HTML =
  '<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n';

const gunzipAsync = promisify(gunzip);

/**
 * The body's bytes (never copied into a string: the JSON reader reads them in place); gzip is inflated on libuv's
 * thread pool, so a large body does not block the event loop.
 */
async function bodyBytes(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
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

async function dispatch(
  core: ServingCore,
  route: RestRoute,
  request: FastifyRequest,
  maxBytes: number,
  deadline: number | undefined,
): Promise<RestResult> {
  switch (route.action) {
    case 'predict':
      return predictAction(core, route, await bodyBytes(request, maxBytes), deadline);
    case 'classify':
      return classifyAction(core, route, await bodyBytes(request, maxBytes), deadline);
    case 'regress':
      return regressAction(core, route, await bodyBytes(request, maxBytes), deadline);
    case 'status':
      return statusAction(core, route);
    case 'metadata':
      return metadataAction(core, route);
  }
}

/** TF Serving's REST error body; `message` is already cut by clientMessage, so an error stays small. */
function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const error = toFlowserveError(err);
  return reply
    .code(error.httpStatus)
    .type('application/json')
    .send(errorBody(clientMessage(error)));
}

export function createRestServer(core: ServingCore, options: RestServerOptions = {}): FastifyInstance {
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_REQUEST_LIMITS.maxRequestBytes;
  const { tls } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    clientErrorHandler,
    ...(tls ? { https: httpsServerOptions(tls.current) } : {}),
  }) as unknown as FastifyInstance;
  if (tls) {
    // New connections get the new key/certificate/CA; open ones keep theirs.
    tls.onChange((config) => (app.server as unknown as TlsServer).setSecureContext(secureContextOptions(config)));
  }
  // TF Serving reads any body as JSON whatever its Content-Type, and reports JSON errors itself.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: Readable) =>
    collectBody(payload, request.headers['content-length'], bodyLimit),
  );

  app.setErrorHandler((err, _request, reply) => {
    if (err instanceof FlowserveError) return sendError(reply, err);
    const statusCode = (err as { statusCode?: number }).statusCode ?? 500;
    return reply
      .code(statusCode)
      .type('application/json')
      .send(errorBody(clientMessage(toFlowserveError(err))));
  });
  const { auth } = options;
  if (auth) {
    // Before routing reads the body: an unauthenticated client cannot make the server buffer or parse one.
    app.addHook('onRequest', async (request, reply) => {
      if (request.method === 'OPTIONS') return; // CORS preflights never carry credentials.
      try {
        auth.verify(request.headers.authorization);
      } catch (err) {
        reply.header('www-authenticate', 'Bearer realm="flowserve"');
        return sendError(reply, err);
      }
    });
  }
  app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/html').send(NOT_FOUND_HTML));

  if (options.enableCors) {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('Access-Control-Allow-Origin', '*');
      reply.header('Access-Control-Allow-Methods', 'POST, GET');
      reply.header('Access-Control-Allow-Headers', 'Content-Type');
      return payload;
    });
  }

  if (options.prometheus) {
    const { path, registry } = options.prometheus;
    app.get(path, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }

  // Preflight is answered even without CORS support: 200 for an http(s) Origin, else 400; never a body.
  app.options('/v1/*', async (request, reply) => {
    const origin = String(request.headers.origin ?? '');
    return reply.code(/^https?:\/\//.test(origin) ? 200 : 400).send();
  });

  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
    url: '/v1/*',
    handler: async (request, reply) => {
      const started = process.hrtime.bigint();
      const path = request.url.split('?')[0] ?? '';
      let route: RestRoute | undefined;
      const report = (status: string, version?: number) =>
        options.observe?.({
          model: route?.selector.name ?? '',
          version,
          api: route && route.action !== 'status' && route.action !== 'metadata' ? route.action : '',
          entrypoint: 'REST',
          status,
          latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
        });
      try {
        route = parseRestPath(request.method, path);
        const timeoutMs = options.timeoutMs ?? 0;
        // Counted from the request's arrival, so a request that waited in a queue past it is dropped unrun.
        const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
        const result = await withTimeout(dispatch(core, route, request, bodyLimit, deadline), timeoutMs);
        report('OK', result.version);
        return reply.type('application/json').send(result.body);
      } catch (err) {
        report(toFlowserveError(err).codeName);
        return sendError(reply, err);
      }
    },
  });
  return app;
}

/**
 * TF Serving turns --rest_api_timeout_in_ms into the session-run timeout of a REST call. A model run cannot be
 * interrupted (ONNX Runtime has no cancel), so the answer is given up on instead: the client gets 504 at the
 * deadline and the late result is dropped.
 */
function timeoutMessage(timeoutMs: number): string {
  return `Request did not complete within --rest_api_timeout_in_ms=${timeoutMs}`;
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
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
