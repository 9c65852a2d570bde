/**
 * The serving core behind the API adapters: Source → AspiredVersionsManager → handles, version labels, request
 * resolution (spec §4.3) and validation, config reload, metrics and transition events.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { discoverGpus, type GpuProbeResult } from '../../devices/webgpu.js';
import { InvalidArgument, NotFound, PermissionDenied, Unavailable, Unknown } from '../../errors.js';
import { modelServerConfigFromUnknown } from '../config/model-server-config-object.js';
import {
  parseModelServerConfig,
  type ModelConfig,
  type ModelServerConfig,
  type ServingDevice,
} from '../config/model-server-config.js';
import { ServingMetrics, type RequestRecord } from '../metrics/serving-metrics.js';
import { WorkerPool } from '../worker/worker-pool.js';
import { AspiredVersionsManager, type ServableHandle } from './aspired-versions-manager.js';
import { checkBasePaths } from './base-paths.js';
import { onnxLoaderFactory } from './onnx-loader.js';
import { defaultLog, type ServingCoreOptions } from './options.js';
import {
  DEFAULT_REQUEST_LIMITS,
  InputAdmission,
  maxBatchPerRequest,
  maxExamplesPerRequest,
  type RequestLimits,
} from './request-limits.js';
import { resolveOutputAliases, resolveSignatureName, validateInputs } from './request-validation.js';
import type { TransitionEvent } from './state-machine.js';
import { StoragePathSource, type Log } from './storage-path-source.js';
import type {
  ModelSelector,
  RequestAdmission,
  RunRequest,
  RunResult,
  ServableInfo,
  ServingCore,
  Signature,
  VersionStatus,
} from './types.js';
import { checkVersionLabels, type LabelMap } from './version-labels.js';

/** Events: 'transition' (TransitionEvent) for every version state change; 'configApplied' (ModelServerConfig). */
export interface ServingCoreEvents {
  transition: [TransitionEvent];
  configApplied: [ModelServerConfig];
}

export class ServingCoreImpl implements ServingCore {
  readonly events = new EventEmitter<ServingCoreEvents>();
  readonly servingMetrics: ServingMetrics;
  readonly limits: Readonly<RequestLimits>;
  readonly maxExamplesPerRequest: number;
  private readonly log: Log;
  private readonly pool: WorkerPool | undefined;
  private readonly manager: AspiredVersionsManager;
  private readonly source: StoragePathSource;
  private config: ModelServerConfig = { models: [] };
  private labels = new Map<string, LabelMap>();
  /** Serialises config changes: a reload waits for the previous one. */
  private configChain: Promise<unknown> = Promise.resolve();
  private configFileTimer: NodeJS.Timeout | undefined;
  private lastConfigFileText: string | undefined;
  private closed = false;
  private gpuProbe: Promise<GpuProbeResult> | undefined;

