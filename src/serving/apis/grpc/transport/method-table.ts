/**
 * The methods a server answers, by HTTP/2 :path, from grpc-js service definitions (what @grpc/proto-loader gives and
 * server.ts already builds) and grpc-js-style implementations: handlers are written once and served by either
 * transport.
 */
import type { MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { FlowserveError } from '../../../../errors.js';
import { OversizedRequest, requestTypeName } from '../request-decoding.js';

export type MethodKind = 'unary' | 'serverStream' | 'bidi';

export interface ServedMethod {
  path: string;
  kind: MethodKind;
  deserialize: (bytes: Buffer) => unknown;
  serialize: (value: unknown) => Buffer;
  /** The grpc-js-style handler: (call, callback) for unary, (call) for streams. */
  handler: (...args: never[]) => void;
  /** The largest request message, checked on its length prefix (and on its size once inflated). */
  maxReceiveBytes: number;
  /** The error for a message over a service's own limit (naming its flag); the transport's words otherwise. */
  tooLarge?: (bytes: number) => FlowserveError;
}

/** A service's own receive limit, below the server's: TF Serving's --max_request_bytes beside the v2 limit. */
export interface ServiceReceiveLimit {
  maxBytes: number;
  /** The flag that sets it, named in the refusal. */
  flag: string;
}

export function methodsOf(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  serverReceiveBytes: number,
  serviceLimit?: ServiceReceiveLimit,
): ServedMethod[] {
  const own = serviceLimit !== undefined && serviceLimit.maxBytes < serverReceiveBytes ? serviceLimit : undefined;
  const methods: ServedMethod[] = [];
  for (const [name, method] of Object.entries(definition as Record<string, MethodDefinition<unknown, unknown>>)) {
    const handler = implementation[name] ?? implementation[(method as { originalName?: string }).originalName ?? ''];
    if (handler === undefined) continue;
    if (method.requestStream && !method.responseStream) {
      throw new Error(`${method.path}: client-streaming methods are not served by the flowserve gRPC transport`);
    }
    methods.push({
      path: method.path,
      kind: method.requestStream ? 'bidi' : method.responseStream ? 'serverStream' : 'unary',
      deserialize: method.requestDeserialize,
      serialize: method.responseSerialize as (value: unknown) => Buffer,
      handler: handler as ServedMethod['handler'],
      maxReceiveBytes: own ? own.maxBytes : serverReceiveBytes,
      ...(own
        ? {
            tooLarge: (bytes: number) =>
              new OversizedRequest(requestTypeName(name, method), bytes, own.maxBytes, own.flag).toError(),
          }
        : {}),
    });
  }
  return methods;
}
