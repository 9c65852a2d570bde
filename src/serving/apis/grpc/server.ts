/** Builds the grpc-js server: PredictionService, ModelService and Health from the project's protos. */
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import type { ServingCore } from '../../core/types.js';
import { loadServicePackageDefinition } from '../shared/protos.js';
import type { RequestObserver } from '../shared/request-event.js';
import { healthService, type HealthState } from './health.js';
import { modelService } from './model-service.js';
import { predictionService } from './prediction-service.js';

export interface GrpcServerOptions {
  observe?: RequestObserver;
  /** Predict outputs as tensor_content (--enable_serialization_as_tensor_content). */
  tensorContent?: boolean;
  /** Extra grpc-js channel options (--grpc_channel_arguments). */
  channelOptions?: Record<string, string | number>;
}

/** TF Serving allows INT32_MAX-byte messages both ways. */
const MAX_MESSAGE_BYTES = 2147483647;

export interface GrpcServer {
  server: Server;
  health: HealthState;
}

export function createGrpcServer(core: ServingCore, options: GrpcServerOptions = {}): GrpcServer {
  const definition = loadServicePackageDefinition();
  const service = (name: string) => definition[name] as unknown as ServiceDefinition;
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    ...options.channelOptions,
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

/** Binds host:port (0 = ephemeral) and resolves the actual port. */
export function bindGrpc(server: Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, actualPort) =>
      err ? reject(err) : resolve(actualPort),
    );
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
