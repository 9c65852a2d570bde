/** Options of createServingCore, with TF Serving's defaults (spec §3.1). buildCoreOptions() derives them from flags. */
import type { Registry } from 'prom-client';
import type { BatchingParameters } from '../config/batching-parameters.js';
import type { GpuProbeResult } from '../../devices/webgpu.js';
import type { ModelServerConfig, ServingDevice } from '../config/model-server-config.js';
import type { MonitoringConfig } from '../config/monitoring-config.js';
import type { RequestLimits } from './request-limits.js';
import type { ModelControlMode } from './types.js';
import { escapeControlCharacters } from '../config/untrusted-text.js';
import type { LoaderFactory } from './servable.js';
import type { Log } from './storage-path-source.js';
import type { TfWarmupReader } from './warmup.js';
import type { StorageOptions } from '../storage/storages.js';

export interface ServingCoreOptions {
  /** The models to serve at start. */
  modelConfig: ModelServerConfig;
  /** Re-read this file every `modelConfigFilePollWaitSeconds` (> 0) and apply it as a config reload. */
  modelConfigFile?: string;
  modelConfigFilePollWaitSeconds?: number;
  /**
   * --model_cache_dir: where versions from object storage (s3://) are copied before they load; its
   * `flowserve-versions` subfolder is emptied at start. Default: a fresh directory under the OS temp dir, removed on
   * close.
   */
  modelCacheDir?: string;
  /** Object storage settings beyond the flags (environment, timeouts, retry delays); see StorageOptions. */
  storage?: Omit<StorageOptions, 'cacheDir'>;
  /** Version discovery period: default 1; 0 = once at start; < 0 = never. Fractions allowed. */
  fileSystemPollWaitSeconds?: number;
  /** Server-side batching parameters; undefined = no batching. */
  batching?: BatchingParameters;
  /** Default 5. */
  maxNumLoadRetries?: number;
  /** Default 60 s. */
  loadRetryIntervalMicros?: number;
  /** Default true. */
  enableModelWarmup?: boolean;
  /**
   * Reads TF Serving's `assets.extra/tf_serving_warmup_requests` (TFRecord of PredictionLog) of a version being
   * loaded. The core cannot decode protobuf itself (layering): startServer passes the API layer's reader; without
   * one only `assets.extra/warmup.json` is replayed.
   */
  readTfWarmup?: TfWarmupReader;
  allowVersionLabelsForUnavailableModels?: boolean;
  /** Request size limits (--max_request_bytes, --max_input_bytes); default DEFAULT_REQUEST_LIMITS. */
  limits?: Partial<RequestLimits>;
  /** Inference worker threads; default CPU count. */
  numWorkers?: number;
  /**
   * Models whose measured runs are tiny compute on the calling thread rather than hopping to a worker
   * (src/serving/worker/calling-thread-runs.ts); default true. False sends every run to a worker.
   */
  callingThreadRuns?: boolean;
  /**
   * Calling-thread runs of tiny dense models compute in JavaScript, not ONNX Runtime (src/serving/worker/dense-plan.ts);
   * default true. Answers agree with ONNX Runtime's to float32 rounding; false keeps every run in ONNX Runtime.
   */
  jsDenseRuns?: boolean;
  /**
   * A version's batchable signatures are measured when it loads, and their larger batches run as chunks where that
   * is measurably cheaper and gives the same outputs (src/serving/core/chunked-runs.ts); default true.
   */
  chunkedRuns?: boolean;
  /** --device: where models without a `device` in their config run; default 'cpu'. */
  device?: ServingDevice;
  /**
   * Checks for a WebGPU adapter when some model is to run on the GPU (start-up warning); default the devices
   * module's probe (`discoverGpus`: a child process with a timeout, cached). Tests replace it.
   */
  probeGpu?: () => Promise<GpuProbeResult>;
  /**
   * --enable_model_management: allows reloadConfig (HandleReloadConfigRequest; later the Open Inference Protocol's
   * repository API). Default false, unlike TF Serving, whose reload RPC lets any client repoint or unload every model.
   */
  enableModelManagement?: boolean;
  /** --model_control_mode: `explicit` allows the repository API's load and unload; default `none`. */
  modelControlMode?: ModelControlMode;
  /**
   * --model_base_path_prefix: every base path (start-up config, config-file polls and reloads) must resolve inside
   * this directory. Undefined: no confinement.
   */
  modelBasePathPrefix?: string;
  /** --saved_model_tags: the MetaGraphDef tag set SavedModels load with; default ['serve']. */
  savedModelTags?: readonly string[];
  /** Kept for the REST adapter (Prometheus endpoint); the core does not read it. */
  monitoring?: MonitoringConfig;
  /** Registry for the metrics; a fresh one by default. */
  registry?: Registry;
  /** Log sink; default writes to stderr. */
  log?: Log;
  /** Replaces the ONNX loader (tests use fakes); then no worker pool is started. */
  loaderFactory?: LoaderFactory;
}

/** Writes one line per call: control characters in the message (from names, paths, errors) are escaped. */
export const defaultLog: Log = (level, message) => {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${escapeControlCharacters(message)}\n`);
};
