/**
 * Requests whose bytes do not parse as the method's message. grpc-js answers a deserializer that throws with
 * INTERNAL "Error deserializing request" (as gRPC C++, and so TF Serving, does), which tells the client that the
 * server is broken when it is the request that is. Here the deserializer never throws: it hands the handler an
 * UndecodableRequest, which unary() turns into INVALID_ARGUMENT naming the message type and what was wrong, so
 * INTERNAL stays reserved for real server faults.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { InvalidArgument, PayloadTooLarge, type FlowserveError } from '../../../errors.js';

export class UndecodableRequest {
  constructor(
    /** The request message type, e.g. tensorflow.serving.PredictRequest. */
    readonly messageType: string,
    readonly reason: string,
  ) {}

  toError(): FlowserveError {
    return new InvalidArgument(`Could not parse the request as ${this.messageType}: ${this.reason}`);
  }
}

/**
 * A message over its service's size limit, refused before it is decoded. grpc-js enforces one receive limit per
 * server, from the message's length prefix; where services on one port have different limits (TF Serving's
 * --max_request_bytes, the Open Inference Protocol's --max_v2_grpc_message_bytes) the server takes the larger and
 * each service refuses what is over its own here, with grpc-js's status and words.
 */
export class OversizedRequest extends UndecodableRequest {
  constructor(
    messageType: string,
    readonly bytes: number,
    readonly limit: number,
    readonly flag: string,
  ) {
    super(messageType, 'message too large');
  }

  override toError(): FlowserveError {
    return new PayloadTooLarge(
      `Received message larger than max (${this.bytes} vs ${this.limit}): ${this.messageType} is limited by --${this.flag}`,
    );
  }
}

/** The message type a proto-loader method definition reads (grpc-js's type does not declare the descriptor). */
export function requestTypeName(name: string, method: MethodDefinition<unknown, unknown>): string {
  const descriptor = (method as { requestType?: { type?: { name?: string } } }).requestType;
  return descriptor?.type?.name ?? `${name} request`;
}

/** `definition` with every method refusing (OversizedRequest) a message over `maxBytes` before decoding it. */
export function withMessageLimit(definition: ServiceDefinition, maxBytes: number, flag: string): ServiceDefinition {
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, MethodDefinition<unknown, unknown>>)) {
    const deserialize = method.requestDeserialize;
    const messageType = requestTypeName(name, method);
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) =>
        bytes.length > maxBytes ? new OversizedRequest(messageType, bytes.length, maxBytes, flag) : deserialize(bytes),
    };
  }
  return wrapped as ServiceDefinition;
}

/** `definition` with every method's request deserializer returning UndecodableRequest instead of throwing. */
export function withUndecodableRequests(definition: ServiceDefinition): ServiceDefinition {
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, MethodDefinition<unknown, unknown>>)) {
    const deserialize = method.requestDeserialize;
    const messageType = requestTypeName(name, method);
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
