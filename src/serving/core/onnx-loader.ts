/**
 * Loads one version directory (docs/servable-format.md): model.onnx into the worker pool, its signatures, then
 * warmup. Anything that fails releases what was loaded and rejects: the manager reports it as the version's error.
 */
import type { GpuProbeResult } from '../../devices/webgpu.js';
import { FlowserveError, InvalidArgument, NotFound } from '../../errors.js';
import type { BatchingParameters } from '../config/batching-parameters.js';
import type { ServingDevice } from '../config/model-server-config.js';
import type { ServingMetrics } from '../metrics/serving-metrics.js';
import { ModelLoadError, servingDeviceName, type WorkerPool } from '../worker/worker-pool.js';
import type { ModelFormat } from '../../import/imported-model.js';
import { OnnxServable, type ExecutionRecorder } from './onnx-servable.js';
import { lazyGraphSummary } from './graph-summary.js';
import type { Loader, LoaderFactory, Servable, ServableFormat } from './servable.js';
import { findModelSource } from './model-source.js';
import { deriveSignatures, readSignatureFile, type VersionSignatures } from './signatures.js';
import { readWarmupRequests, runWarmup, type TfWarmupReader } from './warmup.js';
import type { Log } from './storage-path-source.js';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { STATE_FILE } from '../../import/convert.js';
import type { TensorMap } from '../batching/batch-scheduler.js';

export { MODEL_FILE } from './model-source.js';

export interface OnnxLoaderOptions {
  pool: WorkerPool;
  batching?: BatchingParameters;
  enableModelWarmup: boolean;
  /**
   * Measure, after warm-up, whether each batchable signature's larger batches run faster in chunks, and run them so
   * when they do (--chunked_runs; src/serving/core/chunked-runs.ts). Default true.
   */
  chunkedRuns?: boolean;
  metrics?: ServingMetrics;
  /** The device a model's versions load on, asked at each load (the model config's `device`, else --device). */
  deviceFor?: (modelName: string) => ServingDevice;
  /**
   * Whether a WebGPU adapter exists (the serving core's probe, asked once). A GPU version does not load without
   * one — also where FLOWSERVE_DISABLE_GPU=1 hid an adapter the worker could otherwise reach.
   */
  probeGpu?: () => Promise<GpuProbeResult>;
  /** Reads TF Serving's `assets.extra/tf_serving_warmup_requests`; without it only warmup.json is read. */
  readTfWarmup?: TfWarmupReader;
  /** The MetaGraphDef tag set of SavedModels (--saved_model_tags); default `serve`. */
  savedModelTags?: readonly string[];
  /** Counts executions for the statistics extension. */
  statistics?: ExecutionRecorder;
  log?: Log;
}

/** The platform Triton prints for a model of this format (model_config.proto's `platform`). */
export function tritonPlatform(format: ModelFormat | undefined): string {
  if (format === undefined) return 'onnxruntime_onnx';
  return format === 'saved_model' ? 'tensorflow_savedmodel' : 'tensorflow_graphdef';
}

export function onnxLoaderFactory(options: OnnxLoaderOptions): LoaderFactory {
  return (modelName, version, versionPath) => new OnnxLoader(modelName, version, versionPath, options);
}

export class OnnxLoader implements Loader {
  constructor(
    private readonly modelName: string,
    private readonly version: number,
    private readonly versionPath: string,
    private readonly options: OnnxLoaderOptions,
  ) {}

  async load(): Promise<Servable> {
    const source = await findModelSource(this.versionPath, this.options.savedModelTags);
    try {
      return await this.loadFrom(source.modelPath, source.signatures, source.format);
    } finally {
      await source.release();
    }
  }

