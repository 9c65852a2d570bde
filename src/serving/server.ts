/**
 * startServer: the serving core plus the gRPC front end (PredictionService, ModelService, Health), the REST front end
 * (with the Prometheus endpoint when monitoring enables it) and a graceful close. Like TF Serving, ports open only
 * after the initially configured models have settled; a failed initial load fails the start.
 */
import type { AddressInfo } from 'node:net';
import { bindGrpc, createGrpcServer, shutdownGrpc } from './apis/grpc/server.js';
import { createRestServer } from './apis/rest/server.js';
import type { RequestObserver } from './apis/shared/request-event.js';
import { readTfWarmupRequests } from './apis/shared/warmup-records.js';
import { createServingCore, type ServingCoreImpl, type ServingCoreOptions } from './core/index.js';

export interface ServerOptions extends ServingCoreOptions {
  /** gRPC port; 0 = ephemeral. Default 8500. */
  grpcPort?: number;
  /** REST port; 0 = ephemeral; undefined = no REST server (TF Serving's --rest_api_port default is off). */
  restPort?: number;
  /** Interface to bind; default 127.0.0.1 (TF Serving binds all interfaces — here that must be asked for). */
  host?: string;
  /** --rest_api_enable_cors_support */
  enableCors?: boolean;
  /** Largest REST request body; default 256 MiB. */
  restBodyLimitBytes?: number;
  /** --grpc_channel_arguments: grpc-js server options, over the defaults (2 GiB messages both ways). */
  grpcChannelOptions?: Record<string, string | number>;
  /** --enable_serialization_as_tensor_content: gRPC Predict outputs as raw bytes. */
  serializeAsTensorContent?: boolean;
  /** --rest_api_timeout_in_ms: REST requests not answered by then get 504 DEADLINE_EXCEEDED; 0 = none. */
  restTimeoutMs?: number;
  /** How long close() waits for in-flight requests before cutting them; default 10 s. */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  grpcPort: number;
  /** Undefined when REST is off. */
  restPort?: number;
  core: ServingCoreImpl;
  /** Stops accepting, finishes in-flight requests, then closes the core. Idempotent. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  // TF Serving's tf_serving_warmup_requests is decoded here, in the API layer, and handed to the core's loader.
  const core = await createServingCore({ readTfWarmup: readTfWarmupRequests, ...options });
  try {
    await core.ready();
  } catch (err) {
    await core.close();
    throw err;
  }
  const observe: RequestObserver = (event) => core.recordRequest(event);
  const grpc = createGrpcServer(core, {
    observe,
    tensorContent: options.serializeAsTensorContent,
    channelOptions: options.grpcChannelOptions,
  });
  const prometheus = options.monitoring?.prometheus;
  const rest =
    options.restPort === undefined
      ? undefined
      : createRestServer(core, {
          observe,
          enableCors: options.enableCors,
          bodyLimitBytes: options.restBodyLimitBytes,
          timeoutMs: options.restTimeoutMs,
          prometheus: prometheus?.enable ? { path: prometheus.path, registry: core.metrics } : undefined,
        });
  let grpcPort: number;
  let restPort: number | undefined;
  try {
    grpcPort = await bindGrpc(grpc.server, host, options.grpcPort ?? 8500);
    if (rest) {
      await rest.listen({ port: options.restPort, host });
      restPort = (rest.server.address() as AddressInfo).port;
    }
  } catch (err) {
    grpc.server.forceShutdown();
    await rest?.close();
    await core.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      grpc.health.serving = false;
      const grace = options.shutdownGraceMs ?? 10_000;
      await Promise.all([shutdownGrpc(grpc.server, grace), rest?.close()]);
      await core.close();
    })();
    return closing;
  };
  return { grpcPort, restPort, core, close };
}
