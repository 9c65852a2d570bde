/**
 * The contract between the serving core (lifecycle, batching, workers) and the API adapters (gRPC, REST).
 * Adapters decode a request into these types, call `ServingCore`, and encode the answer; they hold no logic.
 */
import type { DType } from '../../graph/dtype.js';
import type { HostTensor } from '../../graph/host-tensor.js';
import type { BatchingParameters } from '../config/batching-parameters.js';
import type { ServingDevice, VersionPolicy } from '../config/model-server-config.js';
import type { VersionStatistics } from './inference-statistics.js';
import type { ChunkedRunsDecision } from './chunked-runs.js';
import type { GraphSummarySource } from './graph-summary.js';
import type { ServableFormat } from './servable.js';
import type { ExampleFeatures } from './example-parsing.js';
import type { InputAdmission, RequestLimits } from './request-limits.js';

export const METHOD_CLASSIFY = 'tensorflow/serving/classify';
export const METHOD_PREDICT = 'tensorflow/serving/predict';
export const METHOD_REGRESS = 'tensorflow/serving/regress';
export const DEFAULT_SIGNATURE = 'serving_default';

/** One tensor of a signature: the ONNX tensor name behind an alias, its dtype and shape (-1 = unknown). */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
  /** The SignatureDef declares no rank (TF's `unknown_rank`); `shape` is then []. Reported as such in metadata. */
  unknownRank?: boolean;
}

/** One dense feature (TF's FixedLenFeature) of an imported ParseExample/ParseExampleV2. */
export interface ParsedFeatureSpec {
  dtype: 'float32' | 'int64' | 'string';
  /** Per-example shape (ParseExample's dense_shapes); an example's values fill it row-major. */
  shape: number[];
  /**
   * The value of an example that lacks the feature, row-major (int64 as decimal strings, JSON has no int64; a
   * string element as its UTF-8 text, or {"b64": …} when its bytes are not text); absent: the feature is
   * required, as TF's empty dense_default means.
   */
  defaultValue?: (number | string | { b64: string })[];
  /** The model (ONNX) inputs that take the parsed [N, ...shape] tensor; empty when the signature reads none. */
  tensors: string[];
}

/**
 * A signature whose graph parses serialized tf.Examples with ParseExample: TF's SignatureDef names the string
 * input (`tf_example:0`), and flowserve parses the examples on the host, as TF's op does, into the model's inputs.
 */
export interface ParseExamplesSpec {
  /** The signature input alias of the serialized tf.Example batch. */
  input: string;
  /** Dense features by tf.Example feature key, in ParseExample's order. */
  features: Record<string, ParsedFeatureSpec>;
}

export interface ExampleFeatureSpec {
  /** The signature input alias this feature fills. */
  input: string;
  kind: 'float_list' | 'int64_list' | 'bytes_list';
  /** Per-example shape; the feature's values fill it row-major. */
  shape: number[];
}

/** A signature as stored in signatures.json (docs/servable-format.md). */
export interface Signature {
  method: string;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  classLabels?: string[];
  exampleFeatures?: Record<string, ExampleFeatureSpec>;
  /** Set for an imported signature that parses tf.Examples (docs/tensorflow-models.md). */
  parseExamples?: ParseExamplesSpec;
  /**
   * false: request shapes are not checked against the signature's (only dtypes), as TF Serving does for
   * SavedModels, whose signature shapes are documentation (`[1.0, 2.0]` for x:[-1,1] is served). Default true.
   */
  enforceShapes?: boolean;
  /**
   * An imported signature that updates variables (docs/tensorflow-models.md#state): each variable's ONNX input
   * (its current value; the model's initializer of that name until the first update) and the output with its
   * value after the run. The server keeps the values per loaded version and runs such signatures one at a time.
   */
  state?: StateVariableSpec[];
}

export interface StateVariableSpec {
  /** The variable's name in the graph, for logs and `inspect`. */
  variable: string;
  input: string;
  output: string;
}

export interface SignatureFile {
  format: 'flowserve.signatures/1';
  default: string;
  signatures: Record<string, Signature>;
}

