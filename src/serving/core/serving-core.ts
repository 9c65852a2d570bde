/**
 * The serving core behind the API adapters: Source → AspiredVersionsManager → handles, version labels, request
 * resolution (spec §4.3) and validation, config reload, metrics and transition events.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { discoverGpus, type GpuProbeResult } from '../../devices/webgpu.js';
import { Cancelled, InvalidArgument, NotFound, PermissionDenied, Unavailable, Unknown } from '../../errors.js';
import { modelServerConfigFromUnknown } from '../config/model-server-config-object.js';
import {
  DEFAULT_VERSION_POLICY,
  parseModelServerConfig,
  type ModelConfig,
  type ModelServerConfig,
  type ServingDevice,
} from '../config/model-server-config.js';
import { deadlinePassed, DroppedAtDeadline } from '../deadline.js';
import { holdsLargeTensor, readyForHandOff } from '../request-buffers.js';
import { emptyRequestTiming } from '../run-timing.js';
import { ServingMetrics, type RequestRecord } from '../metrics/serving-metrics.js';
import { WorkerPool } from '../worker/worker-pool.js';
import { AspiredVersionsManager, type ServableHandle } from './aspired-versions-manager.js';
import { checkBasePaths } from './base-paths.js';
import { InferenceStatistics, type VersionStatistics } from './inference-statistics.js';
import { onnxLoaderFactory } from './onnx-loader.js';
import { defaultLog, type ServingCoreOptions } from './options.js';
import {
  DEFAULT_REQUEST_LIMITS,
  InputAdmission,
  maxBatchPerRequest,
  maxExamplesPerRequest,
  type RequestLimits,
} from './request-limits.js';
import { modelInputs } from './model-inputs.js';
import { resolveOutputAliases, resolveSignatureName } from './request-validation.js';
import type { TransitionEvent } from './state-machine.js';
import { StoragePathSource, type Log } from './storage-path-source.js';
import { Storages } from '../storage/storages.js';
import { MODEL_FORMATS } from '../../import/model-formats.js';
import { MODEL_FILE } from './model-source.js';
import type {
  AdmissionOptions,
  LoadModelOptions,
  ModelChangeOptions,
  ModelControlMode,
  ModelDescription,
  RepositoryModel,
  ModelSelector,
  RequestAdmission,
  Readiness,
  ReloadOptions,
  RunRequest,
  RunResult,
  ServableInfo,
  ServingCore,
  Signature,
  VersionStatus,
} from './types.js';
import { checkVersionLabels, type LabelMap } from './version-labels.js';

/**
 * Events: 'transition' (TransitionEvent) for every version state change; 'configApplied' (ModelServerConfig);
 * 'readiness' (Readiness) when the server starts or stops taking traffic.
 */
export interface ServingCoreEvents {
  transition: [TransitionEvent];
  configApplied: [ModelServerConfig];
  readiness: [Readiness];
}

/** Readiness's states in the only order they move in. */
const READINESS_ORDER: readonly Readiness[] = ['starting', 'ready', 'leaving', 'draining'];

/** Why pending loads and reloads stop when a drain begins. */
const SHUTTING_DOWN = 'the server is shutting down';

export class ServingCoreImpl implements ServingCore {
  readonly events = new EventEmitter<ServingCoreEvents>();
  readonly servingMetrics: ServingMetrics;
  readonly limits: Readonly<RequestLimits>;
  readonly maxExamplesPerRequest: number;
  /** Triton's statistics extension: per version request and execution counters. */
  readonly inferenceStatistics = new InferenceStatistics();
  private readonly log: Log;
  private readonly pool: WorkerPool | undefined;
  private readonly manager: AspiredVersionsManager;
  private readonly source: StoragePathSource;
  /** Where versions are read from (local directories, s3://) and the cache of fetched versions. */
  private readonly storages: Storages;
  private config: ModelServerConfig = { models: [] };
  /**
   * The models the server knows: the last config from start-up, a reload or the config file. `config` (what is
   * served) is this minus the models a repository unload took out (with a repository load's version policy).
   */
  private declared: ModelServerConfig = { models: [] };
  private labels = new Map<string, LabelMap>();
  /** Serialises config changes: a reload waits for the previous one. */
  private configChain: Promise<unknown> = Promise.resolve();
  private configFileTimer: NodeJS.Timeout | undefined;
  private lastConfigFileText: string | undefined;
  private closed = false;
  private currentReadiness: Readiness = 'starting';
  /** Aborted when a drain begins: every reload still waiting is cancelled. */
  private readonly drainAbort = new AbortController();
  /** run() calls between acquiring a version and answering; a drain waits for them. */
  private runsInFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private gpuProbe: Promise<GpuProbeResult> | undefined;

