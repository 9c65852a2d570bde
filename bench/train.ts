/**
 * npm run bench:train — one training epoch at batch 100 of the MNIST softmax regression (SGD 0.5, all 60,000
 * images) and of the CNN (Adam 1e-3, the first `--limit` images, default 6,000), in flowserve (trainMnist) and in
 * TensorFlow.js (tfjs-core + the WASM backend, falling back to the CPU backend) building the same model with tf
 * ops, in the same run. Reports training examples/s and the ratio flowserve/tfjs (higher is better).
 *
 * tfjs stops an epoch after `--tfjs-budget-s` seconds of steps (default 120: its CPU backend, needed for the CNN
 * because tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, runs a few examples per second) and its rate
 * is measured over the steps done; the output says so.
 *
 * Usage: node dist/bench/train.js [--limit N] [--softmax-limit N] [--tfjs-budget-s S] [--skip-cnn]
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { BatchIterator, gatherBatch } from '../src/data/batches.js';
import { loadMnist, type MnistSplit } from '../src/data/mnist.js';
import { trainMnist } from '../src/train/train-mnist.js';
import type { ModelName } from '../src/train/models.js';
import { report, type BenchRow } from './report.js';

const BATCH = 100;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} needs a positive integer`);
  return n;
}

/**
 * tfjs-core's Node bundle has no op gradients; the @tensorflow/tfjs bundle registers them from the ES module tree
 * `dist/register_all_gradients.js`, whose relative imports lack the `.js` that Node's ESM resolver requires. A
 * resolve hook adds it for those files only. The registrations land in tfjs's global registry (globalThis).
 */
async function registerTfjsGradients(): Promise<void> {
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier.startsWith('.') && !specifier.endsWith('.js') && context.parentURL?.includes('/tfjs-core/dist/')) {
      return next(specifier + '.js', context);
    }
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}

/** Registers tfjs's WASM backend (the .wasm files from the installed package); false when it cannot load. */
async function registerWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
    if (await tf.setBackend('wasm')) return `wasm (${wasm.getThreadsCount()} thread)`;
    throw new Error('setBackend(wasm) returned false');
  } catch (err) {
    console.log(`tfjs: the WASM backend did not load (${(err as Error).message})`);
    return null;
  }
}

/** Switches tfjs to its CPU backend (tfjs-backend-cpu, installed with tfjs-backend-wasm). */
async function useCpuBackend(): Promise<string> {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  return 'cpu';
}

type TfModel = { variables: tf.Variable[]; logits: (x: tf.Tensor2D) => tf.Tensor2D };

function tfSoftmax(): TfModel {
  const W = tf.variable(tf.zeros([784, 10]));
  const b = tf.variable(tf.zeros([10]));
  return { variables: [W, b], logits: (x) => tf.add(tf.matMul(x, W), b) };
}

function tfCnn(): TfModel {
  const weight = (shape: number[]) => tf.variable(tf.truncatedNormal(shape, 0, 0.1, 'float32', 1));
  const bias = (n: number) => tf.variable(tf.fill([n], 0.1));
  const [w1, b1, w2, b2] = [weight([5, 5, 1, 32]), bias(32), weight([5, 5, 32, 64]), bias(64)];
  const [w3, b3, w4, b4] = [weight([7 * 7 * 64, 1024]), bias(1024), weight([1024, 10]), bias(10)];
  return {
    variables: [w1, b1, w2, b2, w3, b3, w4, b4],
    logits: (x) => {
      const image = tf.reshape(x, [-1, 28, 28, 1]) as tf.Tensor4D;
      const block = (input: tf.Tensor4D, w: tf.Variable, b: tf.Variable) =>
        tf.maxPool(tf.relu(tf.add(tf.conv2d(input, w as tf.Tensor4D, 1, 'same'), b)) as tf.Tensor4D, 2, 2, 'same');
      const c2 = block(block(image, w1, b1), w2, b2);
      const flat = tf.reshape(c2, [-1, 7 * 7 * 64]) as tf.Tensor2D;
      const fc1 = tf.relu(tf.add(tf.matMul(flat, w3 as tf.Tensor2D), b3)) as tf.Tensor2D;
      return tf.add(tf.matMul(fc1, w4 as tf.Tensor2D), b4) as tf.Tensor2D;
    },
  };
}

/**
 * One epoch in tfjs, or as much of it as fits in `budgetMs`; returns training examples/s (step time: forward,
 * backward, update, loss read back) and the examples done.
 */
