/**
 * Builds the gRPC server: TF Serving's PredictionService and ModelService, Health, and the Open Inference
 * Protocol's inference.GRPCInferenceService, all from the project's protos, on one port. The handlers are written
 * against grpc-js's server call shapes and served by one of two transports (--grpc_transport): flowserve's own on
 * node:http2 (transport/, the default) or grpc-js's Server.
 */
import {
  Server,
  ServerCredentials,
  type MethodDefinition,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { MAX_GRPC_MESSAGE_BYTES } from '../../core/request-limits.js';
import type { ServingCore } from '../../core/types.js';
import { loadServicePackageDefinition } from '../shared/protos.js';

type GrpcObjectDefinitions = ReturnType<typeof loadServicePackageDefinition>;
import type { RequestObserver } from '../shared/request-event.js';
import type { BearerToken } from '../security/bearer-token.js';
import { grpcServerCredentials, type SslConfigFile } from '../security/tls.js';
import { bearerTokenInterceptor } from './auth-interceptor.js';
import { FlowserveGrpcServer } from './transport/http2-server.js';
import type { ServiceReceiveLimit } from './transport/method-table.js';
import { healthService, type HealthState } from './health.js';
import { decodeExampleRequest, decodeMultiInferenceRequest } from './examples-wire.js';
import { modelService } from './model-service.js';
import { decodePredictRequest, encodePredictResponse, type PredictWireResponse } from './predict-wire.js';
import { predictionService } from './prediction-service.js';
import { withMessageLimit, withUndecodableRequests } from './request-decoding.js';
import { decodeModelInferRequest } from './v2/infer-request-wire.js';
import { inferenceService } from './v2/inference-service.js';
import type { EncodedInferResponse } from './v2/model-infer.js';

export interface GrpcServerOptions {
  observe?: RequestObserver;
  /** Predict outputs as tensor_content (--enable_serialization_as_tensor_content). */
  tensorContent?: boolean;
  /** --grpc_channel_arguments: grpc-js options, or the ones flowserve's transport honours (others are refused). */
  channelOptions?: Record<string, string | number>;
  /** --grpc_transport: flowserve's own on node:http2 (default) or grpc-js's Server. */
  transport?: GrpcTransportName;
  /** --auth_token_file: every call but health checks needs `authorization: Bearer <token>`. */
  auth?: BearerToken;
  /**
   * --max_v2_grpc_message_bytes: the largest inference.GRPCInferenceService message received or sent. Default
   * INT32_MAX, TF Serving's and Triton's (Triton's client raises its own limits to it). TF Serving's services keep
   * --max_request_bytes (core.limits.maxRequestBytes) for what they receive.
   */
  maxV2MessageBytes?: number;
}

const V2_SERVICE = 'inference.GRPCInferenceService';

export const GRPC_TRANSPORTS = ['flowserve', 'grpc-js'] as const;
export type GrpcTransportName = (typeof GRPC_TRANSPORTS)[number];

/** What server.ts needs of a transport: services in, a port out, and the two ways to stop. */
export interface GrpcTransportServer {
  /**
   * `receiveLimit`: the service's own limit when below the server's. flowserve's transport checks it on the length
   * prefix; grpc-js has one limit per server, so there the service's deserializers refuse (request-decoding.ts).
   */
  addService(
    definition: ServiceDefinition,
    implementation: UntypedServiceImplementation,
    receiveLimit?: ServiceReceiveLimit,
  ): void;
  /** Listens on host:port (0 = ephemeral); TLS (and mTLS) from the SSL config file when given. */
  bind(host: string, port: number, tls?: SslConfigFile): Promise<number>;
  /** GOAWAY, then calls back once in-flight calls have finished. */
  tryShutdown(callback: () => void): void;
  forceShutdown(): void;
}

export interface GrpcServer {
  server: GrpcTransportServer;
  health: HealthState;
}

export interface TransportOptions {
  maxReceiveBytes: number;
  maxSendBytes: number;
  channelArguments?: Record<string, string | number>;
  auth?: BearerToken;
}

/**
 * A gRPC server of the named transport, with no services yet. Both refuse a message over `maxReceiveBytes` with
 * RESOURCE_EXHAUSTED from its length prefix, before it is buffered.
 */
export function grpcTransportServer(name: GrpcTransportName, options: TransportOptions): GrpcTransportServer {
  if (name === 'flowserve') return new FlowserveGrpcServer(options);
  return new GrpcJsServer(
    new Server({
      'grpc.max_receive_message_length': options.maxReceiveBytes,
      'grpc.max_send_message_length': options.maxSendBytes,
      ...options.channelArguments,
      ...(options.auth ? { interceptors: [bearerTokenInterceptor(options.auth)] } : {}),
    }),
  );
}

/** grpc-js's Server behind the transport interface (--grpc_transport=grpc-js). */
class GrpcJsServer implements GrpcTransportServer {
  constructor(private readonly server: Server) {}

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
  }

  bind(host: string, port: number, tls?: SslConfigFile): Promise<number> {
    const credentials = tls ? grpcServerCredentials(tls) : ServerCredentials.createInsecure();
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, actualPort) => (err ? reject(err) : resolve(actualPort)));
    });
  }

  tryShutdown(callback: () => void): void {
    this.server.tryShutdown(() => callback());
  }

  forceShutdown(): void {
    this.server.forceShutdown();
  }
}

