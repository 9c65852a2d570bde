/**
 * Training on GPU:0 for real: the chapter's MNIST softmax regression trained with gradient descent in a session whose
 * ops are placed by default (GPU:0) and in a CPU-only session gives the same loss sequence and the same variables;
 * the variables live on GPU:0 and keep their values from one run to the next. Two steps of the Deep MNIST CNN do the
 * same for conv2d, max-pool and their gradients.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { buildModel, type ModelName } from '../../src/train/models.js';
import { assertAllClose, CPU_ONLY, GPU0, gpuSkip } from './gpu-helpers.js';

const IMAGES = 300;
const BATCH = 100;
const STEPS = 6;

function batches(images = IMAGES, batch = BATCH) {
  const { train } = fs.loadMnist({ trainLimit: images, testLimit: 1 });
  return Array.from({ length: images / batch }, (_, k) => {
    const labels = new Float32Array(batch * 10);
    for (let i = 0; i < batch; i++) labels[i * 10 + (train.labels[k * batch + i] as number)] = 1;
    return {
      x: new fs.HostTensor('float32', [batch, 784], train.images.slice(k * batch * 784, (k + 1) * batch * 784)),
      y: new fs.HostTensor('float32', [batch, 10], labels),
    };
  });
}

async function train(
  options: fs.SessionOptions,
  data: ReturnType<typeof batches>,
  {
    name = 'softmax',
    learningRate = 0.5,
    steps = STEPS,
  }: { name?: ModelName; learningRate?: number; steps?: number } = {},
) {
  const g = new fs.Graph();
  const model = fs.withGraph(g, () => buildModel(name, { seed: 1 }));
  const step = fs.withGraph(g, () => new fs.GradientDescentOptimizer(learningRate).minimize(model.loss));
  const sess = new fs.Session(g, { logger: () => {}, ...options });
  await sess.run(fs.globalVariablesInitializer(g));
  const losses: number[] = [];
  const metadata: (fs.RunMetadata | undefined)[] = [];
  for (let i = 0; i < steps; i++) {
    const batch = data[i % data.length] as (typeof data)[number];
    const feeds = new Map([
      [model.x, batch.x],
      [model.labels, batch.y],
    ]);
    const [loss] = await sess.run([model.loss, step], feeds);
    losses.push(loss?.toNumbers()[0] as number);
    metadata.push(sess.lastRunMetadata);
  }
  return { g, model, sess, losses, metadata };
}

describe('gradient descent on GPU:0', { skip: gpuSkip }, () => {
  it('gives the CPU loss sequence and variables, with the variables kept on GPU:0 between runs', async () => {
    const data = batches();
    const gpu = await train({}, data);
    const cpu = await train(CPU_ONLY, data);
    try {
      // Zero-initialised weights: the first loss is ln(10) on either device.
      assert.ok(Math.abs((gpu.losses[0] as number) - Math.log(10)) < 1e-5, `first loss ${gpu.losses[0]}`);
      assertAllClose(gpu.losses, cpu.losses, { atol: 1e-5, rtol: 1e-4, what: 'loss' });
      assert.ok((gpu.losses[STEPS - 1] as number) < (gpu.losses[0] as number) - 0.5, gpu.losses.join(', '));

      // The variables and the ops that update them were placed on GPU:0, and the values stored there.
      const placement = new Map([...gpu.sess.placement()].map(([op, d]) => [op.name, d.name]));
      for (const [i, v] of gpu.model.variables.entries()) {
        assert.equal(placement.get(v.op.name), GPU0, `${v.op.name} on ${placement.get(v.op.name)}`);
        assert.ok(gpu.sess.isInitialized(v));
        const value = await gpu.sess.readVariable(v);
        assertAllClose(
          value.toNumbers(),
          (await cpu.sess.readVariable(cpu.model.variables[i] as fs.Variable)).toNumbers(),
          {
            atol: 1e-5,
            rtol: 1e-4,
            what: v.op.name,
          },
        );
        assert.ok(
          value.toNumbers().some((n) => n !== 0),
          `${v.op.name} was trained`,
        );
      }
      const updates = gpu.g.operations.filter((op) => op.def.variableUpdate);
      assert.ok(updates.length >= 2, 'one update per variable');
      for (const op of updates) assert.equal(placement.get(op.name), GPU0, `${op.name} on ${placement.get(op.name)}`);
      // Every training step after the first reuses the executable; the loss partition ran on GPU:0.
      assert.ok(gpu.metadata.slice(1).every((m) => m?.cacheHit === true));
      // The whole step — forward pass, cross-entropy, its gradient, the updates — is one GPU:0 partition.
      assert.deepEqual(
        gpu.metadata[1]?.partitions.map((p) => [p.device, p.stage]),
        [[GPU0, 0]],
      );
      assert.deepEqual(gpu.metadata[1]?.transfers, []);
      // W and b stay in GPU memory between steps (read back above through a copy on the device); on the CPU
      // there is nothing to keep.
      assert.deepEqual(gpu.metadata[1]?.residentVariables, ['W', 'b']);
      assert.deepEqual(cpu.metadata[1]?.residentVariables, []);

      // A later run without the training op reads the trained values: same loss twice, equal to the CPU's.
      const evalFeeds = (m: typeof gpu.model) => {
        const batch = data[0] as (typeof data)[number];
        return new Map([
          [m.x, batch.x],
          [m.labels, batch.y],
        ]);
      };
      const first = (await gpu.sess.run(gpu.model.loss, evalFeeds(gpu.model))).toNumbers();
      const second = (await gpu.sess.run(gpu.model.loss, evalFeeds(gpu.model))).toNumbers();
      const reference = (await cpu.sess.run(cpu.model.loss, evalFeeds(cpu.model))).toNumbers();
      assert.deepEqual(second, first);
      assertAllClose(first, reference, { atol: 1e-5, rtol: 1e-4, what: 'loss after training' });
      // Accuracy needs ArgMax, which stays on the CPU: a GPU → CPU split graph, same answer as the CPU.
      const acc = (await gpu.sess.run(gpu.model.accuracy, evalFeeds(gpu.model))).toNumbers();
      const accCpu = (await cpu.sess.run(cpu.model.accuracy, evalFeeds(cpu.model))).toNumbers();
      assert.deepEqual(acc, accCpu);
    } finally {
      await gpu.sess.close();
      await cpu.sess.close();
    }
  });

  it('trains the Deep MNIST CNN (conv2d, max-pool and their gradients) to the CPU losses and weights', async () => {
    // CPU-emulated WebGPU is slow: two steps of batch 8 (~2 s with lavapipe) are enough to exercise every kernel.
    const data = batches(16, 8);
    const options = { name: 'cnn' as const, learningRate: 0.01, steps: 2 };
    const gpu = await train({}, data, options);
    const cpu = await train(CPU_ONLY, data, options);
    try {
      assertAllClose(gpu.losses, cpu.losses, { atol: 1e-4, rtol: 1e-4, what: 'loss' });
      // Convolutions, pooling, their gradients and the updates: the whole step is one GPU:0 partition.
      assert.deepEqual(
        gpu.metadata[1]?.partitions.map((p) => [p.device, p.stage]),
        [[GPU0, 0]],
      );
      assert.deepEqual(gpu.metadata[1]?.transfers, []);
      for (const [i, v] of gpu.model.variables.entries()) {
        assertAllClose(
          (await gpu.sess.readVariable(v)).toNumbers(),
          (await cpu.sess.readVariable(cpu.model.variables[i] as fs.Variable)).toNumbers(),
          { atol: 1e-4, rtol: 1e-3, what: v.op.name },
        );
      }
    } finally {
      await gpu.sess.close();
      await cpu.sess.close();
    }
  });
});
