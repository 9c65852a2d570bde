/**
 * TF Serving's /v1 routes as one transport-free function: path → action → JSON reply, with the request's metrics
 * and the --rest_api_timeout_in_ms race. fastify's `/v1/*` route and the node:http front (./hot-routes.ts) both
 * answer through it, so a request gets the same status, body and metrics whichever of them received it.
 */
import { toFlowserveError } from '../../../errors.js';
import type { ServingCore } from '../../core/types.js';
import type { RequestObserver } from '../shared/request-event.js';
import {
  classifyAction,
  metadataAction,
  predictAction,
  regressAction,
  statusAction,
  type RestResult,
} from './handlers.js';
import {
  bodyBytes,
  errorReply,
  jsonContentType,
  withTimeout,
  type RestReply,
  type RestRequest,
} from './http-common.js';
import { parseRestPath, type RestRoute } from './paths.js';

export interface V1RoutesOptions {
  observe?: RequestObserver;
  /** Largest body, also after gunzip (--max_request_bytes). */
  bodyLimit: number;
  /** --rest_api_timeout_in_ms; 0 = none. */
  timeoutMs: number;
}

async function dispatch(
  core: ServingCore,
  route: RestRoute,
  request: RestRequest,
  maxBytes: number,
  deadline: number | undefined,
): Promise<RestResult> {
  switch (route.action) {
    case 'predict':
      return predictAction(core, route, await bodyBytes(request, maxBytes), deadline, request.connection);
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

/** Answers a /v1 request whose body has been collected; errors become their status and {"error": msg}. */
export async function handleV1Request(
  core: ServingCore,
  request: RestRequest,
  options: V1RoutesOptions,
): Promise<RestReply> {
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
    const { timeoutMs } = options;
    // Counted from the request's arrival, so a request that waited in a queue past it is dropped unrun.
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    const result = await withTimeout(dispatch(core, route, request, options.bodyLimit, deadline), timeoutMs);
    report('OK', result.version);
    return { status: 200, body: result.body, contentType: jsonContentType(result.body), version: result.version };
  } catch (err) {
    report(toFlowserveError(err).codeName);
    return errorReply(err);
  }
}
