/**
 * The two inference routes answered straight from node:http, in front of fastify: TF Serving's
 * `POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict` and the Open Inference Protocol's
 * `POST /v2/models/{m}[/versions/{v}]/infer`. fastify's routing, request/reply objects, hooks and reply pipeline
 * cost the main thread more per request than a small model's run (docs/performance.md, "Round 6: the REST
 * transport"); every other request, and any of these whose form is not plainly one of them, goes to fastify as
 * before.
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
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
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

  /** Answers the request when it is one of the hot routes (true); otherwise leaves it untouched (false). */
  take(request: IncomingMessage, response: ServerResponse): boolean {
    if (this.closing || request.method !== 'POST') return false;
    const url = request.url ?? '';
    const v2 = V2_INFER.test(url);
    if (!v2 && !V1_PREDICT.test(url)) return false;
    const contentType = request.headers['content-type'];
    if (contentType !== undefined && !PLAIN_CONTENT_TYPE.test(contentType)) return false;
    this.answer(request, response, url, v2).catch((err: unknown) => {
      try {
        this.write(response, errorReply(err), undefined);
      } catch {
        response.destroy();
      }
    });
    return true;
  }

  private async answer(request: IncomingMessage, response: ServerResponse, url: string, v2: boolean): Promise<void> {
    const { auth, routes } = this.options;
    if (auth) {
      try {
        auth.verify(request.headers.authorization);
      } catch (err) {
        this.write(response, errorReply(err), { 'www-authenticate': 'Bearer realm="flowserve"' });
        return;
      }
    }
    const { headers } = request;
    // fastify runs no parser for a body-less request without a Content-Type; collecting it reads nothing either.
    let body: Buffer;
    try {
      body = await collectBody(request, headers['content-length'], routes.bodyLimit);
    } catch (err) {
      this.write(response, errorReply(err), undefined);
      return;
    }
    const restRequest: RestRequest = { method: 'POST', url, headers, body, socket: request.socket as Socket };
    const reply = v2
      ? await handleV2Request(this.core, restRequest, routes)
      : await handleV1Request(this.core, restRequest, routes);
    this.write(response, reply, undefined);
  }

  /** The reply as fastify writes it: status, Content-Type (JSON text with its charset), length, extra headers. */
  private write(response: ServerResponse, reply: RestReply, extra: Record<string, string> | undefined): void {
    if (response.headersSent || response.destroyed) return;
    const isJsonText = typeof reply.body === 'string' && reply.contentType.includes('json');
    // Assigned in fastify's order (a later key replaces an earlier one), without spreading objects per reply.
    const headers: OutgoingHttpHeaders = {
      'content-type': isJsonText ? `${reply.contentType}; charset=utf-8` : reply.contentType,
    };
    if (reply.headers) Object.assign(headers, reply.headers);
    if (extra) Object.assign(headers, extra);
    headers['content-length'] = typeof reply.body === 'string' ? Buffer.byteLength(reply.body) : reply.body.byteLength;
    if (this.options.enableCors) Object.assign(headers, CORS_HEADERS);
    response.writeHead(reply.status, headers);
    response.end(reply.body);
  }
}
