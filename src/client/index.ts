/** The typed flowserve / TensorFlow Serving client: `createClient({ server: 'localhost:8500', api: 'grpc' })`. */
import { GrpcServingClient, type GrpcClientOptions } from './grpc-client.js';
import { RestServingClient } from './rest-client.js';
import type { ServingClient } from './types.js';

export * from './types.js';
export { GrpcServingClient } from './grpc-client.js';
export { RestServingClient } from './rest-client.js';

export interface ClientOptions extends GrpcClientOptions {
  /** host:port (gRPC) or host:port / http(s) URL (REST). */
  server: string;
  api?: 'grpc' | 'rest';
}

export function createClient(options: ClientOptions): ServingClient {
  return options.api === 'rest'
    ? new RestServingClient(options.server, options.authToken)
    : new GrpcServingClient(options.server, options);
}
