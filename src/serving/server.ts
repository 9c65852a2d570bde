/**
 * startServer: the serving core plus the gRPC front end (PredictionService, ModelService, Health), the REST front end
 * (with the Prometheus endpoint when monitoring enables it) and a graceful close. Security (TLS/mTLS from an SSL
 * config file, a bearer token) sits at the transport edges; both files are read before any model loads.
 *
 * Start: like TF Serving, ports open only after the initially configured models have settled, and a failed initial
 * load fails the start — unless `waitForModels` is false: then ports open at once, health answers NOT_SERVING until
 * the initial models settle, status shows them LOADING, and a failed initial load is logged and leaves the server up.
 *
 * close() first withdraws readiness for `drainDelayMs` when set (--drain_delay_seconds, default 0): health answers
 * not-ready (gRPC NOT_SERVING, REST /v2/health/ready 400) while requests are still accepted and answered, so a load
 * balancer's health checks take the server out before it refuses anything. Then it drains, in this order, all within
 * `drainTimeoutMs`:
 *  1. readiness becomes 'draining' (gRPC health NOT_SERVING, status shows AVAILABLE versions as UNLOADING), new
 *     requests get UNAVAILABLE, pending loads, load retries and waiting reloads are cancelled (ServingCoreImpl);
 *  2. requests already running finish;
 *  3. the ports close (connections still open when the time is up are cut);
 *  4. versions are unloaded and the workers terminated — after any model run still computing, which nothing can
 *     interrupt safely; the CLI enforces the time limit on the process itself.
 */
import type { AddressInfo } from 'node:net';
import { bindGrpc, createGrpcServer, shutdownGrpc, type GrpcTransportName } from './apis/grpc/server.js';
import { createRestServer } from './apis/rest/server.js';
import type { RequestObserver } from './apis/shared/request-event.js';
import { readTfWarmupRequests } from './apis/shared/warmup-records.js';
import { BearerToken } from './apis/security/bearer-token.js';
import { watchSslConfig, type SslConfigFile } from './apis/security/tls.js';
import type { FastifyInstance } from 'fastify';
import { createServingCore, type ServingCoreImpl, type ServingCoreOptions } from './core/index.js';
import { defaultLog } from './core/options.js';
import { Dashboard, type DashboardOptions } from './dashboard/dashboard.js';