  constructor(private readonly options: ServingCoreOptions) {
    this.log = options.log ?? defaultLog;
    this.limits = { ...DEFAULT_REQUEST_LIMITS, ...options.limits };
    this.maxExamplesPerRequest = maxExamplesPerRequest(this.limits, options.batching);
    this.servingMetrics = new ServingMetrics(options.registry);
    const metrics = this.servingMetrics;
    this.pool = options.loaderFactory
      ? undefined
      : new WorkerPool({
          size: options.numWorkers,
          onRestart: () => metrics.countWorkerRestart(),
          ...(options.callingThreadRuns === undefined ? {} : { callingThreadRuns: options.callingThreadRuns }),
          ...(options.jsDenseRuns === undefined ? {} : { jsDenseRuns: options.jsDenseRuns }),
          log: this.log,
        });
    if (this.pool) {
      const pool = this.pool;
      metrics.setWorkerStateSource(() => pool.state);
    }
    const loaderFactory =
      options.loaderFactory ??
      onnxLoaderFactory({
        pool: this.pool as WorkerPool,
        enableModelWarmup: options.enableModelWarmup ?? true,
        chunkedRuns: options.chunkedRuns ?? true,
        metrics,
        statistics: this.inferenceStatistics,
        deviceFor: (model) => this.deviceOf(model),
        probeGpu: () => this.probeGpu(),
        ...(options.batching ? { batching: options.batching } : {}),
        ...(options.readTfWarmup ? { readTfWarmup: options.readTfWarmup } : {}),
        ...(options.savedModelTags ? { savedModelTags: options.savedModelTags } : {}),
        log: this.log,
      });
    this.manager = new AspiredVersionsManager({
      loaderFactory,
      maxNumLoadRetries: options.maxNumLoadRetries ?? 5,
      loadRetryIntervalMs: Math.max(0, (options.loadRetryIntervalMicros ?? 60_000_000) / 1000),
      log: this.log,
      onTransition: (event) => {
        // An ended version's series go, so hot swaps do not grow the metrics page; its END state is in the status API.
        if (event.to === 'END') {
          metrics.forgetVersion(event.model, event.version);
          this.inferenceStatistics.forgetVersion(event.model, event.version);
        } else metrics.setVersionState(event.model, event.version, event.to);
        this.events.emit('transition', event);
      },
      onLoadAttempt: (model, path, ok, seconds) => metrics.recordLoad(model, path, ok, seconds),
    });
    this.storages = new Storages(
      { ...options.storage, ...(options.modelCacheDir ? { cacheDir: options.modelCacheDir } : {}) },
      this.log,
      [MODEL_FILE, ...MODEL_FORMATS.flatMap((f) => f.directoryFiles)],
    );
    this.source = new StoragePathSource({
      pollWaitSeconds: options.fileSystemPollWaitSeconds ?? 1,
      log: this.log,
      storages: this.storages,
      isInUse: (model, version) => this.manager.holds(model, version),
      onAspiredVersions: (model, versions) => this.manager.setAspiredVersions(model, versions),
    });
  }

  /** A known model's config entry: the served one, else the declared one (after a repository unload). */
  modelConfigOf(name: string): ModelConfig | undefined {
    return this.config.models.find((m) => m.name === name) ?? this.declared.models.find((m) => m.name === name);
  }

  /** The server's batching parameters (--enable_batching); undefined = off. */
  get batching(): ServingCoreOptions['batching'] {
    return this.options.batching;
  }

