/**
 * The flags of `tensorflow_model_server` that flowserve honours (spec §3.1), as one typed object. The flag table below
 * drives the commander definition, the defaults and the value checks, so a flag is declared once.
 *
 * Differences from TF Serving, on purpose: --host (TF binds 0.0.0.0; we bind 127.0.0.1 unless told otherwise, so a
 * developer's server is not exposed by accident), --rest_api_port defaults to 8501 (as the TF Serving Docker image),
 * unknown flags are an error (TF prints and starts anyway, which hides typos), TF Serving flags flowserve lacks are
 * refused by name (unsupported-flags.ts), --num_workers and --device (cpu or gpu) are new.
 */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { InvalidArgument } from '../../errors.js';
import { DEFAULT_REQUEST_LIMITS, MAX_GRPC_MESSAGE_BYTES } from '../core/request-limits.js';
import { parseGrpcChannelArguments, transportSettings } from './grpc-channel-arguments.js';
import type { ServingDevice } from './model-server-config.js';
import { UNSUPPORTED_TF_SERVING_FLAGS, unsupportedFlagMessage } from './unsupported-flags.js';

export interface ServerFlags {
  port: number;
  restApiPort: number;
  host: string;
  modelName: string;
  modelBasePath: string;
  modelConfigFile: string;
  modelConfigFilePollWaitSeconds: number;
  fileSystemPollWaitSeconds: number;
  enableBatching: boolean;
  batchingParametersFile: string;
  /** When a partial batch leaves the queue: idle_thread | timeout (BatchDispatch, checked by parseBatchDispatch). */
  batchDispatch: string;
  /** Whether batches are padded to allowed_batch_sizes: auto | always (BatchPadding, checked by parseBatchPadding). */
  batchPadding: string;
  monitoringConfigFile: string;
  restApiTimeoutInMs: number;
  maxNumLoadRetries: number;
  loadRetryIntervalMicros: number;
  enableModelWarmup: boolean;
  allowVersionLabelsForUnavailableModels: boolean;
  numWorkers: number;
  /** Tiny models compute on the calling thread (src/serving/worker/calling-thread-runs.ts). */
  callingThreadRuns: boolean;
  /** Tiny dense models compute in JavaScript on the calling thread (src/serving/worker/dense-plan.ts). */
  jsDenseRuns: boolean;
  /** Large batches of models measured to run faster in chunks run so (src/serving/core/chunked-runs.ts). */
  chunkedRuns: boolean;
  /** Where models without a per-model `device` run: the CPU or GPU:0 (ONNX Runtime's WebGPU execution provider). */
  device: ServingDevice;
  maxRequestBytes: number;
  maxInputBytes: number;
  /** Largest Predict reply, bounded from the outputs before encoding (gRPC message or REST body). */
  maxResponseBytes: number;
  maxExamplesPerRequest: number;
  /** Largest inference.GRPCInferenceService message received or sent (TF Serving's and Triton's INT32_MAX). */
  maxV2GrpcMessageBytes: number;
  /** Text-format SSLConfig: TLS (mTLS with client_verify) on the gRPC port and, unless restApiSsl is false, REST. */
  sslConfigFile: string;
  restApiSsl: boolean;
  /** Allows HandleReloadConfigRequest (off by default, unlike TF Serving). */
  enableModelManagement: boolean;
  /** File holding the bearer token every call but health checks must carry. */
  authTokenFile: string;
  /** Every model base path must resolve inside this directory ('' = anywhere). */
  modelBasePathPrefix: string;
  restApiEnableCorsSupport: boolean;
  /** `k=v,k=v` as TF Serving takes it; parseGrpcChannelArguments turns it into grpc-js server options. */
  grpcChannelArguments: string;
  /** Which gRPC server serves the port: flowserve's own on node:http2, or grpc-js's. */
  grpcTransport: 'flowserve' | 'grpc-js';
  enableSerializationAsTensorContent: boolean;
  enableGrpcHealthcheckService: boolean;
  drainTimeoutSeconds: number;
  /** Seconds between a shutdown signal and the drain, with readiness withdrawn and requests still served. */
  drainDelaySeconds: number;
  waitForModels: boolean;
  /** TF Serving's --saved_model_tags: the comma-separated MetaGraphDef tag set a SavedModel is loaded with. */
  savedModelTags: string;
  /** Triton's --model-control-mode: none | poll | explicit (checked by parseModelControlMode). */
  modelControlMode: string;
  /** Where versions from object storage (s3://) are copied before they load ('' = a fresh temporary directory). */
  modelCacheDir: string;
  /** The web dashboard on the REST port (GET /, /dashboard, /api/dashboard/*); false: those paths 404. */
  dashboard: boolean;
  /** A folder of training runs (`flowserve train --checkpoint_dir` outputs) whose curves the dashboard shows. */
  runsDir: string;
}

