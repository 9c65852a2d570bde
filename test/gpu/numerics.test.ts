/**
 * Numbers computed by ONNX Runtime's WebGPU execution provider equal the CPU execution provider's within float32
 * tolerance: a graph mixing the ops the chapter's models use, placed by default (GPU:0), against the same graph in
 * a session with device_count {GPU: 0}; and the same graph split CPU → GPU → CPU.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { assertAllClose, CPU0, CPU_ONLY, GPU0, gpuSkip } from './gpu-helpers.js';

const quiet = { logger: () => {} };
const BATCH = 33; // odd, so shader tiles do not divide it
const IN = 70;
const HIDDEN = 45;
const OUT = 10;

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number, scale = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return ((s / 2147483648) * 2 - 1) * scale;
  });
}

const W1 = new fs.HostTensor('float32', [IN, HIDDEN], values(IN * HIDDEN, 1, 0.3));
const B1 = new fs.HostTensor('float32', [HIDDEN], values(HIDDEN, 2, 0.1));
const W2 = new fs.HostTensor('float32', [HIDDEN, OUT], values(HIDDEN * OUT, 3, 0.3));
const X = new fs.HostTensor('float32', [BATCH, IN], values(BATCH * IN, 4));
const IMAGES = new fs.HostTensor('float32', [2, 12, 12, 3], values(2 * 12 * 12 * 3, 5));
const FILTER = new fs.HostTensor('float32', [3, 3, 3, 4], values(3 * 3 * 3 * 4, 6, 0.5));
const CONV_BIAS = new fs.HostTensor('float32', [4], values(4, 7, 0.1));

/** A dense head (matmul, add, relu, softmax, reduce_mean, tanh, sigmoid) and a conv tower (conv2d, bias, max-pool). */
function mixedGraph() {
  const g = new fs.Graph();
  const t = fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, IN], name: 'x' });
    const h = fs.relu(fs.add(fs.matmul(x, fs.constant(W1, { name: 'W1' })), fs.constant(B1, { name: 'b1' })), {
      name: 'h',
    });
    const logits = fs.matmul(h, fs.constant(W2, { name: 'W2' }), { name: 'logits' });
    const probs = fs.softmax(logits, { name: 'probs' });
    const meanProbs = fs.reduceMean(probs, 0, { name: 'mean_probs' });
    const squashed = fs.reduceSum(fs.mul(fs.tanh(logits), fs.sigmoid(logits)), 1, { name: 'squashed' });
    const images = fs.placeholder('float32', { shape: [null, 12, 12, 3], name: 'images' });
    const conv = fs.relu(
      fs.biasAdd(
        fs.conv2d(images, fs.constant(FILTER, { name: 'filter' }), { strides: [1, 1, 1, 1], padding: 'SAME' }),
        fs.constant(CONV_BIAS, { name: 'conv_bias' }),
      ),
      { name: 'conv' },
    );
    const pooled = fs.maxPool(conv, { ksize: [1, 2, 2, 1], strides: [1, 2, 2, 1], padding: 'VALID', name: 'pool' });
    const pooledMean = fs.reduceMean(pooled, [1, 2], { name: 'pooled_mean' });
    return { x, images, h, probs, meanProbs, squashed, conv, pooled, pooledMean };
  });
  return { g, ...t };
}