  /** Inference worker threads, or undefined when a test's loader factory runs models without a pool. */
  get workerPoolSize(): number | undefined {
    return this.pool?.size;
  }

  /** Whether HandleReloadConfigRequest is allowed (checkModelManagement passes). */
  get modelManagementEnabled(): boolean {
    return this.options.enableModelManagement === true;
  }

  get metrics(): ServingMetrics['registry'] {
    return this.servingMetrics.registry;
  }

  /** What the API adapters call once per request (request count and latency metrics). */
  recordRequest(record: RequestRecord): void {
    this.servingMetrics.recordRequest(record);
  }

  /** The model list being served. */
  get modelConfig(): ModelServerConfig {
    return this.config;
  }

  /** Where `model`'s versions load: its config's `device` (flowserve extension), else --device, else the CPU. */
  deviceOf(model: string): ServingDevice {
    return this.config.models.find((m) => m.name === model)?.device ?? this.options.device ?? 'cpu';
  }

  /**
   * Applies the initial config (labels are checked as in a reload) and starts polling; does not wait for loads.
   * Readiness becomes 'ready' once the initial models have settled.
   */
  async start(): Promise<void> {
    await this.checkGpu(this.options.modelConfig);
    await this.applyConfig(this.options.modelConfig, false);
    this.watchConfigFile();
    const initial = this.config.models.map((m) => m.name);
    void Promise.all(initial.map((n) => this.manager.whenSettled(n))).then(() => this.setReadiness('ready'));
  }

  get readiness(): Readiness {
    return this.currentReadiness;
  }

  get draining(): boolean {
    return this.currentReadiness === 'draining';
  }

  private setReadiness(next: Readiness): void {
    // Readiness only moves forward: models settling during a shutdown's delay must not make the server ready again.
    if (READINESS_ORDER.indexOf(next) <= READINESS_ORDER.indexOf(this.currentReadiness)) return;
    this.currentReadiness = next;
    this.events.emit('readiness', next);
  }

  /**
   * The step before a drain when a load balancer sits in front (--drain_delay_seconds): readiness becomes 'leaving',
   * so health checks answer not-ready and the balancer takes the server out, while requests still arriving (sent
   * before the balancer noticed) are served as usual. beginDrain follows. Idempotent; no effect once draining.
   */
  withdrawReadiness(): void {
    this.setReadiness('leaving');
  }

  /**
   * The first step of a shutdown: readiness becomes 'draining' (health answers NOT_SERVING, status shows the
   * AVAILABLE versions as UNLOADING), new requests get UNAVAILABLE while those already running finish, pending
   * loads and load retries are cancelled, reloads still waiting are cancelled, and polling stops. Idempotent.
   */
  beginDrain(): void {
    if (this.draining) return;
    this.setReadiness('draining');
    if (this.configFileTimer) clearTimeout(this.configFileTimer);
    this.drainAbort.abort(new Cancelled(SHUTTING_DOWN));
    this.manager.cancelAll(SHUTTING_DOWN);
    this.storages.abort();
    void this.source.close();
  }

