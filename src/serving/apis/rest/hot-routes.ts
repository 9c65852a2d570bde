/**
 * The two inference routes answered straight from node:http, in front of fastify: TF Serving's
 * `POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict` and the Open Inference Protocol's
 * `POST /v2/models/{m}[/versions/{v}]/infer`. fastify's routing, request/reply objects, hooks and reply pipeline
 * cost the main thread more per request than a small model's run (docs/performance.md, "Round 6: the REST
 * transport"); every other request, and any of these whose form is not plainly one of them, goes to fastify as
 * before. On plain-TCP connections ./http1-front.ts reads most of these requests before node:http would, and answers
 * them through `routeOf`, `answer` and `headersOf` here; what it leaves to node:http comes through `take`.
 *
 * What fastify does for these routes is done here in the same order, through the same functions, so the answer is
 * the same: the bearer token is checked before a byte of the body is read; the body is collected by collectBody
 * (Content-Length checked against --max_request_bytes first, chunked bodies bounded); errors before the route ran
 * (token, body) are not counted in the request metrics, as fastify's hooks and parser run before its handler; the
 * route is ../v2-rest/routes.ts `handleV2Request` or ./v1-routes.ts `handleV1Request`; the reply carries the
 * Content-Type fastify would (`application/json; charset=utf-8` for JSON text), Content-Length, and the CORS
 * headers when CORS support is on. Node's server itself answers `Expect: 100-continue`, keep-alive and timeouts, as
 * it does under fastify.
 *
 * Taken only when fastify would route the request to the same handler with nothing else to do: POST, a path of
 * plain characters (no percent-escapes, which fastify's router decodes and may refuse, and no dot segments), a
 * model name of at most 64 characters, no Content-Type or a plain one (fastify answers 415 to a malformed one), and
 * not while fastify is closing (it then answers 503 and closes the connection).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServingCore } from '../../core/types.js';
import type { BearerToken } from '../security/bearer-token.js';
import { handleV2Request, type V2RoutesOptions } from '../v2-rest/routes.js';
import { collectBody } from './body-bytes.js';
import { CORS_HEADERS, errorReply, type RestReply, type RestRequest } from './http-common.js';
import { handleV1Request, type V1RoutesOptions } from './v1-routes.js';

export interface HotRoutesOptions {
  /** The same options the fastify routes were given (observe, --max_request_bytes, --rest_api_timeout_in_ms). */
  routes: V1RoutesOptions & V2RoutesOptions;
  /** --auth_token_file */
  auth?: BearerToken;
  /** --rest_api_enable_cors_support: the headers fastify's onSend hook adds to every reply. */
  enableCors?: boolean;
}

const NAME = '[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}';
const QUERY = '(?:\\?[^#]*)?';
const V2_INFER = new RegExp(`^/v2/models/${NAME}(?:/versions/[0-9]{1,18})?/infer${QUERY}$`);
const V1_PREDICT = new RegExp(`^/v1/models/${NAME}(?:/versions/[0-9]{1,18}|/labels/${NAME})?:predict${QUERY}$`);
/** Content-Types fastify parses with the catch-all parser and takes as valid: `type/subtype`, maybe a charset. */
const PLAIN_CONTENT_TYPE = /^[a-z]{1,32}\/[a-z0-9.+-]{1,64}(?:; ?charset=[a-z0-9-]{1,32})?$/i;

/** Which of the two hot routes a request is for. */
export type HotRoute = 'v1' | 'v2';

/** A hot route's answer, for a transport to write: the route's reply and the headers beyond it (the token's challenge). */
export interface HotAnswer {
  reply: RestReply;
  extra: Record<string, string> | undefined;
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="flowserve"' } as const;
const CLOSE = { connection: 'close' } as const;

export class HotRoutes {
  private closing = false;

  constructor(
    private readonly core: ServingCore,
    private readonly options: HotRoutesOptions,
  ) {}