/** States of a servable version (TensorFlow Serving's ManagerState / ModelVersionStatus.State). */
export type VersionState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

export interface VersionStatus {
  version: number;
  state: VersionState;
  /** Set when the version failed to load (state END with an error), as TF Serving's StatusProto. */
  error?: { code: string; message: string };
}

/** Which model version a request addresses: by number, by label, or (neither) the latest available. */
export interface ModelSelector {
  name: string;
  version?: number;
  label?: string;
}

export interface ServableInfo {
  modelName: string;
  version: number;
  signatures: Record<string, Signature>;
  defaultSignature: string;
}

/** A servable's info with what it is and how it is served (Triton's model configuration). */
export interface ModelDescription extends ServableInfo {
  /** Triton's platform name: `onnxruntime_onnx`, `tensorflow_savedmodel`, `tensorflow_graphdef`. */
  platform: string;
  device: ServingDevice;
  /** Copies of the model computing in parallel (worker threads holding it). */
  instances: number;
  /** The server's batching parameters; undefined = batching off. */
  batching?: BatchingParameters;
  /** The model's version policy in the served config. */
  versionPolicy: VersionPolicy;
  /** What the version was loaded from; absent when the servable does not say. */
  format?: ServableFormat;
  /** The graph it runs (the dashboard's placement view); absent when the servable does not say. */
  graph?: GraphSummarySource;
  /** Per signature, whether larger batches run in chunks and what was measured; absent when not calibrated. */
  chunkedRuns?: ChunkedRunsDecision[];
}

/**
 * Triton's --model_control_mode: `explicit` allows the repository API's load and unload; `none` (the default) and
 * `poll` refuse them. flowserve always polls base paths for versions (--file_system_poll_wait_seconds); `poll` insists
 * on it.
 */
export type ModelControlMode = 'none' | 'poll' | 'explicit';

/** One model the server knows (its config lists it, or listed it before an unload), for the repository index. */
export interface RepositoryModel {
  name: string;
  /** Whether the model is in the served config (false after a repository unload). */
  served: boolean;
  /** Every version seen, highest first (empty before its base path has been polled). */
  versions: VersionStatus[];
}

export interface ModelChangeOptions {
  /** Aborted when the client has gone: the change is dropped as a cancelled reload is (reloadConfig). */
  signal?: AbortSignal;
}

export interface LoadModelOptions extends ModelChangeOptions {
  /** Replaces the configured version policy for this load (Triton's load `config` override). */
  versionPolicy?: VersionPolicy;
}

export interface RunRequest {
  model: ModelSelector;
  /** Empty or undefined means the servable's default signature. */
  signatureName?: string;
  /** Inputs keyed by signature alias. */
  inputs: Record<string, HostTensor>;
  /** Output aliases to return; empty or undefined = all. */
  outputFilter?: string[];
  /**
   * Classify/Regress on a signature with `parseExamples`: the request's tf.Examples, which the core parses into
   * the model's inputs (`inputs` is then empty).
   */
  examples?: readonly ExampleFeatures[];
  /**
   * The inputs were decoded for this request alone: their buffers may be moved to the worker thread instead of
   * copied (a 60 MB input took 135 ms of event loop to clone). They are unusable by the caller afterwards.
   */
  inputsOwned?: boolean;
  /**
   * Date.now() ms when the client stops waiting (gRPC deadline, REST timeout); undefined = none. A request still
   * queued then is dropped before it runs: DEADLINE_EXCEEDED, counted in flowserve_requests_dropped_deadline_total.
   */
  deadline?: number;
  /**
   * The client connection the request came on (gRPC: its HTTP/2 session), when the transport knows it, or
   * MANY_CONNECTIONS (the REST port's HTTP/1.1 front, ../apis/rest/http1-front.ts): a tiny model's runs that arrive
   * together on one connection compute back to back on the calling thread (worker-pool.ts).
   */
  connection?: object;
}

export interface RequestAdmission {
  signatureName: string;
  admission: InputAdmission;
}

