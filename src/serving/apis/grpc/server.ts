/** Builds the grpc-js server: PredictionService, ModelService and Health from the project's protos. */
import { Server, ServerCredentials, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import type { ServingCore } from '../../core/types.js';
import { loadServicePackageDefinition } from '../shared/protos.js';

type GrpcObjectDefinitions = ReturnType<typeof loadServicePackageDefinition>;
import type { RequestObserver } from '../shared/request-event.js';
import type { BearerToken } from '../security/bearer-token.js';
import { bearerTokenInterceptor } from './auth-interceptor.js';
import { healthService, type HealthState } from './health.js';
import { decodeExampleRequest, decodeMultiInferenceRequest } from './examples-wire.js';
import { modelService } from './model-service.js';
import { decodePredictRequest, encodePredictResponse, type PredictWireResponse } from './predict-wire.js';
import { predictionService } from './prediction-service.js';
import { withUndecodableRequests } from './request-decoding.js';

export interface GrpcServerOptions {
  observe?: RequestObserver;
  /** Predict outputs as tensor_content (--enable_serialization_as_tensor_content). */
  tensorContent?: boolean;
  /** Extra grpc-js channel options (--grpc_channel_arguments). */
  channelOptions?: Record<string, string | number>;
  /** --auth_token_file: every call but health checks needs `authorization: Bearer <token>`. */
  auth?: BearerToken;
}

/** TF Serving allows INT32_MAX-byte messages both ways; flowserve sends as much but receives --max_request_bytes. */
const MAX_SEND_MESSAGE_BYTES = 2147483647;

export interface GrpcServer {
  server: Server;
  health: HealthState;
}

export function createGrpcServer(core: ServingCore, options: GrpcServerOptions = {}): GrpcServer {
  const definition = withWireCodecs(loadServicePackageDefinition());
  // Undecodable requests are answered INVALID_ARGUMENT by the handlers (request-decoding.ts), not INTERNAL.
  const service = (name: string) => withUndecodableRequests(definition[name] as unknown as ServiceDefinition);
  const server = new Server({
    // grpc-js refuses a larger message with RESOURCE_EXHAUSTED before it is decoded.
    'grpc.max_receive_message_length': core.limits.maxRequestBytes,
    'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
    ...options.channelOptions,
    ...(options.auth ? { interceptors: [bearerTokenInterceptor(options.auth)] } : {}),
  });
  // The core's readiness is the one answer every health endpoint gives.
  const health: HealthState = {
    get serving() {
      return core.readiness === 'ready';
    },
  };
  server.addService(
    service('tensorflow.serving.PredictionService'),
    predictionService(core, { observe: options.observe, tensorContent: options.tensorContent }),
  );
  server.addService(service('tensorflow.serving.ModelService'), modelService(core, options.observe));
  server.addService(service('grpc.health.v1.Health'), healthService(health));
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
  } as unknown as GrpcObjectDefinitions;
}

/** Binds host:port (0 = ephemeral) and resolves the actual port; plaintext unless TLS credentials are given. */
export function bindGrpc(
  server: Server,
  host: string,
  port: number,
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<number> {
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, actualPort) => (err ? reject(err) : resolve(actualPort)));
  });
}

/** Stops accepting calls and waits for in-flight ones; forces the rest after `graceMs`. */
export function shutdownGrpc(server: Server, graceMs = 10_000): Promise<void> {
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