export interface ServerOptions extends ServingCoreOptions {
  /** gRPC port; 0 = ephemeral. Default 8500. */
  grpcPort?: number;
  /** REST port; 0 = ephemeral; undefined = no REST server (TF Serving's --rest_api_port default is off). */
  restPort?: number;
  /** Interface to bind; default 127.0.0.1 (TF Serving binds all interfaces — here that must be asked for). */
  host?: string;
  /** --rest_api_enable_cors_support */
  enableCors?: boolean;
  /** --grpc_channel_arguments: gRPC server options over the defaults (the transport refuses ones it cannot honour). */
  grpcChannelOptions?: Record<string, string | number>;
  /** --grpc_transport: flowserve's own gRPC server on node:http2 (default) or grpc-js's. */
  grpcTransport?: GrpcTransportName;
  /**
   * --max_v2_grpc_message_bytes: the largest inference.GRPCInferenceService message received or sent; default
   * INT32_MAX (TF Serving's and Triton's). TF Serving's services keep --max_request_bytes.
   */
  maxV2GrpcMessageBytes?: number;
  /** --enable_serialization_as_tensor_content: gRPC Predict outputs as raw bytes. */
  serializeAsTensorContent?: boolean;
  /** --rest_api_timeout_in_ms: REST requests not answered by then get 504 DEADLINE_EXCEEDED; 0 = none. */
  restTimeoutMs?: number;
  /** --drain_timeout_seconds: how long close() may take, in-flight requests included, before it cuts them; 10 s. */
  drainTimeoutMs?: number;
  /**
   * --drain_delay_seconds: how long close() keeps serving with readiness withdrawn before it drains; default 0. It
   * must exceed the time a load balancer takes to notice (HAProxy: inter × fall; Kubernetes: endpoint propagation).
   */
  drainDelayMs?: number;
  /** --wait_for_models: open the ports only after the initial models have settled (TF Serving); default true. */
  waitForModels?: boolean;
  /**
   * --ssl_config_file: a text-format SSLConfig (PEM contents). TLS on the gRPC port and, unless `restApiSsl` is false,
   * on the REST port; mTLS with client_verify. Followed while running: new certificates apply to new connections.
   */
  sslConfigFile?: string;
  /** --rest_api_ssl: with an SSL config, false keeps the REST port plain HTTP. Default true. */
  restApiSsl?: boolean;
  /** --auth_token_file: a file holding the bearer token required on every call except health checks. */
  authTokenFile?: string;
  /** How often the SSL config and token files are checked for changes; default 1000 ms. */
  securityFilePollMs?: number;
  /**
   * --dashboard / --runs_dir: the web dashboard on the REST port (GET /, /dashboard, /api/dashboard/*), on by
   * default as the flag is; false turns it off (those paths 404, and its stats sampler never runs).
   */
  dashboard?: DashboardOptions | false;
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface RunningServer {
  grpcPort: number;
  /** Undefined when REST is off. */
  restPort?: number;
  core: ServingCoreImpl;
  /**
   * Withdraws readiness for `drainDelayMs`, drains (see the header) and closes the core; resolves once everything is
   * closed. Idempotent.
   */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  // The security files are read first: a bad certificate or token file fails the start before any model loads.
  const watch = { pollMs: options.securityFilePollMs, log: options.log ?? defaultLog };
  const auth = options.authTokenFile ? new BearerToken(options.authTokenFile, watch) : undefined;
  let ssl: SslConfigFile | undefined;
  try {
    ssl = options.sslConfigFile ? watchSslConfig(options.sslConfigFile, watch) : undefined;
  } catch (err) {
    auth?.close();
    throw err;
  }
  const closeSecurityFiles = () => {
    auth?.close();
    ssl?.close();
  };
  // TF Serving's tf_serving_warmup_requests is decoded here, in the API layer, and handed to the core's loader.
  let core: ServingCoreImpl;
  try {
    core = await createServingCore({ readTfWarmup: readTfWarmupRequests, ...options });
  } catch (err) {
    closeSecurityFiles();
    throw err;
  }
  if (options.waitForModels ?? true) {
    try {
      await core.ready();
    } catch (err) {
      closeSecurityFiles();
      await core.close();
      throw err;
    }
  } else {
    const log = options.log ?? defaultLog;
    core
      .ready()
      .catch((err: unknown) =>
        log('error', `${(err as Error).message}; serving on without them (--wait_for_models=false)`),
      );
  }
  const observe: RequestObserver = (event) => core.recordRequest(event);
  const grpc = createGrpcServer(core, {
    observe,
    tensorContent: options.serializeAsTensorContent,
    channelOptions: options.grpcChannelOptions,
    ...(options.grpcTransport ? { transport: options.grpcTransport } : {}),
    auth,
    ...(options.maxV2GrpcMessageBytes === undefined ? {} : { maxV2MessageBytes: options.maxV2GrpcMessageBytes }),
  });
  const prometheus = options.monitoring?.prometheus;
  const restTls = options.restApiSsl === false ? undefined : ssl;
  let boundPorts = { grpc: 0, rest: 0 };
  let dashboard: Dashboard | undefined;
  if (options.restPort !== undefined && options.dashboard !== false) {
    try {
      dashboard = await Dashboard.create(
        {
          core,
          ports: () => boundPorts,
          grpcTls: ssl !== undefined,
          restTls: restTls !== undefined,
          cors: options.enableCors === true,
          auth: auth !== undefined,
          prometheusPath: prometheus?.enable ? prometheus.path : null,
        },
        options.dashboard ?? {},
      );
    } catch (err) {
      closeSecurityFiles();
      await core.close();
      throw err;
    }
    const log = options.log ?? defaultLog;
    for (const skipped of dashboard.skippedFiles)
      log('warn', `dashboard file ${skipped.name} not served: ${skipped.reason}`);
  }
  const rest =
    options.restPort === undefined
      ? undefined
      : createRestServer(core, {
          observe,
          enableCors: options.enableCors,
          bodyLimitBytes: core.limits.maxRequestBytes,
          timeoutMs: options.restTimeoutMs,
          prometheus: prometheus?.enable ? { path: prometheus.path, registry: core.metrics } : undefined,
          auth,
          tls: restTls,
          ...(dashboard ? { extraRoutes: dashboard } : {}),
        });
  let grpcPort: number;
  let restPort: number | undefined;
  try {
    grpcPort = await bindGrpc(grpc.server, host, options.grpcPort ?? 8500, ssl);
    if (rest) {
      await rest.listen({ port: options.restPort, host });
      restPort = (rest.server.address() as AddressInfo).port;
    }
    boundPorts = { grpc: grpcPort, rest: restPort ?? 0 };
  } catch (err) {
    dashboard?.close();
    grpc.server.forceShutdown();
    await rest?.close();
    closeSecurityFiles();
    await core.close();
    throw err;
  }

  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const drainDelayMs = options.drainDelayMs ?? 0;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Without a delay readiness goes straight to 'draining', as before the flag existed.
      if (drainDelayMs > 0) {
        core.withdrawReadiness();
        await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
      }
      const deadline = Date.now() + drainTimeoutMs;
      const left = () => Math.max(0, deadline - Date.now());
      core.beginDrain();
      dashboard?.close(); // its live streams would otherwise hold the REST port open until the grace ends
      await core.whenIdle(left());
      await Promise.all([shutdownGrpc(grpc.server, left()), rest && closeRest(rest, left())]);
      closeSecurityFiles();
      await core.close({ graceMs: left() });
    })();
    return closing;
  };
  return { grpcPort, restPort, core, close };
}

/** fastify's close waits for every open request, a slow upload too: after `graceMs` the connections are cut. */
async function closeRest(rest: FastifyInstance, graceMs: number): Promise<void> {
  const timer = setTimeout(() => rest.server.closeAllConnections(), graceMs);
  try {
    await rest.close();
  } finally {
    clearTimeout(timer);
  }
}
