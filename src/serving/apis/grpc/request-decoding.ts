/**
 * Requests whose bytes do not parse as the method's message. grpc-js answers a deserializer that throws with
 * INTERNAL "Error deserializing request" (as gRPC C++, and so TF Serving, does), which tells the client that the
 * server is broken when it is the request that is. Here the deserializer never throws: it hands the handler an
 * UndecodableRequest, which unary() turns into INVALID_ARGUMENT naming the message type and what was wrong, so
 * INTERNAL stays reserved for real server faults.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { InvalidArgument } from '../../../errors.js';

export class UndecodableRequest {
  constructor(
    /** The request message type, e.g. tensorflow.serving.PredictRequest. */
    readonly messageType: string,
    readonly reason: string,
  ) {}

  toError(): InvalidArgument {
    return new InvalidArgument(`Could not parse the request as ${this.messageType}: ${this.reason}`);
  }
}

/** `definition` with every method's request deserializer returning UndecodableRequest instead of throwing. */
export function withUndecodableRequests(definition: ServiceDefinition): ServiceDefinition {
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, MethodDefinition<unknown, unknown>>)) {
    const deserialize = method.requestDeserialize;
    // proto-loader's method definitions carry the message descriptor; grpc-js's type does not declare it.
    const descriptor = (method as { requestType?: { type?: { name?: string } } }).requestType;
    const messageType = descriptor?.type?.name ?? `${name} request`;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(messageType, err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return wrapped as ServiceDefinition;
}
