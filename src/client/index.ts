/**
 * The typed flowserve / TensorFlow Serving client: `createClient({ server: 'localhost:8500', api: 'grpc' })`; with
 * `protocol: 'v2'`, an Open Inference Protocol (KServe v2 / Triton) client over REST (JSON or `binary`) or gRPC.
 */
import { GrpcServingClient, type GrpcClientOptions } from './grpc-client.js';
import { RestServingClient } from './rest-client.js';
import type { ServingClient } from './types.js';
import { GrpcV2Client } from './v2/grpc.js';
import { RestV2Client } from './v2/rest.js';
import type { V2Client } from './v2/types.js';

export * from './types.js';
export * from './v2/types.js';
export { GrpcServingClient } from './grpc-client.js';
export { RestServingClient } from './rest-client.js';
export { GrpcV2Client } from './v2/grpc.js';
export { RestV2Client } from './v2/rest.js';

export interface ClientOptions extends GrpcClientOptions {
  /** host:port (gRPC) or host:port / http(s) URL (REST). */
  server: string;
  api?: 'grpc' | 'rest';
  /** `v1`: TensorFlow Serving's API (default); `v2`: the Open Inference Protocol. */
  protocol?: 'v1' | 'v2';
  /** v2 over REST: tensors through the binary tensor data extension instead of JSON. Default false. */
  binary?: boolean;
}

export function createClient(options: ClientOptions & { protocol: 'v2' }): V2Client;
// The v1 overload last: ReturnType<typeof createClient> stays ServingClient, as before v2.
export function createClient(options: ClientOptions & { protocol?: 'v1' }): ServingClient;
export function createClient(options: ClientOptions): ServingClient | V2Client {
  if (options.protocol === 'v2') {
    return options.api === 'rest'
      ? new RestV2Client(options.server, { binary: options.binary, authToken: options.authToken })
      : new GrpcV2Client(options.server, options);
  }
  return options.api === 'rest'
    ? new RestServingClient(options.server, options.authToken)
    : new GrpcServingClient(options.server, options);
}
