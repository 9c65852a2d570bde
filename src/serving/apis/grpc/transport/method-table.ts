/**
 * The methods a server answers, by HTTP/2 :path, from grpc-js service definitions (what @grpc/proto-loader gives and
 * server.ts already builds) and grpc-js-style implementations: handlers are written once and served by either
 * transport.
 */
import type { MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';

export type MethodKind = 'unary' | 'serverStream' | 'bidi';

export interface ServedMethod {
  path: string;
  kind: MethodKind;
  deserialize: (bytes: Buffer) => unknown;
  serialize: (value: unknown) => Buffer;
  /** The grpc-js-style handler: (call, callback) for unary, (call) for streams. */
  handler: (...args: never[]) => void;
}

export function methodsOf(definition: ServiceDefinition, implementation: UntypedServiceImplementation): ServedMethod[] {
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
    });
  }
  return methods;
}
