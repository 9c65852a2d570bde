/**
 * The REST front end (fastify): TF Serving's /v1/ routes and the Open Inference Protocol's /v2 routes
 * (../v2-rest/routes.ts) over the serving core, its error body {"error": msg} and
 * HTTP mapping, gzip request bodies, CORS preflight, and the Prometheus endpoint when monitoring enables it.
 */
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
import { bodyBytes, errorBody, sendError, withTimeout } from './http-common.js';
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
  /** More routes on this port (the dashboard), registered after the API routes, behind the same auth/TLS/CORS. */
  extraRoutes?: RestRoutes;
}

/** Routes another adapter adds to the REST port (src/serving/dashboard/), with the paths that need no token. */
export interface RestRoutes {
  register(app: FastifyInstance): void;
  /** Paths answered without the bearer token (a browser cannot attach one to a page load). */
  isPublicPath(url: string): boolean;
}

const NOT_FOUND_HTML =
  '<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n';

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

  registerV2Routes(app, core, { observe: options.observe, bodyLimit, timeoutMs: options.timeoutMs ?? 0 });

  options.extraRoutes?.register(app);

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
