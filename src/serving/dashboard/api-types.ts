/**
 * The response bodies of the dashboard's JSON endpoints (GET, on the REST port, same auth/TLS/CORS as every other
 * route; docs/api.md "Dashboard endpoints"). The page under dashboard/ reads only these, and so can any script.
 * This file has no imports and no code, so it is the whole contract: a field documented here is always present
 * unless marked optional (`?`); `null` means "not known / not applicable" as each field says.
 *
 * Errors are TF Serving's REST error body, {"error": "message"}, with the error's HTTP status (404 for an unknown
 * model or version, 401 without the bearer token when --auth_token_file is set). With --dashboard=false every
 * /api/dashboard/* path answers 404 like any unknown path.
 *
 * Shapes may grow (new fields); existing fields keep their meaning.
 */

/** A version's lifecycle state (TF Serving's ModelVersionStatus.State). */
export type DashboardVersionState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

/** `GET /api/dashboard/server` */
export interface DashboardServer {
  /** Always "flowserve". */
  name: string;
  /** The package version (package.json), as `flowserve --version` prints it. */
  version: string;
  /** When the server started, ISO 8601 (UTC). */
  startedAt: string;
  /** Seconds since the start, as of this response. */
  uptimeSeconds: number;
  /** 'starting' until the initial models have settled, 'ready', then 'draining' during a shutdown. */
  readiness: 'starting' | 'ready' | 'draining';
  /**
   * --model_control_mode. Only 'explicit' allows load/unload through /v2/repository/models/NAME/{load,unload}
   * (the page shows those actions only then).
   */
  modelControlMode: 'none' | 'poll' | 'explicit';
  /** Whether ModelService/HandleReloadConfigRequest is allowed (--allow_model_management or a config file). */
  modelManagement: boolean;
  dashboard: {
    /** Always true in a response (with --dashboard=false there is no response). */
    enabled: boolean;
    /** Whether --runs_dir is set (GET /api/dashboard/runs then lists curves). */
    runs: boolean;
    /** Milliseconds between two stats samples (and two stream events). */
    statsIntervalMs: number;
    /** Samples kept per series (the window is statsIntervalMs × statsSamples). */
    statsSamples: number;
    /** Live streams (GET /api/dashboard/stats/stream) open at once at most; more get 503. */
    maxStreams: number;
    /** Ops listed at most by a placement response (more are cut, and the response says so). */
    maxPlacementOps: number;
  };
  /** The ports the server listens on (as bound, so an ephemeral port 0 shows its real number). */
  ports: { grpc: number; rest: number };
  /** What each port speaks. */
  protocols: {
    /** gRPC: tensorflow.serving.* (PredictionService, ModelService), inference.GRPCInferenceService, health. */
    grpc: { tls: boolean; services: string[] };
    /** REST: TF Serving's /v1 and the Open Inference Protocol's /v2. */
    rest: { tls: boolean; apis: string[]; cors: boolean };
    /** The Prometheus exposition path on the REST port, or null when monitoring is off. */
    prometheusPath: string | null;
    /** Whether every call but health checks needs `authorization: Bearer <token>`. */
    auth: boolean;
  };
  /** The inference worker pool (ONNX Runtime runs in these threads), or null when models run on the calling thread. */
  workers: { size: number } | null;
}

/** One tensor of a signature, as the metadata APIs describe it. */
export interface DashboardTensor {
  /** The ONNX tensor name behind the signature's alias. */
  name: string;
  /** TensorFlow's dtype name as GetModelMetadata reports it: "DT_FLOAT", "DT_INT64", "DT_STRING", … */
  dtype: string;
  /** The Open Inference Protocol's datatype, as /v2/models/NAME reports it: "FP32", "INT64", "BYTES", … */
  datatype: string;
  /** Dimensions; -1 = any size (the first is the batch dimension). Empty for a scalar or an unknown rank. */
  shape: number[];
  /** True when the signature declares no rank (TF's unknown_rank); `shape` is then []. */
  unknownRank: boolean;
}

/** One signature (SignatureDef) of a version. */
export interface DashboardSignature {
  /** "tensorflow/serving/predict", "…/classify" or "…/regress". */
  methodName: string;
  /** By alias (what clients send in `inputs` / `instances`). */
  inputs: Record<string, DashboardTensor>;
  /** By alias. */
  outputs: Record<string, DashboardTensor>;
}

/**
 * What a version was loaded from: "flowserve" (an exported model.onnx with signatures.json), "onnx" (a plain
 * model.onnx, signature derived from the graph), or an imported TensorFlow format.
 */
export type DashboardModelFormat =
  'flowserve' | 'onnx' | 'saved_model' | 'session_bundle' | 'frozen_graph' | 'tfjs_graph_model';

export interface DashboardVersion {
  version: number;
  state: DashboardVersionState;
  /** The version labels (--model_config_file's version_labels) pointing at this version, sorted. */
  labels: string[];
  /** Set when the version failed (state END): the error code name and the whole message, uncut. */
  error: { code: string; message: string } | null;
  /** Known while the version is loaded (AVAILABLE, or UNLOADING during a drain); else null. */
  loaded: {
    format: DashboardModelFormat;
    /** Triton's platform name: "onnxruntime_onnx", "tensorflow_savedmodel", "tensorflow_graphdef". */
    platform: string;
    /** Where it computes: "cpu" (ONNX Runtime's CPU EP) or "gpu" (WebGPU EP). */
    device: 'cpu' | 'gpu';
    /** Copies computing in parallel (worker threads holding it). */
    instances: number;
    /** The signature used when a request names none. */
    defaultSignature: string;
    /** Every signature, by key, sorted. */
    signatures: Record<string, DashboardSignature>;
  } | null;
}