type FlagKind = 'int' | 'port' | 'string' | 'bool' | 'device';

interface FlagDefinition {
  flag: string;
  key: keyof ServerFlags;
  kind: FlagKind;
  defaultValue: () => ServerFlags[keyof ServerFlags];
  help: string;
}

export const SERVER_FLAG_DEFINITIONS: readonly FlagDefinition[] = [
  { flag: 'port', key: 'port', kind: 'port', defaultValue: () => 8500, help: 'gRPC port (0 = off)' },
  { flag: 'rest_api_port', key: 'restApiPort', kind: 'port', defaultValue: () => 8501, help: 'HTTP port (0 = off)' },
  {
    flag: 'host',
    key: 'host',
    kind: 'string',
    defaultValue: () => '127.0.0.1',
    help: 'address to bind (0.0.0.0 to listen on all interfaces, as TF Serving does)',
  },
  {
    flag: 'model_name',
    key: 'modelName',
    kind: 'string',
    defaultValue: () => 'default',
    help: 'model name in single-model mode',
  },
  {
    flag: 'model_base_path',
    key: 'modelBasePath',
    kind: 'string',
    defaultValue: () => '',
    help: 'model base path in single-model mode (the parent of the version dirs)',
  },
  {
    flag: 'model_config_file',
    key: 'modelConfigFile',
    kind: 'string',
    defaultValue: () => '',
    help: 'text-format ModelServerConfig',
  },
  {
    flag: 'model_config_file_poll_wait_seconds',
    key: 'modelConfigFilePollWaitSeconds',
    kind: 'int',
    defaultValue: () => 0,
    help: 're-read the model config file every N seconds (0 = read once)',
  },
  {
    flag: 'file_system_poll_wait_seconds',
    key: 'fileSystemPollWaitSeconds',
    kind: 'int',
    defaultValue: () => 1,
    help: 'poll base paths for new versions every N seconds (0 = once, <0 = never)',
  },
  {
    flag: 'enable_batching',
    key: 'enableBatching',
    kind: 'bool',
    defaultValue: () => false,
    help: 'server-side batching',
  },
  {
    flag: 'batching_parameters_file',
    key: 'batchingParametersFile',
    kind: 'string',
    defaultValue: () => '',
    help: 'text-format BatchingParameters (needs --enable_batching)',
  },
  {
    flag: 'batch_dispatch',
    key: 'batchDispatch',
    kind: 'string',
    defaultValue: () => 'idle_thread',
    help:
      'when a partial batch runs: idle_thread = as soon as a batch thread is free (Triton); timeout = after ' +
      "batch_timeout_micros or when full, even with a thread free (TF Serving's BasicBatchScheduler)",
  },
  {
    flag: 'batch_padding',
    key: 'batchPadding',
    kind: 'string',
    defaultValue: () => 'auto',
    help:
      'padding of batches up to allowed_batch_sizes: auto = only for models on the GPU (on the CPU a batch runs at ' +
      "its own size); always = on every device (TF Serving's rule)",
  },
  {
    flag: 'monitoring_config_file',
    key: 'monitoringConfigFile',
    kind: 'string',
    defaultValue: () => '',
    help: 'text-format MonitoringConfig (Prometheus endpoint on the REST port)',
  },
  {
    flag: 'rest_api_timeout_in_ms',
    key: 'restApiTimeoutInMs',
    kind: 'int',
    defaultValue: () => 30000,
    help: 'timeout of REST calls',
  },
  {
    flag: 'max_num_load_retries',
    key: 'maxNumLoadRetries',
    kind: 'int',
    defaultValue: () => 5,
    help: 'retries after a failed load (0 = one attempt)',
  },
  {
    flag: 'load_retry_interval_micros',
    key: 'loadRetryIntervalMicros',
    kind: 'int',
    defaultValue: () => 60_000_000,
    help: 'wait between load retries',
  },
  {
    flag: 'enable_model_warmup',
    key: 'enableModelWarmup',
    kind: 'bool',
    defaultValue: () => true,
    help: 'replay assets.extra/warmup.json before a version becomes AVAILABLE',
  },
  {
    flag: 'allow_version_labels_for_unavailable_models',
    key: 'allowVersionLabelsForUnavailableModels',
    kind: 'bool',
    defaultValue: () => false,
    help: 'allow a new label to point at a version that is not loaded yet',
  },
  {
    flag: 'num_workers',
    key: 'numWorkers',
    kind: 'int',
    defaultValue: () => Math.max(1, availableParallelism()),
    help: 'inference worker threads (default: CPU count)',
  },
  {
    flag: 'calling_thread_runs',
    key: 'callingThreadRuns',
    kind: 'bool',
    defaultValue: () => true,
    help: 'run CPU models whose measured runs are tiny (≤ 150 µs) on the main thread, not a worker (false: always a worker)',
  },
  {
    flag: 'js_dense_runs',
    key: 'jsDenseRuns',
    kind: 'bool',
    defaultValue: () => true,
    help: 'compute tiny dense models (MatMul/Gemm, bias, ReLU/sigmoid/tanh, softmax; ≤ 262,144 multiply-adds a run with WebAssembly SIMD, else 16,384) on the main thread in JavaScript, where ONNX Runtime costs more than their arithmetic; answers agree to float32 rounding (false: always ONNX Runtime)',
  },
  {
    flag: 'chunked_runs',
    key: 'chunkedRuns',
    kind: 'bool',
    defaultValue: () => true,
    help: 'measure each version at load; run batches of models that compute faster per example in chunks (of 4/8/16) so (false: every batch whole)',
  },
  {
    flag: 'device',
    key: 'device',
    kind: 'device',
    defaultValue: () => 'cpu',
    help: 'where models run unless their config says otherwise: cpu (/cpu:0) or gpu (/gpu:0, WebGPU)',
  },
  {
    flag: 'max_request_bytes',
    key: 'maxRequestBytes',
    kind: 'int',
    defaultValue: () => DEFAULT_REQUEST_LIMITS.maxRequestBytes,
    help: 'largest request on the wire: gRPC message or REST body after gunzip (larger: RESOURCE_EXHAUSTED / 413)',
  },
  {
    flag: 'max_input_bytes',
    key: 'maxInputBytes',
    kind: 'int',
    defaultValue: () => DEFAULT_REQUEST_LIMITS.maxInputBytes,
    help: "largest decoded size of one request's input tensors, checked before they are allocated",
  },
  {
    flag: 'max_response_bytes',
    key: 'maxResponseBytes',
    kind: 'int',
    defaultValue: () => DEFAULT_REQUEST_LIMITS.maxResponseBytes,
    help: 'largest Predict reply (gRPC message or REST body) or /v2 REST infer reply, bounded from the outputs before encoding (larger: RESOURCE_EXHAUSTED)',
  },
  {
    flag: 'max_examples_per_request',
    key: 'maxExamplesPerRequest',
    kind: 'int',
    defaultValue: () => DEFAULT_REQUEST_LIMITS.maxExamples,
    help: 'most tf.Examples in one Classify/Regress/MultiInference request (with batching, max_batch_size too)',
  },
  {
    flag: 'max_v2_grpc_message_bytes',
    key: 'maxV2GrpcMessageBytes',
    kind: 'int',
    defaultValue: () => MAX_GRPC_MESSAGE_BYTES,
    help:
      'largest Open Inference Protocol gRPC message received or sent, default INT32_MAX as TF Serving and Triton ' +
      '(TF Serving services keep --max_request_bytes); lower it for untrusted clients, see docs/security.md',
  },
  {
    flag: 'ssl_config_file',
    key: 'sslConfigFile',
    kind: 'string',
    defaultValue: () => '',
    help: 'text-format SSLConfig (PEM contents): TLS on the gRPC and REST ports, mTLS with client_verify; reloaded on change',
  },
  {
    flag: 'rest_api_ssl',
    key: 'restApiSsl',
    kind: 'bool',
    defaultValue: () => true,
    help: 'with --ssl_config_file, also serve REST over TLS (false: plain HTTP)',
  },
  {
    flag: 'enable_model_management',
    key: 'enableModelManagement',
    kind: 'bool',
    defaultValue: () => false,
    help: 'allow HandleReloadConfigRequest to change the served models (off unlike TF Serving)',
  },
  {
    flag: 'auth_token_file',
    key: 'authTokenFile',
    kind: 'string',
    defaultValue: () => '',
    help: 'file holding a bearer token required on every call but health checks; reloaded on change',
  },
  {
    flag: 'model_base_path_prefix',
    key: 'modelBasePathPrefix',
    kind: 'string',
    defaultValue: () => '',
    help: 'absolute directory every model base path must resolve inside (reloads, config file, --model_base_path)',
  },
  {
    flag: 'rest_api_enable_cors_support',
    key: 'restApiEnableCorsSupport',
    kind: 'bool',
    defaultValue: () => false,
    help: 'add CORS headers (Access-Control-Allow-Origin: *) to REST responses',
  },
  {
    flag: 'grpc_channel_arguments',
    key: 'grpcChannelArguments',
    kind: 'string',
    defaultValue: () => '',
    help: 'grpc-js server options as k=v,k=v (integer values where they parse), e.g. grpc.max_connection_age_ms=2000',
  },
  {
    flag: 'grpc_transport',
    key: 'grpcTransport',
    kind: 'string',
    defaultValue: () => 'flowserve',
    help:
      "gRPC server: flowserve (its own on node:http2, the default) or grpc-js (grpc-js's Server; takes every " +
      'grpc.* channel argument)',
  },
  {
    flag: 'enable_serialization_as_tensor_content',
    key: 'enableSerializationAsTensorContent',
    kind: 'bool',
    defaultValue: () => false,
    help: 'gRPC Predict outputs as tensor_content bytes',
  },
  {
    flag: 'enable_grpc_healthcheck_service',
    key: 'enableGrpcHealthcheckService',
    kind: 'bool',
    defaultValue: () => true,
    help: 'grpc.health.v1.Health (always served by flowserve; =false is refused)',
  },
  {
    flag: 'drain_timeout_seconds',
    key: 'drainTimeoutSeconds',
    kind: 'int',
    defaultValue: () => 10,
    help: 'on SIGTERM/SIGINT: stop taking requests, finish running ones, cancel loads, and exit within N seconds',
  },
  {
    flag: 'drain_delay_seconds',
    key: 'drainDelaySeconds',
    kind: 'int',
    defaultValue: () => 0,
    help:
      'on SIGTERM/SIGINT: first answer health checks not-ready for N seconds while still serving requests (longer ' +
      'than the load balancer takes to notice), then drain',
  },
  {
    flag: 'wait_for_models',
    key: 'waitForModels',
    kind: 'bool',
    defaultValue: () => true,
    help: 'open the ports only once the initial models have loaded or failed (false: at once, models come up later)',
  },
  {
    flag: 'saved_model_tags',
    key: 'savedModelTags',
    kind: 'string',
    defaultValue: () => 'serve',
    help: 'comma-separated tag set of the MetaGraphDef to load from each SavedModel',
  },
  {
    flag: 'model_control_mode',
    key: 'modelControlMode',
    kind: 'string',
    defaultValue: () => 'none',
    help:
      "Triton's model control: explicit allows the v2 repository API's load/unload; none and poll refuse them " +
      '(poll also requires --file_system_poll_wait_seconds > 0)',
  },
  {
    flag: 'model_cache_dir',
    key: 'modelCacheDir',
    kind: 'string',
    defaultValue: () => '',
    help: 'directory for versions copied from object storage (s3://); default a fresh directory under the OS temp dir',
  },
  {
    flag: 'dashboard',
    key: 'dashboard',
    kind: 'bool',
    defaultValue: () => true,
    help: 'serve the web dashboard on the REST port (/, /dashboard, /api/dashboard/*); false: those paths 404',
  },
  {
    flag: 'runs_dir',
    key: 'runsDir',
    kind: 'string',
    defaultValue: () => '',
    help: 'a folder of training runs (each a train --checkpoint_dir, or the folder itself) whose curves the dashboard shows',
  },
];