/**
 * Whether the server takes traffic: 'starting' until the initially configured models have settled (loaded or
 * failed), 'ready', then 'leaving' for --drain_delay_seconds after a shutdown signal (health answers not-ready so
 * load balancers stop sending, while requests are still served), then 'draining' (new requests refused). It only
 * moves forward. Health endpoints report 'ready' only.
 */
export type Readiness = 'starting' | 'ready' | 'leaving' | 'draining';

export interface ReloadOptions {
  /**
   * Aborted when the client has gone (gRPC cancel or deadline): the reload stops waiting and drops what it had not
   * finished (ServingCoreImpl.reloadConfig says exactly what).
   */
  signal?: AbortSignal;
}

export interface RunResult {
  modelName: string;
  version: number;
  signatureName: string;
  signature: Signature;
  /** Outputs keyed by signature alias. */
  outputs: Record<string, HostTensor>;
}

/**
 * What the API adapters need from the serving core. Errors thrown are FlowserveError subclasses
 * (src/errors.ts) with TensorFlow Serving's codes and messages.
 */
export interface AdmissionOptions {
  /** With no signature named: this one when the servable has it, else the servable's default (v2's serving_default). */
  preferredSignature?: string;
}

export interface ServingCore {
  /** Resolves the version, validates inputs against the signature, batches and runs off the event loop. */
  run(request: RunRequest): Promise<RunResult>;
  /**
   * Resolves the version and signature a request addresses (the same errors as `run`) and returns the admission
   * that checks each input's header against the signature and the limits before the adapter decodes it.
   */
  admission(model: ModelSelector, signatureName?: string, options?: AdmissionOptions): RequestAdmission;
  /** The request size limits the adapters enforce on the wire. */
  readonly limits: Readonly<RequestLimits>;
  /** The most tf.Examples one request may carry (limits and batching together). */
  readonly maxExamplesPerRequest: number;
  /** The servable's signatures (GetModelMetadata). */
  info(model: ModelSelector): ServableInfo;
  /** Version states of a model (GetModelStatus); one version when `version` is given. */
  status(name: string, version?: number, label?: string): VersionStatus[];
  /**
   * Replaces the served model list (ModelService/HandleReloadConfigRequest); PERMISSION_DENIED unless model
   * management is enabled.
   */
  reloadConfig(config: unknown): Promise<void>;
  /** Throws PERMISSION_DENIED naming `api` and the flag that enables it, unless model management is enabled. */
  checkModelManagement(api: string): void;
  /** Replaces the served model list (ModelService/HandleReloadConfigRequest). */
  reloadConfig(config: unknown, options?: ReloadOptions): Promise<void>;
  /** Read by every health endpoint (gRPC health, and later /v2/health/ready). */
  readonly readiness: Readiness;
  /** The servable's info, format, placement and serving parameters (Triton's ModelConfig). */
  describe(model: ModelSelector): ModelDescription;
  /** AVAILABLE versions of `name` (highest first), or of every model when `name` is undefined (by name). */
  servedVersions(name?: string): { name: string; version: number }[];
  /** The statistics extension's counters of one version (zeros before its first request). */
  versionStatistics(name: string, version: number): VersionStatistics;
  /** --model_control_mode. */
  readonly modelControlMode: ModelControlMode;
  /** Throws UNAVAILABLE naming the flag unless --model_control_mode=explicit (before a load's parameters are read). */
  checkModelControl(action: 'load' | 'unload', name: string): void;
  /** Every model the server knows, by name: the served ones and those a repository unload took out. */
  repositoryIndex(): RepositoryModel[];
  /**
   * Triton's repository load: (re)serves a known model from its base path and resolves once its aspired versions
   * have settled; rejects naming the versions that failed. UNAVAILABLE unless --model_control_mode=explicit.
   */
  loadModel(name: string, options?: LoadModelOptions): Promise<void>;
  /** Triton's repository unload: stops serving every version of `name` (after their requests finish). */
  unloadModel(name: string, options?: ModelChangeOptions): Promise<void>;
}