  constructor(private readonly options: ServingCoreOptions) {
    this.log = options.log ?? defaultLog;
    this.limits = { ...DEFAULT_REQUEST_LIMITS, ...options.limits };
    this.maxExamplesPerRequest = maxExamplesPerRequest(this.limits, options.batching);
    this.servingMetrics = new ServingMetrics(options.registry);
    const metrics = this.servingMetrics;
    this.pool = options.loaderFactory ? undefined : new WorkerPool({ size: options.numWorkers });
    const loaderFactory =
      options.loaderFactory ??
      onnxLoaderFactory({
        pool: this.pool as WorkerPool,
        enableModelWarmup: options.enableModelWarmup ?? true,
        metrics,
        deviceFor: (model) => this.deviceOf(model),
        probeGpu: () => this.probeGpu(),
        ...(options.batching ? { batching: options.batching } : {}),
        ...(options.readTfWarmup ? { readTfWarmup: options.readTfWarmup } : {}),
      });
    this.manager = new AspiredVersionsManager({
      loaderFactory,
      maxNumLoadRetries: options.maxNumLoadRetries ?? 5,
      loadRetryIntervalMs: Math.max(0, (options.loadRetryIntervalMicros ?? 60_000_000) / 1000),
      log: this.log,
      onTransition: (event) => {
        // An ended version's series go, so hot swaps do not grow the metrics page; its END state is in the status API.
        if (event.to === 'END') metrics.forgetVersion(event.model, event.version);
        else metrics.setVersionState(event.model, event.version, event.to);
        this.events.emit('transition', event);
      },
      onLoadAttempt: (model, path, ok, seconds) => metrics.recordLoad(model, path, ok, seconds),
    });
    this.source = new StoragePathSource({
      pollWaitSeconds: options.fileSystemPollWaitSeconds ?? 1,
      log: this.log,
      onAspiredVersions: (model, versions) => this.manager.setAspiredVersions(model, versions),
    });
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

  /** Applies the initial config (labels are checked as in a reload) and starts polling; does not wait for loads. */
  async start(): Promise<void> {
    await this.checkGpu(this.options.modelConfig);
    await this.applyConfig(this.options.modelConfig, false);
    this.watchConfigFile();
  }

  /**
   * Resolves when every configured model has settled (each aspired version AVAILABLE or failed) — what TF Serving
   * waits for before opening its ports; rejects with Unknown listing the versions that failed to load.
   */
  async ready(): Promise<void> {
    await this.waitForModels(this.config.models.map((m) => m.name));
  }

  // ---- ServingCore ----

  async run(request: RunRequest): Promise<RunResult> {
    const handle = this.acquire(request.model);
    try {
      const { servable } = handle;
      const signatureName = resolveSignatureName(servable, request.signatureName);
      const signature = servable.signatures[signatureName] as Signature;
      validateInputs(signature, request.inputs);
      const outputAliases = resolveOutputAliases(signature, request.outputFilter);
      const outputs = await servable.run(signatureName, request.inputs, outputAliases, {
        inputsOwned: request.inputsOwned ?? false,
      });
      return { modelName: handle.model, version: handle.version, signatureName, signature, outputs };
    } finally {
      handle.release();
    }
  }

  admission(model: ModelSelector, signatureName?: string): RequestAdmission {
    const handle = this.acquire(model);
    try {
      const name = resolveSignatureName(handle.servable, signatureName);
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

  /** GetModelStatus: labels are ignored, as in TF Serving. */
  status(name: string, version?: number, _label?: string): VersionStatus[] {
    if (name === '') throw new InvalidArgument('ModelSpec has no name specified.');
    const statuses = this.manager.versionStatuses(name);
    if (version !== undefined) {
      const one = statuses?.find((s) => s.version === version);
      if (!one) throw new NotFound(`Could not find version ${version} of model ${name}`);
      return [one];
    }
    if (!statuses) throw new NotFound(`Could not find any versions of model ${name}`);
    return statuses;
  }

  /**
   * HandleReloadConfigRequest: `config` is a ModelServerConfig, a decoded proto object, or protobuf text. Refused
   * (PERMISSION_DENIED) unless model management is enabled, before the config is even read.
   */
  async reloadConfig(config: unknown): Promise<void> {
    this.checkModelManagement('HandleReloadConfigRequest');
    await this.applyConfig(modelServerConfigFromUnknown(config), true);
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
    if (this.closed) throw new Unavailable('the server is shutting down');
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

  private applyConfig(next: ModelServerConfig, waitForNewModels: boolean): Promise<void> {
    const run = this.configChain.then(() => this.applyConfigNow(next, waitForNewModels));
    this.configChain = run.catch(() => undefined);
    return run;
  }

  private async applyConfigNow(next: ModelServerConfig, waitForNewModels: boolean): Promise<void> {
    if (this.closed) throw new Unavailable('the server is shutting down');
    await checkBasePaths(next, this.options.modelBasePathPrefix);
    if (JSON.stringify(next) === JSON.stringify(this.config)) return;
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
    const previous = new Map(this.config.models.map((m) => [m.name, m]));
    const added = next.models.filter((m) => !sameModel(previous.get(m.name), m)).map((m) => m.name);
    this.config = next;
    this.servingMetrics.setConfiguredModels(next.models.map((m) => m.name));
    this.labels = new Map(next.models.map((m) => [m.name, { ...m.versionLabels }]));
    await this.source.setModels(next.models);
    this.events.emit('configApplied', next);
    if (waitForNewModels) await this.waitForModels(added);
  }

  private async waitForModels(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => this.manager.whenSettled(n)));
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

  /** Stops polling, drains in-flight requests, unloads every version and terminates the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.configFileTimer) clearTimeout(this.configFileTimer);
    await this.source.close();
    await this.configChain;
    await this.manager.close();
    await this.pool?.close();
    this.events.removeAllListeners();
  }
}

function sameModel(a: ModelConfig | undefined, b: ModelConfig): boolean {
  return (
    a !== undefined && a.basePath === b.basePath && JSON.stringify(a.versionPolicy) === JSON.stringify(b.versionPolicy)
  );
}