const TRUE_WORDS = ['true', '1', 'yes'];
const FALSE_WORDS = ['false', '0', 'no'];

function convert(def: FlagDefinition, raw: unknown): ServerFlags[keyof ServerFlags] {
  const text = String(raw);
  switch (def.kind) {
    case 'string':
      return text;
    case 'int': {
      if (!/^[-+]?\d+$/.test(text.trim())) {
        throw new InvalidArgument(`invalid value for --${def.flag}: '${text}' (expected an integer)`);
      }
      return Number(text);
    }
    case 'port': {
      // Checked here, before any model loads, rather than by the socket layer after a long start.
      const port = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
      if (!(port >= 0 && port <= 65535)) {
        throw new InvalidArgument(`invalid value for --${def.flag}: '${text}' (expected a port number, 0 to 65535)`);
      }
      return port;
    }
    case 'bool': {
      if (raw === true) return true;
      const word = text.toLowerCase();
      if (TRUE_WORDS.includes(word)) return true;
      if (FALSE_WORDS.includes(word)) return false;
      throw new InvalidArgument(`invalid value for --${def.flag}: '${text}' (expected true or false)`);
    }
    case 'device':
      return parseDevice(text);
  }
}

const CPU_SPELLINGS = ['cpu', '/cpu:0', 'cpu:0', '/device:cpu:0'];
const GPU_SPELLINGS = ['gpu', '/gpu:0', 'gpu:0', '/device:gpu:0'];

