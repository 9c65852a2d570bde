/**
 * The Open Inference Protocol's REST URL grammar (spec §2), matched on the raw path like Triton's RE2 full matches:
 * no trailing slashes. A known path with the wrong verb is 405; anything else under /v2 is 404 {"error":"Not Found"}.
 *   GET  /v2, /v2/health/live, /v2/health/ready
 *   GET  /v2/models/{m}[/versions/{v}][/ready|/config|/stats], GET /v2/models/stats
 *   POST /v2/models/{m}[/versions/{v}]/infer
 *   POST /v2/repository[/{repo}]/index, /v2/repository[/{repo}]/models/{m}/(load|unload)
 */
import { FlowserveError, InvalidArgument, NotFound } from '../../../errors.js';

/** The RPC each route is (Triton's gRPC names), also the `API` label of the request metrics: a fixed set. */
export type V2Api =
  | 'ServerMetadata'
  | 'ServerLive'
  | 'ServerReady'
  | 'ModelMetadata'
  | 'ModelReady'
  | 'ModelInfer'
  | 'ModelConfig'
  | 'ModelStatistics'
  | 'RepositoryIndex'
  | 'RepositoryModelLoad'
  | 'RepositoryModelUnload';

export interface V2Route {
  api: V2Api;
  /** Decoded model name; absent for server-wide routes (and for stats of all models). */
  model?: string;
  /** Decoded version segment; absent = the latest. */
  version?: string;
}

/** 405, as Triton answers a known path with another verb. */
export class MethodNotAllowed extends FlowserveError {
  override readonly grpcCode = 12;
  override readonly httpStatus = 405;
  override readonly codeName = 'UNIMPLEMENTED';
}

const SEGMENT = '([^/]+)';
const MODEL = new RegExp(`^/v2/models/${SEGMENT}(?:/versions/${SEGMENT})?(?:/(ready|infer|config|stats))?$`);
const REPOSITORY_INDEX = new RegExp(`^/v2/repository(?:/${SEGMENT})?/index$`);
const REPOSITORY_MODEL = new RegExp(`^/v2/repository(?:/${SEGMENT})?/models/${SEGMENT}/(load|unload)$`);

const MODEL_SUFFIX_API: Record<string, V2Api> = {
  '': 'ModelMetadata',
  ready: 'ModelReady',
  infer: 'ModelInfer',
  config: 'ModelConfig',
  stats: 'ModelStatistics',
};

function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidArgument(`${what} '${segment.slice(0, 256)}' is not valid percent-encoded UTF-8`);
  }
}

function matchPath(path: string): { route: V2Route; method: 'GET' | 'POST' } {
  if (path === '/v2') return { route: { api: 'ServerMetadata' }, method: 'GET' };
  if (path === '/v2/health/live') return { route: { api: 'ServerLive' }, method: 'GET' };
  if (path === '/v2/health/ready') return { route: { api: 'ServerReady' }, method: 'GET' };
  // Triton: `/v2/models/stats` is the statistics of every model, not a model named "stats".
  if (path === '/v2/models/stats') return { route: { api: 'ModelStatistics' }, method: 'GET' };
  let m = MODEL.exec(path);
  if (m) {
    const api = MODEL_SUFFIX_API[m[3] ?? ''] as V2Api;
    const route: V2Route = { api, model: decodeSegment(m[1] as string, 'model name') };
    if (m[2] !== undefined) route.version = decodeSegment(m[2], 'model version');
    return { route, method: api === 'ModelInfer' ? 'POST' : 'GET' };
  }
  if (REPOSITORY_INDEX.test(path)) return { route: { api: 'RepositoryIndex' }, method: 'POST' };
  m = REPOSITORY_MODEL.exec(path);
  if (m) {
    const api = m[3] === 'load' ? 'RepositoryModelLoad' : 'RepositoryModelUnload';
    return { route: { api, model: decodeSegment(m[2] as string, 'model name') }, method: 'POST' };
  }
  throw new NotFound('Not Found');
}

/**
 * The last path matched, with its route frozen (every request of that path shares it): a client sends the same
 * path again and again, and matching and decoding it is most of what this module costs a request.
 */
let lastMatch: { path: string; route: V2Route; method: 'GET' | 'POST' } | undefined;

/** The route of `method path` (path without its query); NotFound or MethodNotAllowed otherwise. */
export function parseV2Path(method: string, path: string): Readonly<V2Route> {
  if (lastMatch?.path !== path) {
    const match = matchPath(path);
    lastMatch = { path, route: Object.freeze(match.route), method: match.method };
  }
  const { route, method: expected } = lastMatch;
  if (method !== expected && !(method === 'HEAD' && expected === 'GET')) {
    throw new MethodNotAllowed('Method Not Allowed');
  }
  return route;
}