  /** From now on every request goes to fastify (which answers 503 while it closes). */
  close(): void {
    this.closing = true;
  }

  /** --max_request_bytes: a body of more is fastify's or node's to refuse, never read by a front. */
  get bodyLimit(): number {
    return this.options.routes.bodyLimit;
  }

  /** The hot route this request is for, or undefined when fastify should answer it. */
  routeOf(method: string | undefined, url: string, contentType: string | undefined): HotRoute | undefined {
    if (this.closing || method !== 'POST') return undefined;
    const route = V2_INFER.test(url) ? 'v2' : V1_PREDICT.test(url) ? 'v1' : undefined;
    if (route === undefined) return undefined;
    if (contentType !== undefined && !PLAIN_CONTENT_TYPE.test(contentType)) return undefined;
    return route;
  }

  /** Answers the request when it is one of the hot routes (true); otherwise leaves it untouched (false). */
  take(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '';
    const route = this.routeOf(request.method, url, request.headers['content-type']);
    if (route === undefined) return false;
    const { headers } = request;
    // fastify runs no parser for a body-less request without a Content-Type; collecting it reads nothing either.
    const collect = () => collectBody(request, headers['content-length'], this.options.routes.bodyLimit);
    this.answer(route, url, headers, request.socket as Socket, collect)
      .then(({ reply, extra }) => this.write(response, reply, extra))
      .catch((err: unknown) => {
        try {
          this.write(response, errorReply(err), undefined);
        } catch {
          response.destroy();
        }
      });
    return true;
  }

  /**
   * A hot route's answer, as fastify would give it: the bearer token checked before a byte of the body is read
   * (`collect` reads it), errors before the route ran (token, body) answered without reaching the route's metrics.
   */
  async answer(
    route: HotRoute,
    url: string,
    headers: IncomingHttpHeaders,
    socket: Socket,
    collect: () => Promise<Buffer> | Buffer,
    connection?: object,
  ): Promise<HotAnswer> {
    const { auth, routes } = this.options;
    if (auth) {
      try {
        auth.verify(headers.authorization);
      } catch (err) {
        return { reply: errorReply(err), extra: CHALLENGE };
      }
    }
    let body: Buffer;
    try {
      body = await collect();
    } catch (err) {
      // As fastify does, the connection closes after a refused body: the rest of it is not read (a client may have
      // declared gigabytes).
      return { reply: errorReply(err), extra: CLOSE };
    }
    const restRequest: RestRequest = { method: 'POST', url, headers, body, socket };
    if (connection !== undefined) restRequest.connection = connection;
    const reply =
      route === 'v2'
        ? await handleV2Request(this.core, restRequest, routes)
        : await handleV1Request(this.core, restRequest, routes);
    return { reply, extra: undefined };
  }

  /** The reply's headers as fastify writes them: Content-Type (JSON text with its charset), extras, length, CORS. */
  headersOf(reply: RestReply, extra: Record<string, string> | undefined): OutgoingHttpHeaders {
    const isJsonText = typeof reply.body === 'string' && reply.contentType.includes('json');
    // Assigned in fastify's order (a later key replaces an earlier one), without spreading objects per reply.
    const headers: OutgoingHttpHeaders = {
      'content-type': isJsonText ? `${reply.contentType}; charset=utf-8` : reply.contentType,
    };
    if (reply.headers) Object.assign(headers, reply.headers);
    if (extra) Object.assign(headers, extra);
    headers['content-length'] = typeof reply.body === 'string' ? Buffer.byteLength(reply.body) : reply.body.byteLength;
    if (this.options.enableCors) Object.assign(headers, CORS_HEADERS);
    return headers;
  }

  private write(response: ServerResponse, reply: RestReply, extra: Record<string, string> | undefined): void {
    if (response.headersSent || response.destroyed) return;
    response.writeHead(reply.status, this.headersOf(reply, extra));
    response.end(reply.body);
  }
}