/** The device a spelling names, or undefined: `cpu`, `/cpu:0`, `/device:CPU:0`, `gpu`, `/gpu:0`, `/device:GPU:0`. */
export function deviceFromSpelling(text: string): ServingDevice | undefined {
  const normalized = text.trim().toLowerCase();
  if (CPU_SPELLINGS.includes(normalized)) return 'cpu';
  if (GPU_SPELLINGS.includes(normalized)) return 'gpu';
  return undefined;
}

/**
 * Parses --device: `cpu` (also `/cpu:0`, `/device:CPU:0`) or `gpu` (also `/gpu:0`, `/device:GPU:0`). Only GPU:0
 * exists: ONNX Runtime 1.30's Node binding uses the default WebGPU adapter.
 */
export function parseDevice(text: string): ServingDevice {
  const device = deviceFromSpelling(text);
  if (device) return device;
  const normalized = text.trim().toLowerCase();
  if (/^\/?(device:)?gpu:\d+$/.test(normalized)) {
    throw new InvalidArgument(
      `invalid value for --device: '${text}' (only GPU 0 exists: ONNX Runtime uses the default WebGPU adapter; ` +
        'expected cpu, /cpu:0, /device:CPU:0, gpu, /gpu:0 or /device:GPU:0)',
    );
  }
  throw new InvalidArgument(
    `invalid value for --device: '${text}' (expected cpu, /cpu:0, /device:CPU:0, gpu, /gpu:0 or /device:GPU:0)`,
  );
}