  /** Resolves when no run() is in flight, or after `timeoutMs`; true when idle. */
  async whenIdle(timeoutMs = Infinity): Promise<boolean> {
    if (this.runsInFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get requestsInFlight(): number {
    return this.runsInFlight;
  }

  /**
   * Resolves when every configured model has settled (each aspired version AVAILABLE or failed) — what TF Serving
   * waits for before opening its ports; rejects with Unknown listing the versions that failed to load.
   */
  async ready(): Promise<void> {
    try {
      await this.waitForModels(this.config.models.map((m) => m.name));
    } finally {
      this.setReadiness('ready');
    }
  }

  // ---- ServingCore ----

  async run(request: RunRequest): Promise<RunResult> {
    const handle = this.acquire(request.model);
    const startedAt = performance.now();
    const timing = emptyRequestTiming();
    let succeeded = false;
    this.runsInFlight++;
    try {
      const { servable } = handle;
      const signatureName = resolveSignatureName(servable, request.signatureName);
      const signature = servable.signatures[signatureName] as Signature;
      const admitted = modelInputs(signature, signatureName, request, {
        maxInputBytes: this.limits.maxInputBytes,
        maxExamples: this.maxExamplesPerRequest,
      });
      const inputsOwned = request.inputsOwned ?? false;
      // Checked here, not awaited for every request: a small request's run starts in the turn it arrived in.
      const inputs =
        inputsOwned && holdsLargeTensor(Object.values(admitted)) ? await readyForHandOff(admitted) : admitted;
      const outputAliases = resolveOutputAliases(signature, request.outputFilter);
      // Decoding may have used up the time: a request already late is not queued at all.
      if (deadlinePassed(request.deadline)) throw new DroppedAtDeadline('before the request reached a queue');
      const outputs = await servable.run(signatureName, inputs, outputAliases, {
        inputsOwned,
        timing,
        ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
        ...(request.connection === undefined ? {} : { connection: request.connection }),
      });
      succeeded = true;
      return { modelName: handle.model, version: handle.version, signatureName, signature, outputs };
    } catch (err) {
      if (err instanceof DroppedAtDeadline) this.servingMetrics.countDroppedAtDeadline(handle.model);
      throw err;
    } finally {
      // Counted before the release: once released the version may end, and its counters with it.
      const totalNs = Math.round((performance.now() - startedAt) * 1e6);
      if (succeeded) this.inferenceStatistics.recordSuccess(handle.model, handle.version, timing, totalNs, Date.now());
      else this.inferenceStatistics.recordFailure(handle.model, handle.version, totalNs, Date.now());
      handle.release();
      if (--this.runsInFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  admission(model: ModelSelector, signatureName?: string, options: AdmissionOptions = {}): RequestAdmission {
    const handle = this.acquire(model);
    try {
      const preferred = options.preferredSignature;
      const requested =
        (signatureName === undefined || signatureName === '') &&
        preferred !== undefined &&
        preferred in handle.servable.signatures
          ? preferred
          : signatureName;
      const name = resolveSignatureName(handle.servable, requested);
      const signature = handle.servable.signatures[name] as Signature;
      return {
        signatureName: name,
        admission: new InputAdmission(signature, this.limits, maxBatchPerRequest(this.options.batching)),
      };
    } finally {
      handle.release();
    }
  }

  info(model: ModelSelector): ServableInfo {
    const handle = this.acquire(model);
    try {
      return {
        modelName: handle.model,
        version: handle.version,
        signatures: { ...handle.servable.signatures },
        defaultSignature: handle.servable.defaultSignature,
      };
    } finally {
      handle.release();
    }
  }

  /**
   * GetModelStatus: labels are ignored, as in TF Serving. While draining, AVAILABLE versions are reported as
   * UNLOADING (TF Serving's state for a version that still finishes its requests but takes no new ones), so a
   * client polling status sees the shutdown in a state it already knows.
   */
  status(name: string, version?: number, _label?: string): VersionStatus[] {
    if (name === '') throw new InvalidArgument('ModelSpec has no name specified.');
    const statuses = this.versionStatuses(name)?.map((s) =>
      this.draining && s.state === 'AVAILABLE' ? { ...s, state: 'UNLOADING' as const } : s,
    );
    const listing = this.source.listingError(name);
    const why = listing === undefined ? '' : `; the last listing of its base path failed: ${listing}`;
    if (version !== undefined) {
      const one = statuses?.find((s) => s.version === version);
      if (!one) throw new NotFound(`Could not find version ${version} of model ${name}${why}`);
      return [one];
    }
    if (!statuses) throw new NotFound(`Could not find any versions of model ${name}${why}`);
    return statuses;
  }

  /**
   * The manager's version statuses, with the versions the source is still fetching from object storage (START, with
   * the fetch error or why the upload is not complete) in place of versions the manager has not seen or has ended.
   */
  private versionStatuses(name: string): VersionStatus[] | undefined {
    const managed = this.manager.versionStatuses(name);
    const pending = this.source.pendingStatuses(name);
    if (pending.length === 0) return managed;
    const byVersion = new Map((managed ?? []).map((s) => [s.version, s]));
    for (const p of pending) {
      const known = byVersion.get(p.version);
      if (!known || known.state === 'END') byVersion.set(p.version, p);
    }
    return [...byVersion.values()].sort((a, b) => b.version - a.version);
  }

  /**
   * HandleReloadConfigRequest: `config` is a ModelServerConfig, a decoded proto object, or protobuf text. It resolves
   * once the models it adds or changes have settled. Refused (PERMISSION_DENIED) unless model management is enabled,
   * before the config is even read.
   *
   * A cancelled reload (`options.signal` aborted: the client went away; or a drain began) rejects with CANCELLED and
   * keeps only what had finished:
   *  - not started yet (queued behind another reload): nothing of it is applied;
   *  - waiting for loads: each model it added or changed whose aspired versions are not all AVAILABLE goes back to
   *    its previous config entry (removed, if the reload added it), and that model's pending loads are cancelled
   *    (AspiredVersionsManager rule 3: loads not started are not started, loads running are unloaded when they
   *    finish, retries stop). Models whose new versions are all AVAILABLE keep the new config, and models the
   *    reload removed stay removed.
   */
  async reloadConfig(config: unknown, options: ReloadOptions = {}): Promise<void> {
    this.checkModelManagement('HandleReloadConfigRequest');
    await this.applyConfig(modelServerConfigFromUnknown(config), true, options.signal);
  }

  get modelControlMode(): ModelControlMode {
    return this.options.modelControlMode ?? 'none';
  }

  /**
   * Triton's explicit model control (repository load/unload). Refused with Triton's status (UNAVAILABLE) and the
   * start of its message, which clients match, in modes none and poll.
   */
  checkModelControl(action: 'load' | 'unload', name: string): void {
    if (this.modelControlMode === 'explicit') return;
    throw new Unavailable(
      `explicit model load / unload is not allowed: cannot ${action} '${name}' because this server runs with ` +
        `--model_control_mode=${this.modelControlMode}; start it with --model_control_mode=explicit to allow it`,
    );
  }

  repositoryIndex(): RepositoryModel[] {
    const served = new Set(this.config.models.map((m) => m.name));
    const names = [...new Set([...this.declared.models.map((m) => m.name), ...served])].sort();
    return names.map((name) => ({
      name,
      served: served.has(name),
      versions: this.versionStatuses(name) ?? [],
    }));
  }

  /**
   * Triton's repository load, through the same path as a config reload (serialised with reloads): the model's entry
   * of the declared config (with `versionPolicy` if given) joins the served config, its base path is polled at once,
   * and this resolves when its aspired versions have settled. Loading a served model polls it again (new versions on
   * disk load, as Triton's reload of a loaded model). Rejects with NOT_FOUND for a model the config does not list,
   * INVALID_ARGUMENT naming each version that failed (their reasons), or when no version is available after it.
   */
  async loadModel(name: string, options: LoadModelOptions = {}): Promise<void> {
    this.checkModelControl('load', name);
    try {
      await this.applyConfig(
        (served, declared) => {
          const known = declared.models.find((m) => m.name === name);
          if (!known) {
            throw new NotFound(`failed to load '${name}': no model of that name in the model config of this server`);
          }
          const entry = options.versionPolicy ? { ...known, versionPolicy: options.versionPolicy } : known;
          const others = served.models.filter((m) => m.name !== name);
          return { ...served, models: [...others, entry] };
        },
        true,
        options.signal,
        { declare: false, refresh: name },
      );
    } catch (err) {
      if (!(err instanceof Unknown)) throw err;
      const failures = this.manager
        .failedAspiredVersions(name)
        .map((f) => `version ${f.version} is at UNAVAILABLE state: ${f.message}`);
      throw new InvalidArgument(`load failed for model '${name}': ${failures.join('; ')}`, { cause: err });
    }
    if (this.manager.availableVersions(name).length === 0) {
      const basePath = this.config.models.find((m) => m.name === name)?.basePath ?? '';
      throw new InvalidArgument(
        `failed to load '${name}', no version is available: no version directory found under its base path ${basePath}`,
      );
    }
  }

  /**
   * Triton's repository unload: the model leaves the served config (it stays in the index as UNAVAILABLE), its
   * versions are unaspired and unloaded once their in-flight requests finish; resolves after that. Unloading a model
   * that is not served succeeds; one the config does not list is NOT_FOUND.
   */
  async unloadModel(name: string, options: ModelChangeOptions = {}): Promise<void> {
    this.checkModelControl('unload', name);
    await this.applyConfig(
      (served, declared) => {
        if (!declared.models.some((m) => m.name === name) && !served.models.some((m) => m.name === name)) {
          throw new NotFound(`failed to unload '${name}': no model of that name in the model config of this server`);
        }
        return { ...served, models: served.models.filter((m) => m.name !== name) };
      },
      true,
      options.signal,
      { declare: false, refresh: name },
    );
  }

  describe(model: ModelSelector): ModelDescription {
    const handle = this.acquire(model);
    try {
      const { servable } = handle;
      const description = servable.description;
      const configured = this.config.models.find((m) => m.name === handle.model);
      return {
        modelName: handle.model,
        version: handle.version,
        signatures: { ...servable.signatures },
        defaultSignature: servable.defaultSignature,
        platform: description?.platform ?? 'onnxruntime_onnx',
        device: description?.device ?? this.deviceOf(handle.model),
        instances: description?.instances ?? 1,
        ...(this.options.batching ? { batching: this.options.batching } : {}),
        versionPolicy: configured?.versionPolicy ?? DEFAULT_VERSION_POLICY,
        ...(description?.format ? { format: description.format } : {}),
        ...(description?.graph ? { graph: description.graph } : {}),
        ...(description?.chunkedRuns ? { chunkedRuns: description.chunkedRuns } : {}),
      };
    } finally {
      handle.release();
    }
  }

  servedVersions(name?: string): { name: string; version: number }[] {
    const names = name === undefined ? this.manager.modelNames().sort() : [name];
    return names.flatMap((n) => this.manager.availableVersions(n).map((version) => ({ name: n, version })));
  }

  versionStatistics(name: string, version: number): VersionStatistics {
    return this.inferenceStatistics.snapshot(name, version);
  }

  /**
   * The one switch for every API that changes which models are served (the reload RPC today; the Open Inference
   * Protocol's repository load/unload later): off unless --enable_model_management.
   */
  checkModelManagement(api: string): void {
    if (this.options.enableModelManagement === true) return;
    throw new PermissionDenied(
      `${api} is disabled: model management is off on this server; start it with --enable_model_management=true ` +
        'to allow clients to change the served models',
    );
  }

  // ---- internals ----

  /**
   * With --device=gpu or a model configured on the GPU, probes for a WebGPU adapter before anything loads and warns
   * when there is none: those versions will then fail to load (END with the error), the others serve.
   */
  private async checkGpu(config: ModelServerConfig): Promise<void> {
    const fallback = this.options.device ?? 'cpu';
    const onGpu = config.models.filter((m) => (m.device ?? fallback) === 'gpu').map((m) => m.name);
    if (fallback !== 'gpu' && onGpu.length === 0) return;
    const probe = await this.probeGpu();
    const who = fallback === 'gpu' ? '--device=gpu' : `model(s) ${onGpu.join(', ')} configured with device "gpu"`;
    if (probe.available) {
      this.log('info', `${who}: serving on /device:GPU:0 (${probe.reason})`);
    } else {
      this.log(
        'warn',
        `${who}, but there is no usable GPU: ${probe.reason}. ` +
          `Versions of ${onGpu.length > 0 ? onGpu.join(', ') : 'GPU models'} will fail to load on /device:GPU:0.`,
      );
    }
  }

  /** The WebGPU probe's verdict, asked once: the start-up warning and every GPU load go by the same answer. */
  private probeGpu(): Promise<GpuProbeResult> {
    this.gpuProbe ??= (this.options.probeGpu ?? discoverGpus)().catch((err: unknown): GpuProbeResult => ({
      available: false,
      reason: `the GPU probe failed: ${(err as Error).message}`,
      source: 'probe',
      ms: 0,
    }));
    return this.gpuProbe;
  }

  /** Resolves a selector to a handle (spec §4.3); the caller must release it. */
  private acquire(selector: ModelSelector): ServableHandle {
    if (this.closed || this.draining) throw new Unavailable(SHUTTING_DOWN);
    const { name } = selector;
    if (name === '') throw new InvalidArgument('ModelSpec has no name specified.');
    let version = selector.version;
    if (version === undefined && selector.label !== undefined && selector.label !== '') {
      version = this.labels.get(name)?.[selector.label];
      if (version === undefined) throw new InvalidArgument(`Unrecognized servable version label: ${selector.label}`);
    }
    const handle = this.manager.acquire(name, version);
    if (!handle) {
      const request = version === undefined ? `Latest(${name})` : `Specific(${name}, ${version})`;
      throw new NotFound(`Servable not found for request: ${request}`);
    }
    return handle;
  }

  /**
   * Queues a config change behind the ones before it. `next`: the new served config, or a function of the served
   * and declared configs at the moment the change runs (repository load/unload). `change.declare` (default true):
   * `next` also becomes the declared config (start-up, reload, config file); `change.refresh`: a model to poll and
   * wait for even when its entry did not change (repository load/unload).
   */
  private applyConfig(
    next: ModelServerConfig | ((served: ModelServerConfig, declared: ModelServerConfig) => ModelServerConfig),
    waitForNewModels: boolean,
    clientSignal?: AbortSignal,
    change: { declare: boolean; refresh?: string } = { declare: true },
  ): Promise<void> {
    const signal = clientSignal ? AbortSignal.any([clientSignal, this.drainAbort.signal]) : this.drainAbort.signal;
    const run = this.configChain.then(() =>
      this.applyConfigNow(
        typeof next === 'function' ? next(this.config, this.declared) : next,
        waitForNewModels,
        signal,
        change,
      ),
    );
    this.configChain = run.catch(() => undefined);
    return run;
  }

  private async applyConfigNow(
    next: ModelServerConfig,
    waitForNewModels: boolean,
    signal: AbortSignal,
    change: { declare: boolean; refresh?: string },
  ): Promise<void> {
    if (this.closed || this.draining) throw new Unavailable(SHUTTING_DOWN);
    if (signal.aborted) throw new Cancelled(`The config reload was cancelled before it started: ${reasonOf(signal)}`);
    await checkBasePaths(next, this.options.modelBasePathPrefix);
    if (JSON.stringify(next) === JSON.stringify(this.config)) {
      if (change.declare) this.declared = next;
      if (change.refresh === undefined) return;
      await this.source.pollNow();
      await this.waitForModels([change.refresh], signal);
      return;
    }
    const allowUnavailable = this.options.allowVersionLabelsForUnavailableModels ?? false;
    // Labels are checked before anything loads; a bad label rejects the whole config (spec §4.4).
    for (const model of next.models) {
      checkVersionLabels(
        model.name,
        model.versionLabels,
        this.labels.get(model.name) ?? {},
        (v) => this.manager.isAvailable(model.name, v),
        allowUnavailable,
      );
    }
    const before = this.config;
    const previous = new Map(before.models.map((m) => [m.name, m]));
    const added = next.models.filter((m) => !sameModel(previous.get(m.name), m)).map((m) => m.name);
    this.config = next;
    if (change.declare) this.declared = next;
    this.servingMetrics.setConfiguredModels(next.models.map((m) => m.name));
    this.labels = new Map(next.models.map((m) => [m.name, { ...m.versionLabels }]));
    await this.source.setModels(next.models);
    this.events.emit('configApplied', next);
    if (!waitForNewModels) return;
    const refresh = change.refresh;
    // A refreshed model that is still served is rolled back like an added one when cancelled; an unloaded one stays out.
    const changed =
      refresh !== undefined && !added.includes(refresh) && next.models.some((m) => m.name === refresh)
        ? [...added, refresh]
        : added;
    try {
      await this.waitForModels(
        refresh !== undefined && !changed.includes(refresh) ? [...changed, refresh] : changed,
        signal,
      );
    } catch (err) {
      if (err instanceof Cancelled) await this.dropUnfinished(before, changed, reasonOf(signal));
      throw err;
    }
  }

  /** The rules of a cancelled reload (reloadConfig): models in `changed` not yet fully AVAILABLE go back. */
  private async dropUnfinished(before: ModelServerConfig, changed: readonly string[], reason: string): Promise<void> {
    const unfinished = new Set(changed.filter((name) => !this.manager.allAspiredAvailable(name)));
    if (unfinished.size === 0) return;
    for (const name of unfinished) this.manager.cancelPendingLoads(name, `the config reload was cancelled: ${reason}`);
    const previous = new Map(before.models.map((m) => [m.name, m]));
    const models = this.config.models.flatMap((m) => {
      if (!unfinished.has(m.name)) return [m];
      const old = previous.get(m.name);
      return old ? [old] : [];
    });
    this.config = { ...this.config, models };
    this.labels = new Map(models.map((m) => [m.name, { ...m.versionLabels }]));
    this.log(
      'warn',
      `Config reload cancelled (${reason}); dropped its unfinished changes to ${[...unfinished].join(', ')}`,
    );
    if (this.draining) return;
    await this.source.setModels(models);
    this.events.emit('configApplied', this.config);
  }

  /** Waits for `names` to settle; rejects with Cancelled as soon as `signal` aborts, and with Unknown on failures. */
  private async waitForModels(names: readonly string[], signal?: AbortSignal): Promise<void> {
    const settled = Promise.all(names.map((n) => this.manager.whenSettled(n)));
    if (signal) {
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_resolve, reject) => {
        onAbort = () => reject(new Cancelled(`The config reload was cancelled: ${reasonOf(signal)}`));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        await Promise.race([settled, aborted]);
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
    } else {
      await settled;
    }
    const failures = names.flatMap((name) => this.manager.failedAspiredVersions(name).map((f) => ({ name, ...f })));
    if (failures.length > 0) {
      const list = failures
        .map((f) => `{{name: ${f.name} version: ${f.version}} due to error: ${f.message}}, `)
        .join('');
      throw new Unknown(`${failures.length} model(s) did not become available: ${list}`);
    }
  }

  /** --model_config_file_poll_wait_seconds: parse errors and reload errors are logged; the old config stays. */
  private watchConfigFile(): void {
    const file = this.options.modelConfigFile;
    const seconds = this.options.modelConfigFilePollWaitSeconds ?? 0;
    if (!file || seconds <= 0 || this.closed) return;
    this.configFileTimer = setTimeout(() => {
      void this.reloadConfigFile(file).finally(() => this.watchConfigFile());
    }, seconds * 1000);
    this.configFileTimer.unref();
  }

  private async reloadConfigFile(file: string): Promise<void> {
    try {
      const text = await readFile(file, 'utf8');
      if (text === this.lastConfigFileText) return;
      this.lastConfigFileText = text;
      await this.applyConfig(parseModelServerConfig(text, file, { baseDir: dirname(resolve(file)) }), false);
    } catch (err) {
      this.log('error', `Failed to apply model config file ${file}: ${(err as Error).message}`);
    }
  }

  /**
   * Drains (beginDrain), waits up to `graceMs` (default: no limit) for in-flight requests, unloads every version and
   * terminates the workers. Past the grace, requests still queued are answered UNAVAILABLE, but a model run already
   * computing is waited for: terminating a worker inside an ONNX Runtime call aborts the whole process.
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.beginDrain();
    this.closed = true;
    await this.source.close();
    await this.whenIdle(options.graceMs ?? Infinity);
    await this.configChain;
    await this.manager.close();
    await this.pool?.close();
    await this.storages.close();
    this.events.removeAllListeners();
  }
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
}

function sameModel(a: ModelConfig | undefined, b: ModelConfig): boolean {
  return (
    a !== undefined && a.basePath === b.basePath && JSON.stringify(a.versionPolicy) === JSON.stringify(b.versionPolicy)
  );
}
