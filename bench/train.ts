/**
 * npm run bench:train — one training epoch at batch 100 of each MNIST model in flowserve (trainMnist) and in its
 * peers, in the same run:
 *
 * - PyTorch (bench/train_torch.py through Debian's /usr/bin/python3, when it can `import torch`): the softmax
 *   regression (SGD 0.5, all 60,000 images), the MLP and the CNN (Adam 1e-3, the first `--limit` images, default
 *   6,000), same batch size and MNIST IDX files. Each round runs flowserve, then PyTorch on 1 and on 2 threads, the
 *   order reversed every other round (`--rounds`, default 2); each side keeps its best round, and PyTorch its better
 *   thread count. Target: flowserve ≥ 1.0× PyTorch. Without torch the output says how to install it.
 * - TensorFlow.js (tfjs-core + the WASM backend, falling back to the CPU backend) for the softmax and the CNN,
 *   unless `--skip-tfjs`. tfjs stops an epoch after `--tfjs-budget-s` seconds of steps (default 120: its CPU
 *   backend, needed for the CNN because tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, runs a few
 *   examples per second) and its rate is measured over the steps done; the output says so.
 *
 * Reports training examples/s and the ratio flowserve/peer (higher is better). Against PyTorch it also reports the
 * CPU time a step costs (process CPU, every thread, during the timed steps only; each side's least over its runs),
 * which a busy machine inflates far less than wall time.
 *
 * Usage: node dist/bench/train.js [--limit N] [--softmax-limit N] [--rounds N] [--tfjs-budget-s S]
 *        [--skip-cnn] [--skip-tfjs] [--skip-torch] [--steps-per-execution N]
 * `--steps-per-execution` sets flowserve's training steps per ONNX Runtime run for every model (default: trainMnist's
 * per model, `defaultStepsPerExecution`).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { register } from 'node:module';
import type * as Tfjs from '@tensorflow/tfjs-core';
import { BatchIterator, gatherBatch } from '../src/data/batches.js';
import { defaultMnistDir, loadMnist, type MnistSplit } from '../src/data/mnist.js';
import { defaultStepsPerExecution, trainMnist } from '../src/train/train-mnist.js';
import type { ModelName } from '../src/train/models.js';
import { report, type BenchRow } from './report.js';

const BATCH = 100;

/**
 * tfjs-core, imported only for the tfjs rows, after the PyTorch rows: loaded at the start it made flowserve's softmax
 * steps cost more CPU in the same process (one epoch, 10 steps per run, three fresh processes each, alternated, load
 * 6.3–6.5: 195, 184, 177 µs a step with it loaded against 150, 131, 161 µs without; docs/performance.md, "Round 7").
 */
let tf: typeof Tfjs;

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

type TfModel = { variables: Tfjs.Variable[]; logits: (x: Tfjs.Tensor2D) => Tfjs.Tensor2D };

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
      const image = tf.reshape(x, [-1, 28, 28, 1]) as Tfjs.Tensor4D;
      const block = (input: Tfjs.Tensor4D, w: Tfjs.Variable, b: Tfjs.Variable) =>
        tf.maxPool(tf.relu(tf.add(tf.conv2d(input, w as Tfjs.Tensor4D, 1, 'same'), b)) as Tfjs.Tensor4D, 2, 2, 'same');
      const c2 = block(block(image, w1, b1), w2, b2);
      const flat = tf.reshape(c2, [-1, 7 * 7 * 64]) as Tfjs.Tensor2D;
      const fc1 = tf.relu(tf.add(tf.matMul(flat, w3 as Tfjs.Tensor2D), b3)) as Tfjs.Tensor2D;
      return tf.add(tf.matMul(fc1, w4 as Tfjs.Tensor2D), b4) as Tfjs.Tensor2D;
    },
  };
}

/**
 * One epoch in tfjs, or as much of it as fits in `budgetMs`; returns training examples/s (step time: forward,
 * backward, update, loss read back) and the examples done.
 */
