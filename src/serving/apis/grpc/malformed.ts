/**
 * grpc-js answers a request its deserializer cannot read with INTERNAL ("Error deserializing request"), a code
 * that says "server bug". A malformed request is the client's fault: deserializers are wrapped so that the failure
 * travels to the handler as a MalformedRequest, which the unary wrapper answers with INVALID_ARGUMENT.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** The service with every method's request deserializer made tolerant. */
export function tolerantDeserializers(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, MethodDefinition<unknown, unknown>>)) {
    const deserialize = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (err) {
          return new MalformedRequest((err as Error).message);
        }
      },
    };
  }
  return out as ServiceDefinition;
}
