/**
 * `flowserve demo mnist` (npm run demo): the chapter end to end. Trains the softmax regression if no export
 * exists, exports version 1, starts the model server on free loopback ports, prints the device placement, sends
 * MNIST test images as Classify requests over gRPC, prints the error rate and stops the server.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { withGraph, Graph } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { globalVariablesInitializer } from '../ops/variables.js';
import { Session } from '../runtime/session.js';
import { singleModelConfig } from '../serving/config/model-server-config.js';
import { startServer } from '../serving/server.js';
import { buildModel } from '../train/models.js';
import { trainMnist } from '../train/train-mnist.js';
import { evaluateMnist } from './client-mnist.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { positiveInt } from './flag-values.js';

export interface MnistDemoOptions {
  exportBase: string;
  numTests: number;
  concurrency: number;
  epochs: number;
  log?: (line: string) => void;
}

async function hasVersion(base: string): Promise<boolean> {
  const entries = await readdir(base).catch(() => [] as string[]);
  return entries.some((e) => /^\d+$/.test(e));
}

/** Prints where each op of the served (inference) graph runs, as the chapter's log_device_placement does. */
async function printPlacement(log: (line: string) => void): Promise<void> {
  const g = new Graph();
  const model = withGraph(g, () => buildModel('softmax', { seed: 1 }));
  const session = new Session(g, { logDevicePlacement: true, logger: log });
  await session.run(globalVariablesInitializer(g));
  const { test } = loadMnist({ trainLimit: 0, testLimit: 1 });
  await session.run(
    model.scores,
    new Map([[model.x, new HostTensor('float32', [1, MNIST_PIXELS], test.images.slice(0, MNIST_PIXELS))]]),
  );
  await session.close();
}

export async function runMnistDemo(options: MnistDemoOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(line));
  const exportBase = path.resolve(options.exportBase);
  if (await hasVersion(exportBase)) {
    log(`Using the exported model in ${exportBase}`);
  } else {
    log('Training model...');
    const result = await trainMnist({
      model: 'softmax',
      epochs: options.epochs,
      batchSize: 100,
      learningRate: 0.5,
      optimizer: 'sgd',
      seed: 1,
      exportBase,
      version: 1,
      checkpointDir: path.join(exportBase, '..', 'mnist_checkpoints'),
      log,
    });
    log('Done training!');
    log(`Exported trained model to ${result.exportDir ?? exportBase}`);
  }
  log('');
  log('Device placement of the inference graph:');
  await printPlacement(log);
  log('');
  const server = await startServer({
    modelConfig: singleModelConfig('mnist', exportBase),
    grpcPort: 0,
    restPort: 0,
    host: '127.0.0.1',
    fileSystemPollWaitSeconds: -1,
    log: () => {},
  });
  try {
    log(`Model server: gRPC 127.0.0.1:${server.grpcPort}, REST 127.0.0.1:${server.restPort}, model 'mnist'`);
    const errorRate = await evaluateMnist({
      server: `127.0.0.1:${server.grpcPort}`,
      api: 'grpc',
      modelName: 'mnist',
      numTests: options.numTests,
      concurrency: options.concurrency,
    });
    log(`Inference error rate: ${(errorRate * 100).toFixed(1)}%`);
    return errorRate;
  } finally {
    await server.close();
  }
}

interface DemoMnistFlags {
  export_base: string;
  num_tests: number;
  concurrency: number;
  epochs: number;
}

export function registerDemoMnist(demo: Command): void {
  const command = demo
    .command('mnist')
    .description('train (if needed) → export → serve → evaluate the chapter MNIST softmax model')
    .option('--export_base <dir>', 'where versions are exported (relative to the working directory)', 'models/mnist')
    .option('--num_tests <n>', 'test images to send', positiveInt, 1000)
    .option('--concurrency <n>', 'requests in flight', positiveInt, 8)
    .option('--epochs <n>', 'training epochs when no export exists', positiveInt, 2)
    .action(async (opts: DemoMnistFlags) => {
      await runMnistDemo({
        exportBase: opts.export_base,
        numTests: opts.num_tests,
        concurrency: opts.concurrency,
        epochs: opts.epochs,
      });
    });
  acceptBothFlagStyles(command);
}