export interface DashboardModel {
  name: string;
  /** False after a repository unload took the model out of the served config. */
  served: boolean;
  /** The base path: a local directory, or s3://BUCKET/PREFIX. */
  source: { basePath: string; kind: 'local' | 's3' };
  /** The configured device (model config `device`, else --device), "cpu" or "gpu". */
  device: 'cpu' | 'gpu';
  /** The version policy in words: "latest 1", "all", "specific 1,3". */
  versionPolicy: string;
  /** Server-side batching (--enable_batching), or null when off. */
  batching: {
    maxBatchSize: number;
    batchTimeoutMicros: number;
    maxEnqueuedBatches: number;
    numBatchThreads: number;
    allowedBatchSizes: number[];
    padVariableLengthInputs: boolean;
  } | null;
  /** version_labels of the config: label → version. */
  labels: Record<string, number>;
  /** Every version seen, highest first. */
  versions: DashboardVersion[];
}

/** `GET /api/dashboard/models` */
export interface DashboardModels {
  /** By name. */
  models: DashboardModel[];
}

/** One op of a placement graph. */
export interface DashboardPlacementOp {
  name: string;
  /** The op type (ONNX op type for a served graph: "MatMul", "Add", "Softmax", …). */
  type: string;
  /** The device the op runs on: a TensorFlow device name such as "/job:localhost/replica:0/task:0/device:CPU:0". */
  device: string;
  /** The index of its partition in `partitions`. */
  partition: number;
  /** Input tensor names ("" for an omitted optional input). */
  inputs: string[];
  /** Output tensor names. */
  outputs: string[];
}

/** `GET /api/dashboard/models/NAME/versions/V/placement` */
export interface DashboardPlacement {
  model: string;
  version: number;
  /** Where the graph came from: the version's served ONNX graph (for imported models, the graph they became). */
  graph: 'onnx';
  format: DashboardModelFormat;
  /** Every device the graph uses, as in TensorFlow's "Device mapping". */
  devices: string[];
  /** The device partitions (one per device), in execution order. */
  partitions: { index: number; device: string; ops: number }[];
  /** Tensors that cross from one partition to another (explicit transfers). */
  transfers: { tensor: string; from: number; to: number }[];
  /** The graph's inputs (fed) and outputs (fetched), by ONNX name. */
  inputs: string[];
  outputs: string[];
  /** Initializers (weights) are not ops; their count is given here. */
  initializers: number;
  /** Ops in the graph in all. */
  totalOps: number;
  /** The first ops in graph order, at most `maxOps` of them. */
  ops: DashboardPlacementOp[];
  maxOps: number;
  /** True when `ops` was cut to `maxOps` (and then `transfers` only covers the ops listed). */
  truncated: boolean;
  /** TensorFlow's log_device_placement lines for the listed ops: "name: (Type): /job:…/device:CPU:0". */
  log: string[];
}

/** One line of the live charts: one model over one protocol. */
export interface DashboardSeries {
  /** A served model's name, or "(unknown)" for requests naming no served model. */
  model: string;
  /** "GRPC" or "REST". */
  entrypoint: string;
  /** "v1" (TF Serving's API) or "v2" (the Open Inference Protocol). */
  protocol: string;
  /** One value per sample (aligned with DashboardStats.timestamps): requests per second, every status. */
  requestsPerSecond: number[];
  /** Requests per second that ended in an error (status other than OK). */
  errorsPerSecond: number[];
  /**
   * Latency percentiles of the successful requests of each interval in milliseconds, estimated from the
   * Prometheus histogram's buckets as histogram_quantile does; null when no request succeeded in the interval.
   */
  p50LatencyMs: (number | null)[];
  p99LatencyMs: (number | null)[];
}

/** `GET /api/dashboard/stats`, and the data of each `stats` event of `GET /api/dashboard/stats/stream`. */
export interface DashboardStats {
  intervalMs: number;
  /**
   * Sample times (ms since the epoch), oldest first; every series has one value per timestamp. /stats gives the
   * whole window; a stream event gives only the newest sample (append it to what /stats gave).
   */
  timestamps: number[];
  series: DashboardSeries[];
  /**
   * Examples per executed batch (before padding) over the whole window, per model: Prometheus buckets (`le`
   * = upper bound; counts NOT cumulative here, one count per bucket, the last bucket's le is null = +Inf).
   */
  batchSizes: { model: string; buckets: { le: number | null; count: number }[]; batches: number }[];
  /** Tasks waiting in batch queues now, per model/version/signature (only with batching). */
  queues: { model: string; version: number; signature: string; depth: number }[];
  /** The worker pool now: threads with a run in flight, threads without, and replacements of crashed workers. */
  workers: { size: number; busy: number; idle: number; restarts: number } | null;
}

/** One training run's curves (what curves.svg is drawn from). */
export interface DashboardRun {
  /** The run's folder name inside --runs_dir ("." when --runs_dir itself is the checkpoint dir). */
  name: string;
  title: string;
  /** Modification time of the curves file, ISO 8601. */
  updatedAt: string;
  /** Loss per step (index i = step i + 1); null where the loss was not finite. */
  loss: (number | null)[];
  /** Accuracy per step, 0…1; may be shorter or longer than `loss`. */
  accuracy: (number | null)[];
  /** The x axis label ("step"). */
  xLabel: string;
}

/** `GET /api/dashboard/runs` */
export interface DashboardRuns {
  /** Whether --runs_dir is set; false → `runs` is empty. */
  enabled: boolean;
  /** Newest first. */
  runs: DashboardRun[];
  /** Run folders that were skipped, and why (a file too large, not valid JSON, …). */
  skipped: { name: string; reason: string }[];
}