/** The help line's default, unless the help text states it already; empty defaults are not shown. */
function helpWithDefault(def: FlagDefinition): string {
  const value = String(def.defaultValue());
  return def.help.includes('(default') || value === '' ? def.help : `${def.help} (default: ${value})`;
}

/** TF Serving flags refused by name: those in UNSUPPORTED_TF_SERVING_FLAGS that no definition implements. */
function refusedFlags(): string[] {
  const defined = new Set(SERVER_FLAG_DEFINITIONS.map((def) => def.flag));
  return Object.keys(UNSUPPORTED_TF_SERVING_FLAGS).filter((flag) => !defined.has(flag));
}

/** Adds every server flag to a commander Command (for the CLI); read the result with serverFlagsFromOptions. */
export function defineServerFlags(command: Command): Command {
  for (const def of SERVER_FLAG_DEFINITIONS) {
    // Booleans take an optional value so that `--flag`, `--flag=true` and `--flag=false` all work, as in TF.
    const syntax = def.kind === 'bool' ? `--${def.flag} [bool]` : `--${def.flag} <value>`;
    command.option(syntax, helpWithDefault(def));
  }
  // Parsed (with or without a value) only to be refused by name in serverFlagsFromOptions; hidden from --help.
  for (const flag of refusedFlags()) command.addOption(new Option(`--${flag} [value]`).hideHelp());
  return command;
}

