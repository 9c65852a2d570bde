/**
 * npm run bench:engine — Session.run against raw onnxruntime-node on the same computation, in one run (both on the
 * CPU: the sessions have device_count {GPU: 0}):
 * a 1024³ float32 matmul (GFLOP/s) and the MNIST softmax forward pass at batch 1 (process CPU µs per run, issue 14's
 * row) and 256 (ms per run).
 */
import ort from 'onnxruntime-node';
import * as fs from '../src/index.js';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { compareTimes, report, type BenchRow } from './report.js';

function randomHost(shape: number[], seed: number): fs.HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return new fs.HostTensor('float32', shape, data);
}

async function rawSession(build: (b: OnnxGraphBuilder) => void): Promise<ort.InferenceSession> {
  const b = new OnnxGraphBuilder('raw');
  build(b);
  return ort.InferenceSession.create(b.build(), { executionProviders: ['cpu'] });
}

/**
 * Process CPU time per run (µs) of two contenders, each the best of `rounds` rounds of `runs` runs, rounds
 * alternated (A B B A …). CPU time, not wall time: on a machine that other work shares, wall time swings 2–3× with the
 * load while CPU time per run stays within a few percent (docs/performance.md#engine).
 */
async function compareCpuTimes(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  { runs = 200_000, rounds = 6, warmup = 5_000 } = {},
): Promise<[number, number]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const round = async (fn: () => Promise<unknown>) => {
    const start = process.cpuUsage();
    for (let i = 0; i < runs; i++) await fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / runs;
  };
  let bestA = Infinity;
  let bestB = Infinity;
  for (let r = 0; r < rounds; r++) {
    for (const who of r % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
      if (who === 'a') bestA = Math.min(bestA, await round(a));
      else bestB = Math.min(bestB, await round(b));
    }
  }
  return [bestA, bestB];
}

const rows: BenchRow[] = [];

// 1. MatMul 1024x1024x1024: both sides get the operands as feeds, as a user would.
{
  const n = 1024;
  const A = randomHost([n, n], 1);
  const B = randomHost([n, n], 2);
  const g = new fs.Graph();
  const [a, b, c] = fs.withGraph(g, () => {
    const a = fs.placeholder('float32', { shape: [n, n], name: 'a' });
    const b = fs.placeholder('float32', { shape: [n, n], name: 'b' });
    return [a, b, fs.matmul(a, b)] as const;
  });
  const sess = new fs.Session(g, { logger: () => {}, deviceCount: { GPU: 0 } });
  const feeds = new Map([
    [a, A],
    [b, B],
  ]);
  const raw = await rawSession((bb) => {
    bb.input({ name: 'a', dtype: 'float32', shape: [n, n] });
    bb.input({ name: 'b', dtype: 'float32', shape: [n, n] });
    bb.op('Gemm', ['a', 'b'], {}, 'c');
    bb.output({ name: 'c', dtype: 'float32', shape: [n, n] });
  });
  const rawFeeds = {
    a: new ort.Tensor('float32', A.data as Float32Array, [n, n]),
    b: new ort.Tensor('float32', B.data as Float32Array, [n, n]),
  };
  const flops = 2 * n * n * n;
  const [ms, rawMs] = await compareTimes(
    () => sess.run(c, feeds),
    () => raw.run(rawFeeds),
    { iterations: 15, budgetMs: 3000 },
  );
  rows.push({
    name: 'matmul_1024_gflops',
    unit: 'GFLOP/s',
    flowserve: flops / ms / 1e6,
    peer: flops / rawMs / 1e6,
    peerName: 'raw ORT',
    higherIsBetter: true,
    target: '>= 0.95',
  });
  await sess.close();
  await raw.release();
}

// 2. MNIST softmax forward: y = softmax(x W + b), W and b as variables in flowserve, initializers in raw ORT.
{
  const W = randomHost([784, 10], 3);
  const bias = randomHost([10], 4);
  const g = new fs.Graph();
  const [x, y] = fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [-1, 784], name: 'x' });
    const w = new fs.Variable(W, { name: 'W' });
    const b = new fs.Variable(bias, { name: 'b' });
    return [x, fs.softmax(fs.add(fs.matmul(x, w.value), b.value), { name: 'y' })] as const;
  });
  const sess = new fs.Session(g, { logger: () => {}, deviceCount: { GPU: 0 } });
  await sess.run(fs.globalVariablesInitializer(g));
  const raw = await rawSession((bb) => {
    bb.input({ name: 'x', dtype: 'float32', shape: [null, 784] });
    bb.namedConstant('W', W);
    bb.namedConstant('b', bias);
    const mm = bb.op('MatMul', ['x', 'W']);
    const z = bb.op('Add', [mm, 'b']);
    bb.op('Softmax', [z], { axis: -1 }, 'y');
    bb.output({ name: 'y', dtype: 'float32', shape: [null, 10] });
  });
  for (const batch of [1, 256]) {
    const X = randomHost([batch, 784], 5 + batch);
    const feeds = new Map([[x, X]]);
    const rawFeeds = { x: new ort.Tensor('float32', X.data as Float32Array, [batch, 784]) };
    if (batch === 1) {
      const [us, rawUs] = await compareCpuTimes(
        () => sess.run(y, feeds),
        () => raw.run(rawFeeds),
      );
      rows.push({
        name: 'mnist_softmax_forward_batch1_cpu_us',
        unit: 'CPU µs/run',
        flowserve: us,
        peer: rawUs,
        peerName: 'raw ORT',
        higherIsBetter: false,
        target: '>= 0.9 (issue 14)',
      });
      continue;
    }
    const [ms, rawMs] = await compareTimes(
      () => sess.run(y, feeds),
      () => raw.run(rawFeeds),
      { iterations: 2000, budgetMs: 1500, warmup: 20 },
    );
    rows.push({
      name: `mnist_softmax_forward_batch${batch}_ms`,
      unit: 'ms/run',
      flowserve: ms,
      peer: rawMs,
      peerName: 'raw ORT',
      higherIsBetter: false,
    });
  }
  await sess.close();
  await raw.release();
}

report('engine', rows);