async function tfjsEpoch(
  model: TfModel,
  optimizer: Tfjs.Optimizer,
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
      () => tf.losses.softmaxCrossEntropy(y, model.logits(x)) as Tfjs.Scalar,
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
  makeOptimizer: () => Tfjs.Optimizer,
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

/** `--steps-per-execution`, else undefined: trainMnist's default per model. */
const STEPS_PER_EXECUTION = process.argv.includes('--steps-per-execution')
  ? flag('--steps-per-execution', 1)
  : undefined;

/** The optimizer and learning rate each model trains with, in flowserve and in its peers. */
const TRAINING: Record<ModelName, { optimizer: 'sgd' | 'adam'; learningRate: number }> = {
  softmax: { optimizer: 'sgd', learningRate: 0.5 },
  mlp: { optimizer: 'adam', learningRate: 1e-3 },
  cnn: { optimizer: 'adam', learningRate: 1e-3 },
};

/** One epoch's training rate and CPU per step (process CPU, every thread, during the steps only). */
interface EpochCost {
  eps: number;
  cpuMsPerStep: number;
}

async function flowserveEpoch(model: ModelName, split: MnistSplit, test: MnistSplit): Promise<EpochCost> {
  const result = await trainMnist({
    model,
    epochs: 1,
    batchSize: BATCH,
    ...TRAINING[model],
    seed: 1,
    dataset: { train: split, test },
    testLimit: 1000,
    quiet: true,
    // The peers compute on the CPU: so does flowserve here, even where a GPU exists.
    deviceCount: { GPU: 0 },
    ...(STEPS_PER_EXECUTION ? { stepsPerExecution: STEPS_PER_EXECUTION } : {}),
  });
  return { eps: result.examplesPerSec, cpuMsPerStep: (result.cpuSeconds * 1000) / result.steps };
}

function limited(split: MnistSplit, n: number): MnistSplit {
  const count = Math.min(n, split.count);
  return { images: split.images.subarray(0, count * 784), labels: split.labels.subarray(0, count), count };
}

const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'train_torch.py');
const run = promisify(execFile);

/** PyTorch's version when Debian's python3 can import it, else null (after saying how to install it). */
async function torchVersion(): Promise<string | null> {
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { timeout: 60_000 });
    return stdout.trim();
  } catch {
    console.log(
      `PyTorch peer skipped: ${PYTHON} cannot import torch. Install it (Debian, as root) with\n` +
        '  apt-get update && apt-get install -y python3-torch libopenblas0-pthread\n',
    );
    return null;
  }
}

/** One epoch of `model` in PyTorch on `threads` threads (bench/train_torch.py): examples/s and CPU per step. */
async function torchEpoch(model: ModelName, limit: number, threads: number): Promise<EpochCost> {
  const { optimizer, learningRate } = TRAINING[model];
  const args = [TORCH_SCRIPT, '--data', defaultMnistDir(), '--model', model, '--optimizer', optimizer];
  args.push('--lr', String(learningRate), '--batch', String(BATCH), '--limit', String(limit));
  args.push('--threads', String(threads), '--seed', '1');
  const { stdout } = await run(PYTHON, args, { timeout: 1_800_000, maxBuffer: 1 << 20 });
  const last = stdout.trim().split('\n').at(-1) as string;
  const result = JSON.parse(last) as { examples_per_s: number; cpu_ms_per_step: number };
  return { eps: result.examples_per_s, cpuMsPerStep: result.cpu_ms_per_step };
}

/**
 * flowserve against PyTorch on one model: rounds alternate who goes first; each keeps its best round (and
 * PyTorch its better thread count), so a busy neighbour during one contender's turn does not decide the ratio.
 */
async function versusTorch(
  model: ModelName,
  split: MnistSplit,
  test: MnistSplit,
  rounds: number,
): Promise<{ ours: EpochCost[]; torch: Record<number, EpochCost[]> }> {
  const ours: EpochCost[] = [];
  const torch: Record<number, EpochCost[]> = { 1: [], 2: [] };
  for (let r = 0; r < rounds; r++) {
    const turns = ['flowserve', 'torch1', 'torch2'];
    if (r % 2 === 1) turns.reverse();
    for (const turn of turns) {
      if (turn === 'flowserve') ours.push(await flowserveEpoch(model, split, test));
      else {
        const threads = turn === 'torch1' ? 1 : 2;
        torch[threads]?.push(await torchEpoch(model, split.count, threads));
      }
    }
    const fmt = (v: EpochCost[]) =>
      v.map((x) => `${Math.round(x.eps)} (${x.cpuMsPerStep.toPrecision(3)} ms)`).join(', ');
    console.log(
      `${model} round ${r + 1}: flowserve ${fmt(ours)}; PyTorch 1 thread ${fmt(torch[1] ?? [])}, 2 threads ${fmt(torch[2] ?? [])} examples/s (CPU per step)`,
    );
  }
  return { ours, torch };
}