describe('GPU:0 numerics equal the CPU within float32 tolerance', { skip: gpuSkip }, () => {
  it('a graph of mixed ops placed by default on GPU:0 equals the same graph on the CPU', async () => {
    const gpuGraph = mixedGraph();
    const cpuGraph = mixedGraph();
    const gpu = new fs.Session(gpuGraph.g, quiet);
    const cpu = new fs.Session(cpuGraph.g, { ...quiet, ...CPU_ONLY });
    try {
      const fetch = (m: ReturnType<typeof mixedGraph>) => ({
        h: m.h,
        probs: m.probs,
        meanProbs: m.meanProbs,
        squashed: m.squashed,
        conv: m.conv,
        pooled: m.pooled,
        pooledMean: m.pooledMean,
      });
      const feeds = (m: ReturnType<typeof mixedGraph>) =>
        new Map([
          [m.x, X],
          [m.images, IMAGES],
        ]);
      const onGpu = await gpu.run(fetch(gpuGraph), feeds(gpuGraph));
      const onCpu = await cpu.run(fetch(cpuGraph), feeds(cpuGraph));
      for (const key of Object.keys(onCpu) as (keyof typeof onCpu)[]) {
        const a = onGpu[key] as fs.HostTensor;
        const e = onCpu[key] as fs.HostTensor;
        assert.deepEqual(a.shape, e.shape, key);
        assertAllClose(a.toNumbers(), e.toNumbers(), { what: key });
      }
      assert.deepEqual(onGpu.pooled?.shape, [2, 6, 6, 4]);
      // The dense ops ran on GPU:0 (the conv tower runs wherever the kernel table allows; its numbers match anyway).
      const placement = new Map([...gpu.placement()].map(([op, d]) => [op.name, d.name]));
      for (const name of ['MatMul', 'Add', 'h', 'logits', 'probs', 'mean_probs', 'squashed']) {
        assert.equal(placement.get(name), GPU0, `${name} on ${placement.get(name)}`);
      }
      assert.ok(gpu.lastRunMetadata?.partitions.some((p) => p.device === GPU0));
      assert.ok([...cpu.placement().values()].every((d) => d.name === CPU0));
      // A second run (cached executable, same GPU sessions) gives the same numbers again.
      const again = await gpu.run(fetch(gpuGraph), feeds(gpuGraph));
      assert.equal(gpu.lastRunMetadata?.cacheHit, true);
      assertAllClose(again.probs?.toNumbers() ?? [], onGpu.probs?.toNumbers() ?? [], { atol: 0, rtol: 0 });
    } finally {
      await gpu.close();
      await cpu.close();
    }
  });

  it('a graph split CPU → GPU → CPU gives the CPU numbers, with both copies recorded', async () => {
    const build = (split: boolean) => {
      const g = new fs.Graph();
      const on = <T>(device: string, body: () => T): T => (split ? g.device(device, body) : body());
      const t = fs.withGraph(g, () => {
        const x = fs.placeholder('float32', { shape: [null, IN], name: 'x' });
        const p = on('/cpu:0', () => fs.matmul(x, fs.constant(W1, { name: 'W1' }), { name: 'p' }));
        const r = on('/gpu:0', () => {
          const q = fs.relu(fs.add(p, fs.constant(B1, { name: 'b1' })), { name: 'q' });
          return fs.matmul(q, fs.constant(W2, { name: 'W2' }), { name: 'r' });
        });
        const y = on('/cpu:0', () => fs.softmax(r, { name: 'y' }));
        return { x, y };
      });
      return { g, ...t };
    };
    const split = build(true);
    const reference = build(false);
    const sess = new fs.Session(split.g, quiet);
    const cpu = new fs.Session(reference.g, { ...quiet, ...CPU_ONLY });
    try {
      const y = await sess.run(split.y, new Map([[split.x, X]]));
      const expected = await cpu.run(reference.y, new Map([[reference.x, X]]));
      assertAllClose(y.toNumbers(), expected.toNumbers(), { what: 'y' });
      const meta = sess.lastRunMetadata;
      // p on the CPU, then q and r on GPU:0, then y on the CPU again: three stages in that order.
      const partitionOf = (op: string) => meta?.partitions.find((p) => p.ops.includes(op));
      assert.deepEqual(
        ['p', 'q', 'r', 'y'].map((op) => [op, partitionOf(op)?.device, partitionOf(op)?.stage]),
        [
          ['p', CPU0, 0],
          ['q', GPU0, 1],
          ['r', GPU0, 1],
          ['y', CPU0, 2],
        ],
      );
      assert.deepEqual(
        meta?.transfers.map((t) => `${t.tensor} ${t.from} -> ${t.to} ${t.bytes}`),
        [`p:0 ${CPU0} -> ${GPU0} ${BATCH * HIDDEN * 4}`, `r:0 ${GPU0} -> ${CPU0} ${BATCH * OUT * 4}`],
      );
    } finally {
      await sess.close();
      await cpu.close();
    }
  });

  it('the max-pool gradient on GPU:0 routes each window to its first maximum, ties included', async () => {
    // 2×2 windows over relu(x): whole windows of zeros and windows with equal maxima are ties; TensorFlow (and the
    // CPU kernel, through MaxPool's Indices) route the gradient to the first maximum of the window only.
    const g = new fs.Graph();
    const { x, dx } = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, 4, 6, 2], name: 'x' });
      const pooled = fs.maxPool(fs.relu(x), { ksize: 2, strides: 2, padding: 'SAME' });
      const w = fs.constant(new fs.HostTensor('float32', [2, 3, 2], values(2 * 3 * 2, 9)), { name: 'w' });
      const [dx] = fs.gradients(fs.reduceSum(fs.mul(pooled, w)), [x]);
      return { x, dx: dx as fs.Tensor };
    });
    const data = values(2 * 4 * 6 * 2, 10).map((v, i) => (i % 7 === 0 ? 0.5 : i % 5 === 0 ? -v * v : v));
    const feeds = [[x, new fs.HostTensor('float32', [2, 4, 6, 2], data)]] as const;
    const gpu = new fs.Session(g, quiet);
    const cpu = new fs.Session(g, { ...CPU_ONLY, ...quiet });
    try {
      const got = await gpu.run(dx, feeds);
      const want = await cpu.run(dx, feeds);
      const grad = gpu.placement();
      const maxPoolGrad = [...grad.keys()].find((op) => op.type === 'MaxPoolGrad');
      assert.equal(maxPoolGrad && grad.get(maxPoolGrad)?.name, GPU0);
      // Exactly the CPU's cells and values (−0 from 0 × a negative weight counts as 0).
      const plain = (t: fs.HostTensor) => [...(t.data as Float32Array)].map((v) => v + 0);
      assert.deepEqual(plain(got), plain(want));
      // Each 2×2 window passes its gradient to at most one cell.
      const routed = [...(got.data as Float32Array)].filter((v) => v !== 0).length;
      assert.ok(routed <= 2 * 2 * 3 * 2, `${routed} cells got a gradient`);
    } finally {
      await gpu.close();
      await cpu.close();
    }
  });
});