  private async loadFrom(
    modelPath: string,
    importedSignatures: VersionSignatures | undefined,
    importedFormat: ModelFormat | undefined,
  ): Promise<Servable> {
    const device = this.options.deviceFor?.(this.modelName) ?? 'cpu';
    const cannotLoad = (reason: string) =>
      `model '${this.modelName}' version ${this.version} could not be loaded on ${servingDeviceName(device)}: ${reason}`;
    if (device === 'gpu' && this.options.probeGpu) {
      const probe = await this.options.probeGpu();
      if (!probe.available) throw new InvalidArgument(cannotLoad(probe.reason));
    }
    let model;
    try {
      model = await this.options.pool.loadModel(modelPath, { device });
    } catch (err) {
      if (err instanceof ModelLoadError && device === 'gpu') {
        throw new InvalidArgument(cannotLoad(err.reason), { cause: err });
      }
      throw err;
    }
    try {
      const fileSignatures = importedSignatures
        ? undefined
        : await readSignatureFile(this.versionPath, model.inputs, model.outputs);
      const signatures = importedSignatures ?? fileSignatures ?? deriveSignatures(model.inputs, model.outputs);
      const format: ServableFormat = importedFormat ?? (fileSignatures ? 'flowserve' : 'onnx');
      const initialState = await this.initialState(modelPath, signatures);
      const servable = new OnnxServable({
        modelName: this.modelName,
        version: this.version,
        model,
        signatures,
        platform: tritonPlatform(importedFormat),
        format,
        graph: lazyGraphSummary(modelPath),
        ...(this.options.statistics ? { statistics: this.options.statistics } : {}),
        ...(initialState ? { initialState } : {}),
        ...(this.options.batching ? { batching: this.options.batching } : {}),
        ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
        ...(this.options.log ? { log: this.options.log } : {}),
      });
      if (this.options.enableModelWarmup) await this.warmup(servable);
      if (this.options.chunkedRuns ?? true) await servable.calibrateChunkedRuns();
      return servable;
    } catch (err) {
      await model.unload();
      throw err;
    }
  }

  /**
   * The starting values of the variables that signatures update (an imported model's state): the outputs of
   * STATE_FILE beside the model, run once in a worker. Each loaded version starts from them again.
   */
  private async initialState(modelPath: string, signatures: VersionSignatures): Promise<TensorMap | undefined> {
    const inputs = new Set(
      Object.values(signatures.signatures).flatMap((sig) => (sig.state ?? []).map((v) => v.input)),
    );
    if (inputs.size === 0) return undefined;
    const statePath = join(dirname(modelPath), STATE_FILE);
    if (
      !(await access(statePath).then(
        () => true,
        () => false,
      ))
    ) {
      throw new NotFound(
        `${statePath} is missing: signatures of this model update variables, and their starting values are in that file (flowserve convert writes it beside model.onnx)`,
      );
    }
    // A few constants: the CPU is enough wherever the model itself runs.
    const stateModel = await this.options.pool.loadModel(statePath, { device: 'cpu' });
    try {
      const missing = [...inputs].filter((name) => !stateModel.outputs.some((o) => o.name === name));
      if (missing.length > 0) {
        throw new InvalidArgument(
          `${statePath}: no initial value for state input${missing.length === 1 ? '' : 's'} ${missing.map((m) => `'${m}'`).join(', ')}`,
        );
      }
      return await stateModel.run({}, [...inputs]);
    } finally {
      await stateModel.unload();
    }
  }

  /** warmup.json first, then TF Serving's warmup file: a version may have both, each runs once per load. */
  private async warmup(servable: Servable): Promise<void> {
    const json = await readWarmupRequests(this.versionPath);
    const tf = await this.options.readTfWarmup?.(this.versionPath, {
      modelName: this.modelName,
      version: this.version,
      signatures: { ...servable.signatures },
      defaultSignature: servable.defaultSignature,
    });
    if (!json && !tf) return;
    const startedAt = performance.now();
    let status = 'OK';
    try {
      if (json) await runWarmup(servable, json);
      if (tf) await runWarmup(servable, tf);
    } catch (err) {
      status = err instanceof FlowserveError ? err.codeName : 'INVALID_ARGUMENT';
      throw err;
    } finally {
      this.options.metrics?.observeWarmup(this.versionPath, status, (performance.now() - startedAt) / 1000);
    }
  }
}