async function tfjsRows(
  data: ReturnType<typeof loadMnist>,
  limits: Record<ModelName, number>,
  budgetMs: number,
  models: ModelName[],
): Promise<{ rows: BenchRow[]; extra: Record<string, unknown> }> {
  tf = await import('@tensorflow/tfjs-core');
  await registerTfjsGradients();
  const wasm = await registerWasm();
  console.log(`tfjs backend: ${wasm ?? 'cpu (fallback: WASM did not load)'}; flowserve: onnxruntime-node CPU EP`);
  const rows: BenchRow[] = [];
  const extra: Record<string, unknown> = {};
  const runs: { name: ModelName; tfModel: () => TfModel; tfOptimizer: () => Tfjs.Optimizer }[] = [
    { name: 'softmax', tfModel: tfSoftmax, tfOptimizer: () => tf.train.sgd(0.5) },
    { name: 'cnn', tfModel: tfCnn, tfOptimizer: () => tf.train.adam(1e-3) },
  ];
  for (const run of runs.filter((r) => models.includes(r.name))) {
    const split = limited(data.train, limits[run.name]);
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
  return { rows, extra };
}

async function main(): Promise<void> {
  const cnnLimit = flag('--limit', 6000);
  const softmaxLimit = flag('--softmax-limit', 60000);
  const rounds = flag('--rounds', 2);
  const budgetMs = flag('--tfjs-budget-s', 120) * 1000;
  const data = loadMnist();
  const limits: Record<ModelName, number> = { softmax: softmaxLimit, mlp: cnnLimit, cnn: cnnLimit };
  const models: ModelName[] = process.argv.includes('--skip-cnn') ? ['softmax', 'mlp'] : ['softmax', 'mlp', 'cnn'];
  console.log(
    `one epoch per model, batch ${BATCH}: softmax ${Math.min(softmaxLimit, data.train.count)} images, ` +
      `MLP and CNN ${Math.min(cnnLimit, data.train.count)} images (--limit)\n`,
  );
  const rows: BenchRow[] = [];
  const extra: Record<string, unknown> = {
    batchSize: BATCH,
    rounds,
    stepsPerExecution: Object.fromEntries(models.map((m) => [m, STEPS_PER_EXECUTION ?? defaultStepsPerExecution(m)])),
  };
  const torch = process.argv.includes('--skip-torch') ? null : await torchVersion();
  if (torch) {
    extra.pytorch = { version: torch, python: PYTHON, threads: [1, 2] };
    for (const model of models) {
      const split = limited(data.train, limits[model]);
      const result = await versusTorch(model, split, data.test, rounds);
      const best1 = Math.max(...(result.torch[1] ?? []).map((c) => c.eps));
      const best2 = Math.max(...(result.torch[2] ?? []).map((c) => c.eps));
      extra[`${model}_vs_pytorch`] = { images: split.count, ...result };
      rows.push({
        name: `mnist_${model}_train_epoch_examples_per_s_vs_pytorch`,
        unit: 'examples/s',
        flowserve: Math.max(...result.ours.map((c) => c.eps)),
        peer: Math.max(best1, best2),
        peerName: `pytorch-${torch} ${best1 >= best2 ? 1 : 2} thread${best1 >= best2 ? '' : 's'}`,
        higherIsBetter: true,
        target: '≥ 1.0',
      });
      // The work a step costs, all threads counted: on a shared machine wall-clock rates swing 2–3× with the
      // neighbours' load while CPU time moves far less, so this row says which side does less work per step.
      const torchCpu = [...(result.torch[1] ?? []), ...(result.torch[2] ?? [])];
      const leastTorch = torchCpu.reduce((a, c) => (c.cpuMsPerStep < a.cpuMsPerStep ? c : a));
      rows.push({
        name: `mnist_${model}_train_cpu_ms_per_step_vs_pytorch`,
        unit: 'CPU ms/step',
        flowserve: Math.min(...result.ours.map((c) => c.cpuMsPerStep)),
        peer: leastTorch.cpuMsPerStep,
        peerName: `pytorch-${torch} ${(result.torch[1] ?? []).includes(leastTorch) ? 1 : 2} thread${(result.torch[1] ?? []).includes(leastTorch) ? '' : 's'}`,
        higherIsBetter: false,
      });
    }
  }
  if (!process.argv.includes('--skip-tfjs')) {
    const tfjs = await tfjsRows(data, limits, budgetMs, models);
    rows.push(...tfjs.rows);
    Object.assign(extra, { tfjsBudgetSeconds: budgetMs / 1000, tfjs: tfjs.extra });
  }
  report('train', rows, extra);
}

await main();