async function tfjsEpoch(
  model: TfModel,
  optimizer: tf.Optimizer,
  split: MnistSplit,
  budgetMs: number,
): Promise<{ eps: number; examples: number }> {
  const batches = new BatchIterator(split.count, BATCH, { seed: 1 }).nextEpoch();
  let ms = 0;
  let examples = 0;
  for (const indices of batches) {
    if (ms > budgetMs) break;
    const batch = gatherBatch(split.images, split.labels, indices, { oneHot: true });
    const t0 = performance.now();
    const x = tf.tensor2d(batch.x, [batch.size, 784]);
    const y = tf.tensor2d(batch.y, [batch.size, 10]);
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(y, model.logits(x)) as tf.Scalar,
      true,
      model.variables,
    );
    await loss?.data();
    loss?.dispose();
    x.dispose();
    y.dispose();
    ms += performance.now() - t0;
    examples += batch.size;
  }
  return { eps: examples / (ms / 1000), examples };
}

async function tfjsRun(
  makeModel: () => TfModel,
  makeOptimizer: () => tf.Optimizer,
  split: MnistSplit,
  budgetMs: number,
): Promise<{ eps: number; examples: number }> {
  const model = makeModel();
  const optimizer = makeOptimizer();
  try {
    return await tfjsEpoch(model, optimizer, split, budgetMs);
  } finally {
    model.variables.forEach((v) => v.dispose());
    optimizer.dispose();
  }
}

async function flowserveEpoch(model: ModelName, split: MnistSplit, test: MnistSplit): Promise<{ eps: number }> {
  const result = await trainMnist({
    model,
    epochs: 1,
    batchSize: BATCH,
    learningRate: model === 'softmax' ? 0.5 : 1e-3,
    optimizer: model === 'softmax' ? 'sgd' : 'adam',
    seed: 1,
    dataset: { train: split, test },
    testLimit: 1000,
    quiet: true,
    // The peer (TensorFlow.js WASM) computes on the CPU: so does flowserve here, even where a GPU exists.
    deviceCount: { GPU: 0 },
  });
  return { eps: result.examplesPerSec };
}

function limited(split: MnistSplit, n: number): MnistSplit {
  const count = Math.min(n, split.count);
  return { images: split.images.subarray(0, count * 784), labels: split.labels.subarray(0, count), count };
}

async function main(): Promise<void> {
  const cnnLimit = flag('--limit', 6000);
  const softmaxLimit = flag('--softmax-limit', 60000);
  const budgetMs = flag('--tfjs-budget-s', 120) * 1000;
  const data = loadMnist();
  await registerTfjsGradients();
  const wasm = await registerWasm();
  console.log(`tfjs backend: ${wasm ?? 'cpu (fallback: WASM did not load)'}; flowserve: onnxruntime-node CPU EP`);
  console.log(
    `softmax: one epoch of ${Math.min(softmaxLimit, data.train.count)} images; CNN: one epoch of ${Math.min(cnnLimit, data.train.count)} images (--limit); batch ${BATCH}\n`,
  );
  const rows: BenchRow[] = [];
  const extra: Record<string, unknown> = {};
  const runs: { name: ModelName; limit: number; tfModel: () => TfModel; tfOptimizer: () => tf.Optimizer }[] = [
    { name: 'softmax', limit: softmaxLimit, tfModel: tfSoftmax, tfOptimizer: () => tf.train.sgd(0.5) },
  ];
  if (!process.argv.includes('--skip-cnn')) {
    runs.push({ name: 'cnn', limit: cnnLimit, tfModel: tfCnn, tfOptimizer: () => tf.train.adam(1e-3) });
  }
  for (const run of runs) {
    const split = limited(data.train, run.limit);
    const ours = await flowserveEpoch(run.name, split, data.test);
    let backend = wasm ? await tf.setBackend('wasm').then(() => wasm) : await useCpuBackend();
    let peer: { eps: number; examples: number };
    try {
      peer = await tfjsRun(run.tfModel, run.tfOptimizer, split, budgetMs);
    } catch (err) {
      if (!/not registered for backend/.test((err as Error).message)) throw err;
      // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel: it cannot train a CNN.
      console.log(`tfjs ${run.name}: ${(err as Error).message}; falling back to the CPU backend for this model`);
      backend = await useCpuBackend();
      peer = await tfjsRun(run.tfModel, run.tfOptimizer, split, budgetMs);
    }
    const partial = peer.examples < split.count ? ` (time budget: ${peer.examples} of ${split.count} images)` : '';
    console.log(
      `${run.name}: flowserve ${Math.round(ours.eps)} examples/s; tfjs-${backend} ${Math.round(peer.eps)} examples/s${partial}`,
    );
    extra[run.name] = { images: split.count, tfjsImages: peer.examples, tfjsBackend: backend };
    rows.push({
      name: `mnist_${run.name}_train_epoch_examples_per_s`,
      unit: 'examples/s',
      flowserve: ours.eps,
      peer: peer.eps,
      peerName: `tfjs-${backend.split(' ')[0] as string}`,
      higherIsBetter: true,
    });
  }
  report('train', rows, { batchSize: BATCH, tfjsBudgetSeconds: budgetMs / 1000, ...extra });
}

await main();