export function createGrpcServer(core: ServingCore, options: GrpcServerOptions = {}): GrpcServer {
  const definition = withWireCodecs(loadServicePackageDefinition());
  const v1Limit = core.limits.maxRequestBytes;
  const v2Limit = options.maxV2MessageBytes ?? MAX_GRPC_MESSAGE_BYTES;
  // The server's receive limit is the larger of the two. flowserve's transport checks each service's own on the
  // length prefix; grpc-js has one limit per server, so there each service refuses what is over its own before
  // decoding it (request-decoding.ts).
  const receiveLimit = Math.max(v1Limit, v2Limit);
  const limitOf = (name: string): [number, string] =>
    name === V2_SERVICE ? [v2Limit, 'max_v2_grpc_message_bytes'] : [v1Limit, 'max_request_bytes'];
  // Undecodable requests are answered INVALID_ARGUMENT by the handlers (request-decoding.ts), not INTERNAL.
  const service = (name: string) => {
    const methods = definition[name] as unknown as ServiceDefinition;
    const [limit, flag] = limitOf(name);
    return withUndecodableRequests(limit < receiveLimit ? withMessageLimit(methods, limit, flag) : methods);
  };
  const server = grpcTransportServer(options.transport ?? 'flowserve', {
    maxReceiveBytes: receiveLimit,
    maxSendBytes: MAX_GRPC_MESSAGE_BYTES,
    channelArguments: options.channelOptions,
    auth: options.auth,
  });
  // The core's readiness is the one answer every health endpoint gives.
  const health: HealthState = {
    get serving() {
      return core.readiness === 'ready';
    },
  };
  const add = (name: string, implementation: UntypedServiceImplementation) => {
    const [maxBytes, flag] = limitOf(name);
    server.addService(service(name), implementation, { maxBytes, flag });
  };
  add(
    'tensorflow.serving.PredictionService',
    predictionService(core, { observe: options.observe, tensorContent: options.tensorContent }),
  );
  add('tensorflow.serving.ModelService', modelService(core, options.observe));
  add('grpc.health.v1.Health', healthService(health));
  add(V2_SERVICE, inferenceService(core, { observe: options.observe, maxSendMessageBytes: v2Limit }));
  return { server, health };
}

/**
 * PredictionService methods whose requests can be large read them with the project's own wire codecs: Predict's
 * tensors (predict-wire), and the examples of Classify/Regress/MultiInference (examples-wire, counted before they
 * are decoded). Other methods and messages keep @grpc/proto-loader's codec.
 */
function withWireCodecs(definition: GrpcObjectDefinitions): GrpcObjectDefinitions {
  const name = 'tensorflow.serving.PredictionService';
  const service = definition[name] as unknown as Record<string, MethodDefinition<unknown, unknown>>;
  const method = (key: string, requestDeserialize: (bytes: Buffer) => unknown) => ({
    ...(service[key] as MethodDefinition<unknown, unknown>),
    requestDeserialize,
  });
  return {
    ...definition,
    [name]: {
      ...service,
      Predict: {
        ...method('Predict', decodePredictRequest),
        responseSerialize: (response: unknown) => encodePredictResponse(response as PredictWireResponse),
      },
      Classify: method('Classify', decodeExampleRequest),
      Regress: method('Regress', decodeExampleRequest),
      MultiInference: method('MultiInference', decodeMultiInferenceRequest),
    },
    [V2_SERVICE]: withV2WireCodecs(
      definition[V2_SERVICE] as unknown as Record<string, MethodDefinition<unknown, unknown>>,
    ),
  } as unknown as GrpcObjectDefinitions;
}

/**
 * ModelInfer and ModelStreamInfer read their requests with the v2 wire codec (header and offsets first, data after
 * admission) and send responses their handlers have already encoded.
 */
function withV2WireCodecs(
  service: Record<string, MethodDefinition<unknown, unknown>>,
): Record<string, MethodDefinition<unknown, unknown>> {
  return {
    ...service,
    ModelInfer: {
      ...(service.ModelInfer as MethodDefinition<unknown, unknown>),
      requestDeserialize: decodeModelInferRequest,
      responseSerialize: (response: unknown) => (response as EncodedInferResponse).encoded,
    },
    ModelStreamInfer: {
      ...(service.ModelStreamInfer as MethodDefinition<unknown, unknown>),
      requestDeserialize: decodeModelInferRequest,
      responseSerialize: (response: unknown) => response as Buffer,
    },
  };
}

/** Binds host:port (0 = ephemeral) and resolves the actual port; plaintext unless an SSL config file is given. */
export function bindGrpc(
  server: GrpcTransportServer,
  host: string,
  port: number,
  tls?: SslConfigFile,
): Promise<number> {
  return server.bind(host, port, tls);
}

/** Stops accepting calls and waits for in-flight ones; forces the rest after `graceMs`. */
export function shutdownGrpc(server: GrpcTransportServer, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
