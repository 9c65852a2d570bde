/**
 * The REST front end (fastify): TF Serving's /v1/ routes and the Open Inference Protocol's /v2 routes
 * (../v2-rest/routes.ts) over the serving core, its error body {"error": msg} and
 * HTTP mapping, gzip request bodies, CORS preflight, and the Prometheus endpoint when monitoring enables it.
 * v1 `:predict` and v2 `/infer` are answered in front of fastify by ./hot-routes.ts, through the same route functions.
 */
import type { IncomingMessage, RequestListener, Server as HttpServer, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { clientMessage, FlowserveError, toFlowserveError } from '../../../errors.js';
import { DEFAULT_REQUEST_LIMITS } from '../../core/request-limits.js';
import type { ServingCore } from '../../core/types.js';
import type { BearerToken } from '../security/bearer-token.js';
import { httpsServerOptions, secureContextOptions, type SslConfigFile } from '../security/tls.js';
import type { RequestObserver } from '../shared/request-event.js';
import { isV2HealthPath, registerV2Routes } from '../v2-rest/routes.js';
import { collectBody } from './body-bytes.js';
import { CORS_HEADERS, errorBody, restRequestOf, sendError, sendReply } from './http-common.js';
import { clientErrorHandler } from './client-errors.js';
import { handleV1Request } from './v1-routes.js';
import { HotRoutes } from './hot-routes.js';
import { Http1Front } from './http1-front.js';

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
  /** More routes on this port (the dashboard), registered after the API routes, behind the same auth/TLS/CORS. */
  extraRoutes?: RestRoutes;
  /**
   * Answer v1 `:predict` and v2 `/infer` from node:http in front of fastify (./hot-routes.ts). Default on; off
   * with `logger`, since those requests would not be in fastify's request log.
   */
  hotRoutes?: boolean;
  /**
   * Read and write the hot routes' requests on plain-TCP connections without node:http (./http1-front.ts), handing a
   * connection to node:http at its first request of any other kind. Default on, with the hot routes and without TLS.
   */
  http1Front?: boolean;
}

/** Routes another adapter adds to the REST port (src/serving/dashboard/), with the paths that need no token. */
export interface RestRoutes {
  register(app: FastifyInstance): void;
  /** Paths answered without the bearer token (a browser cannot attach one to a page load). */
  isPublicPath(url: string): boolean;
}

const NOT_FOUND_HTML =
  '<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n';

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
      if (isV2HealthPath(request.url)) return; // probes carry none either, as gRPC health checks need none
      if (options.extraRoutes?.isPublicPath(request.url)) return;
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
      reply.headers(CORS_HEADERS);
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

  const routeOptions = { observe: options.observe, bodyLimit, timeoutMs: options.timeoutMs ?? 0 };
  registerV2Routes(app, core, routeOptions);

  options.extraRoutes?.register(app);

  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
    url: '/v1/*',
    handler: async (request, reply) =>
      sendReply(reply, await handleV1Request(core, restRequestOf(request), routeOptions)),
  });

  if (options.hotRoutes ?? !options.logger) {
    const hot = new HotRoutes(core, {
      routes: routeOptions,
      ...(auth ? { auth } : {}),
      ...(options.enableCors ? { enableCors: true } : {}),
    });
    putInFront(app.server, hot);
    // Over TLS the connection's bytes are the TLS server's to read; the front reads plain TCP only.
    if (!tls && (options.http1Front ?? true)) new Http1Front(app.server, hot);
    app.addHook('preClose', async () => hot.close());
  }
  return app;
}

/**
 * Puts the hot routes before fastify's own 'request' listener on the server fastify made. fastify's `serverFactory`
 * would do it too, but then fastify skips what it does for its own server: the keep-alive and request timeouts, and
 * the second binding for a host name with two addresses (`--host localhost`: 127.0.0.1 and ::1). That second
 * server, made by fastify at listen, has fastify's listener alone: its requests get the same answers, from fastify.
 */
function putInFront(server: HttpServer, hot: HotRoutes): void {
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (hot.take(request, response)) return;
    for (const listener of listeners) listener.call(server, request, response);
  });
}