/** Converts commander's option values (attribute names = flag names) into checked ServerFlags. */
export function serverFlagsFromOptions(options: Record<string, unknown>): ServerFlags {
  const refused = refusedFlags().find((flag) => options[flag] !== undefined);
  if (refused) throw new InvalidArgument(unsupportedFlagMessage(refused));
  const flags: Record<string, unknown> = {};
  for (const def of SERVER_FLAG_DEFINITIONS) {
    const raw = options[def.flag];
    flags[def.key] = raw === undefined ? def.defaultValue() : convert(def, raw);
  }
  const result = flags as unknown as ServerFlags;
  if (result.numWorkers < 1) throw new InvalidArgument(`--num_workers must be at least 1; got ${result.numWorkers}`);
  for (const [flag, value] of [
    ['max_request_bytes', result.maxRequestBytes],
    ['max_input_bytes', result.maxInputBytes],
    ['max_response_bytes', result.maxResponseBytes],
    ['max_examples_per_request', result.maxExamplesPerRequest],
    ['max_v2_grpc_message_bytes', result.maxV2GrpcMessageBytes],
  ] as const) {
    if (value < 1) throw new InvalidArgument(`--${flag} must be at least 1; got ${value}`);
  }
  if (result.drainTimeoutSeconds < 0) {
    throw new InvalidArgument(`--drain_timeout_seconds must be at least 0; got ${result.drainTimeoutSeconds}`);
  }
  if (result.drainDelaySeconds < 0) {
    throw new InvalidArgument(`--drain_delay_seconds must be at least 0; got ${result.drainDelaySeconds}`);
  }
  if (result.batchingParametersFile !== '' && !result.enableBatching) {
    throw new InvalidArgument('--batching_parameters_file is set without --enable_batching');
  }
  parseSavedModelTags(result.savedModelTags);
  if (!result.enableGrpcHealthcheckService) {
    throw new InvalidArgument(
      '--enable_grpc_healthcheck_service=false is not supported by flowserve (grpc.health.v1.Health is always served)',
    );
  }
  if (result.grpcTransport !== 'flowserve' && result.grpcTransport !== 'grpc-js') {
    throw new InvalidArgument(`--grpc_transport must be flowserve or grpc-js; got '${String(result.grpcTransport)}'`);
  }
  const channelArguments = parseGrpcChannelArguments(result.grpcChannelArguments);
  // flowserve's transport refuses, here before any model loads, the arguments it cannot honour.
  if (result.grpcTransport === 'flowserve') transportSettings(channelArguments);
  return result;
}

/** Parses flag arguments (without `node` and the script name), e.g. `['--port=9000', '--enable_batching']`. */
export function parseServerFlags(argv: readonly string[]): ServerFlags {
  const command = defineServerFlags(new Command('flowserve'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .allowExcessArguments(false);
  try {
    command.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new InvalidArgument(err.message.replace(/^error: /, ''));
    throw err;
  }
  return serverFlagsFromOptions(command.opts());
}

/** --saved_model_tags as TF Serving splits it (`serve,gpu`): tags trimmed, none empty. */
export function parseSavedModelTags(text: string): string[] {
  const tags = text.split(',').map((tag) => tag.trim());
  if (tags.some((tag) => tag === '')) {
    throw new InvalidArgument(
      `invalid value for --saved_model_tags: '${text}' (expected comma-separated tags, e.g. serve or serve,gpu)`,
    );
  }
  return tags;
}
