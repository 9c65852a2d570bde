/**
 * The GPU check's measurements (run by scripts/gpu/check.sh on the device machine; runs on any machine, where
 * the GPU rows are recorded as skipped when no WebGPU adapter is found).
 *
 *   node dist/bench/gpu.js devices [--json]   the device list (`flowserve devices`)
 *   node dist/bench/gpu.js demo               `flowserve demo placement`
 *   node dist/bench/gpu.js bench [--out FILE] [--quick]
 *
 * bench measures, on ONNX Runtime's CPU EP and WebGPU EP (models written with src/onnx/builder.ts):
 * - matmul n×n×n float32, n = 1024/4096/8192: "io" (A and B fed from host memory, C fetched: what a partition
 *   boundary costs) and, on the GPU, "resident" (A and B initializers living on the GPU, one scalar fed, the
 *   result reduced to a scalar, so almost no copies); GFLOP/s = 2n³ / median time;
 * - inference throughput (samples/s, input fed and output fetched each run) at batch 1/64/1024 for an
 *   MNIST-softmax-shaped model (784→10, Softmax) and a CNN-shaped model (the TF tutorial's deep MNIST net:
 *   conv5×5×32, pool, conv5×5×64, pool, fc1024, fc10, Softmax; NCHW; on the GPU with preferredLayout NCHW and NHWC;
 *   NHWC is the WebGPU EP's default, so the gpu-nhwc rows are what flowserve's GPU device runs);
 * - the same softmax-shaped logits through a flowserve Session (default placement vs device_count {GPU: 0}).
 * GPU sessions are created with CPU fallback disabled first; if that fails, the error is recorded and the row is
 * measured again with fallback allowed (`fallback: true`). GPU results are checked against the CPU EP
 * (relative L2 error), and the CPU EP against a float64 JS matmul at n = 1024.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { deviceListing } from '../src/cli/devices.js';
import { runPlacementDemo } from '../src/cli/demo-placement.js';
import { discoverDevices } from '../src/devices/device.js';
import { discoverGpus, gpuProbeResult, type GpuProbeResult } from '../src/devices/webgpu.js';
import { Graph, withGraph } from '../src/graph/graph.js';
import { HostTensor } from '../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { constant } from '../src/ops/convert.js';
import { add, matmul } from '../src/ops/math.js';
import { placeholder } from '../src/ops/source.js';
import { Session } from '../src/runtime/session.js';
import { median } from './cpu-time.js';

type Ep = 'cpu' | 'gpu' | 'gpu-nhwc';

interface Row {
  bench: string;
  ep: Ep;
  size: string;
  /** Median milliseconds per run. */
  ms?: number;
  runs?: number;
  gflops?: number;
  samplesPerSec?: number;
  /** Relative L2 error against the reference (CPU EP, or float64 JS for the CPU matmul). */
  relErr?: number;
  fallback?: boolean;
  sessionMs?: number;
  note?: string;
  skipped?: string;
  error?: string;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const budgetMs = Number(process.env.FLOWSERVE_BENCH_BUDGET_S ?? (quick ? 0.3 : 2)) * 1000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
}

function relErr(actual: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = (actual[i] as number) - (ref[i] as number);
    if (Number.isNaN(d)) return Number.NaN;
    num += d * d;
    den += (ref[i] as number) ** 2;
  }
  return Math.sqrt(num / (den || 1));
}

/** Warm-up run(s), then repeat until `maxRuns` or the time budget; returns the median. */
async function timeIt(fn: () => Promise<unknown>, maxRuns: number): Promise<{ ms: number; runs: number }> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return { ms: median(times), runs: times.length };
}

function providers(ep: Ep): ort.InferenceSession.SessionOptions['executionProviders'] {
  if (ep === 'cpu') return ['cpu'];
  // ONNX Runtime 1.30's WebGPU EP prefers NHWC when no layout is given (its verbose log: "WebGPU EP preferred
  // layout: 1"), as flowserve's ['webgpu'] sessions do; the 'gpu' rows ask for NCHW to compare.
  return [{ name: 'webgpu', preferredLayout: ep === 'gpu-nhwc' ? 'NHWC' : 'NCHW' }];
}

/** Creates a session; GPU sessions first without CPU fallback, then with it (recorded). */
async function createSession(
  model: Uint8Array,
  ep: Ep,
): Promise<{ session: ort.InferenceSession; fallback: boolean; ms: number }> {
  const t = performance.now();
  if (ep !== 'cpu') {
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: providers(ep),
        extra: { session: { disable_cpu_ep_fallback: '1' } },
      });
      return { session, fallback: false, ms: performance.now() - t };
    } catch (err) {
      console.log(`  [${ep}] CPU fallback needed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const session = await ort.InferenceSession.create(model, { executionProviders: providers(ep) });
  return { session, fallback: ep !== 'cpu', ms: performance.now() - t };
}

function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

function matmulModel(n: number, resident: boolean, a: Float32Array, b: Float32Array): Uint8Array {
  const g = new OnnxGraphBuilder(resident ? 'matmul_resident' : 'matmul_io');
  if (resident) {
    // A and B are initializers (uploaded once); s is fed so nothing can be constant-folded; C is reduced on device.
    g.namedConstant('A', new HostTensor('float32', [n, n], a));
    g.namedConstant('B', new HostTensor('float32', [n, n], b));
    g.input({ name: 's', dtype: 'float32', shape: [1] });
    const as = g.op('Mul', ['A', 's']);
    const c = g.op('MatMul', [as, 'B']);
    g.op('ReduceSum', [c], { keepdims: 0 }, 'sum');
    g.output({ name: 'sum', dtype: 'float32', shape: [] });
  } else {
    g.input({ name: 'A', dtype: 'float32', shape: [n, n] });
    g.input({ name: 'B', dtype: 'float32', shape: [n, n] });
    g.op('MatMul', ['A', 'B'], {}, 'C');
    g.output({ name: 'C', dtype: 'float32', shape: [n, n] });
  }
  return g.build();
}

function refMatmul64(a: Float32Array, b: Float32Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k] as number;
      const bRow = k * n;
      const cRow = i * n;
      for (let j = 0; j < n; j++) c[cRow + j] = (c[cRow + j] as number) + aik * (b[bRow + j] as number);
    }
  }
  return c;
}

async function benchMatmul(rows: Row[], eps: Ep[], sizes: number[]): Promise<void> {
  for (const n of sizes) {
    const a = randomF32(n * n, 1000 + n);
    const b = randomF32(n * n, 2000 + n);
    const flop = 2 * n ** 3;
    const maxRuns = n >= 8192 ? 5 : n >= 4096 ? 10 : 30;
    let cpuC: Float32Array | undefined;
    let cpuSum: number | undefined;
    for (const ep of eps) {
      for (const resident of [false, true]) {
        const row: Row = { bench: resident ? 'matmul-resident' : 'matmul-io', ep, size: `${n}` };
        try {
          const model = matmulModel(n, resident, a, b);
          const { session, fallback, ms: sessionMs } = await createSession(model, ep);
          const feeds: Record<string, ort.Tensor> = resident
            ? { s: f32(Float32Array.from([1]), [1]) }
            : { A: f32(a, [n, n]), B: f32(b, [n, n]) };
          let out: ort.InferenceSession.OnnxValueMapType = {};
          const t = await timeIt(async () => (out = await session.run(feeds)), maxRuns);
          Object.assign(row, { ...t, gflops: flop / (t.ms / 1000) / 1e9, fallback, sessionMs });
          if (resident) {
            const sum = (out.sum?.data as Float32Array)[0] as number;
            if (ep === 'cpu') cpuSum = sum;
            else if (cpuSum !== undefined) row.relErr = Math.abs(sum - cpuSum) / Math.max(1e-30, Math.abs(cpuSum));
          } else {
            const c = out.C?.data as Float32Array;
            if (ep === 'cpu') {
              cpuC = c.slice();
              if (n <= 1024) row.relErr = relErr(c, refMatmul64(a, b, n));
            } else if (cpuC) row.relErr = relErr(c, cpuC);
          }
          await session.release();
        } catch (err) {
          row.error = (err as Error).message.split('\n')[0];
        }
        rows.push(row);
        printRow(row);
      }
    }
  }
}

function softmaxModel(): Uint8Array {
  const g = new OnnxGraphBuilder('mnist_softmax');
  g.input({ name: 'x', dtype: 'float32', shape: ['N', 784] });
  g.namedConstant('W', new HostTensor('float32', [784, 10], randomF32(7840, 3, 0.1)));
  g.namedConstant('b', new HostTensor('float32', [10], randomF32(10, 4, 0.1)));
  const logits = g.op('Add', [g.op('MatMul', ['x', 'W']), 'b']);
  g.op('Softmax', [logits], { axis: -1 }, 'y');
  g.output({ name: 'y', dtype: 'float32', shape: ['N', 10] });
  return g.build();
}

function cnnModel(): Uint8Array {
  const g = new OnnxGraphBuilder('mnist_cnn');
  const w = (name: string, dims: number[], seed: number, fanIn: number) =>
    g.namedConstant(
      name,
      new HostTensor(
        'float32',
        dims,
        randomF32(
          dims.reduce((p, d) => p * d, 1),
          seed,
          2 / Math.sqrt(fanIn),
        ),
      ),
    );
  g.input({ name: 'x', dtype: 'float32', shape: ['N', 1, 28, 28] });
  w('W1', [32, 1, 5, 5], 11, 25);
  w('B1', [32], 12, 25);
  w('W2', [64, 32, 5, 5], 13, 800);
  w('B2', [64], 14, 800);
  w('W3', [3136, 1024], 15, 3136);
  w('B3', [1024], 16, 3136);
  w('W4', [1024, 10], 17, 1024);
  w('B4', [10], 18, 1024);
  const conv = (x: string, wt: string, bias: string) =>
    g.op('Relu', [g.op('Conv', [x, wt, bias], { kernel_shape: [5, 5], pads: [2, 2, 2, 2] })]);
  const pool = (x: string) => g.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  const h2 = pool(conv(pool(conv('x', 'W1', 'B1')), 'W2', 'B2'));
  const flat = g.op('Flatten', [h2], { axis: 1 });
  const fc1 = g.op('Relu', [g.op('Add', [g.op('MatMul', [flat, 'W3']), 'B3'])]);
  const logits = g.op('Add', [g.op('MatMul', [fc1, 'W4']), 'B4']);
  g.op('Softmax', [logits], { axis: -1 }, 'y');
  g.output({ name: 'y', dtype: 'float32', shape: ['N', 10] });
  return g.build();
}

async function benchInference(rows: Row[], eps: Ep[], batches: number[]): Promise<void> {
  const models: [string, Uint8Array, number[]][] = [
    ['mnist-softmax', softmaxModel(), [784]],
    ['mnist-cnn', cnnModel(), [1, 28, 28]],
  ];
  for (const [name, model, sampleDims] of models) {
    const sampleSize = sampleDims.reduce((p, d) => p * d, 1);
    for (const ep of eps) {
      if (ep === 'gpu-nhwc' && name !== 'mnist-cnn') continue;
      let created: Awaited<ReturnType<typeof createSession>> | undefined;
      let error: string | undefined;
      try {
        created = await createSession(model, ep);
      } catch (err) {
        error = (err as Error).message.split('\n')[0];
      }
      for (const batch of batches) {
        const row: Row = { bench: name, ep, size: `batch ${batch}` };
        if (!created) {
          row.error = error;
          rows.push(row);
          printRow(row);
          continue;
        }
        try {
          const x = f32(randomF32(batch * sampleSize, 77 + batch), [batch, ...sampleDims]);
          let out: ort.InferenceSession.OnnxValueMapType = {};
          const t = await timeIt(async () => (out = await created.session.run({ x })), batch >= 1024 ? 50 : 500);
          Object.assign(row, {
            ...t,
            samplesPerSec: batch / (t.ms / 1000),
            fallback: created.fallback,
            sessionMs: created.ms,
          });
          const y = out.y?.data as Float32Array;
          const key = `${name}/${batch}`;
          if (ep === 'cpu') inferenceRef.set(key, y.slice());
          else if (inferenceRef.has(key)) row.relErr = relErr(y, inferenceRef.get(key) as Float32Array);
        } catch (err) {
          row.error = (err as Error).message.split('\n')[0];
        }
        rows.push(row);
        printRow(row);
      }
      await created?.session.release();
    }
  }
}
const inferenceRef = new Map<string, Float32Array>();

/** The softmax-shaped logits through a flowserve Session: default placement (GPU when present) vs CPU only. */
async function benchSession(rows: Row[], gpu: boolean, batches: number[]): Promise<void> {
  const g = new Graph();
  const { x, y } = withGraph(g, () => {
    const x = placeholder('float32', { shape: [null, 784], name: 'x' });
    const W = constant(new HostTensor('float32', [784, 10], randomF32(7840, 3, 0.1)), { name: 'W' });
    const b = constant(new HostTensor('float32', [10], randomF32(10, 4, 0.1)), { name: 'b' });
    return { x, y: add(matmul(x, W), b, { name: 'logits' }) };
  });
  const variants: [Ep, Record<string, number>][] = [['cpu', { GPU: 0 }]];
  if (gpu) variants.push(['gpu', {}]);
  for (const [ep, deviceCount] of variants) {
    const sess = new Session(g, { deviceCount, logger: () => {} });
    for (const batch of batches) {
      const row: Row = { bench: 'session-softmax-logits', ep, size: `batch ${batch}` };
      try {
        const feed = new Map([[x, new HostTensor('float32', [batch, 784], randomF32(batch * 784, 5 + batch))]]);
        const t = await timeIt(() => sess.run(y, feed), batch >= 1024 ? 50 : 500);
        Object.assign(row, { ...t, samplesPerSec: batch / (t.ms / 1000) });
        row.note = `placed on ${sess.placement().get(y.op)?.name}`;
      } catch (err) {
        row.error = (err as Error).message.split('\n')[0];
      }
      rows.push(row);
      printRow(row);
    }
    await sess.close();
  }
}

function fmt(v: number | undefined, digits = 1): string {
  return v === undefined ? '' : v >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

function printRow(r: Row): void {
  const rate =
    r.gflops !== undefined
      ? `${fmt(r.gflops)} GFLOP/s`
      : r.samplesPerSec !== undefined
        ? `${fmt(r.samplesPerSec)} samples/s`
        : '';
  const extra = [
    r.ms !== undefined ? `${r.ms.toFixed(3)} ms (median of ${r.runs})` : '',
    r.relErr !== undefined ? `relErr ${r.relErr.toExponential(1)}` : '',
    r.fallback ? 'CPU-fallback' : '',
    r.note ?? '',
    r.skipped ?? '',
    r.error ? `ERROR ${r.error}` : '',
  ].filter((s) => s !== '');
  console.log(`${r.bench.padEnd(24)} ${r.ep.padEnd(9)} ${r.size.padEnd(11)} ${rate.padStart(22)}  ${extra.join(', ')}`);
}

async function bench(): Promise<void> {
  const outIndex = args.indexOf('--out');
  const outFile = outIndex >= 0 ? args[outIndex + 1] : undefined;
  const probe: GpuProbeResult = await discoverGpus();
  const gpu = probe.available;
  const eps: Ep[] = gpu ? ['cpu', 'gpu', 'gpu-nhwc'] : ['cpu'];
  const sizes = quick ? [256, 512] : [1024, 4096, 8192];
  const batches = [1, 64, 1024];
  console.log(`GPU: ${probe.reason}`);
  const rows: Row[] = [];
  const started = new Date().toISOString();
  await benchMatmul(
    rows,
    eps.filter((e) => e !== 'gpu-nhwc'),
    sizes,
  );
  await benchInference(rows, eps, batches);
  await benchSession(rows, gpu, batches);
  if (!gpu) rows.push({ bench: '*', ep: 'gpu', size: '*', skipped: `no GPU: ${probe.reason}` });
  const ratios = gpuOverCpu(rows);
  printTargets(ratios, quick ? [256, 512] : sizes);
  const report = {
    ratios,
    started,
    finished: new Date().toISOString(),
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
    },
    onnxruntime: ort.env.versions,
    gpuProbe: probe,
    devices: discoverDevices(),
    quick,
    rows,
  };
  const file = outFile ?? defaultResultsFile();
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`\n${rows.length} rows written to ${file}`);
}

/** bench/results/gpu.json, as the other benchmarks write theirs. */
function defaultResultsFile(): string {
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  fs.mkdirSync(dir, { recursive: true });
  return `${dir}gpu.json`;
}

/** GPU speed over CPU speed for each measurement both ran (same run, same machine): `matmul-io 4096` → 12.3. */
function gpuOverCpu(rows: readonly Row[]): Record<string, number> {
  const speed = (r: Row) => r.gflops ?? r.samplesPerSec;
  const out: Record<string, number> = {};
  for (const g of rows) {
    if (g.ep === 'cpu' || g.error || g.skipped) continue;
    const c = rows.find((r) => r.ep === 'cpu' && r.bench === g.bench && r.size === g.size);
    const gs = speed(g);
    const cs = c && speed(c);
    if (gs && cs) out[`${g.bench} ${g.ep} ${g.size}`] = Number((gs / cs).toFixed(3));
  }
  return out;
}

/** The H100 targets: MatMul 4096³ on the GPU ≥ 10× the CPU, the CNN at batch 1024 ≥ 5× the CPU. */
function printTargets(ratios: Record<string, number>, sizes: readonly number[]): void {
  const n = sizes.includes(4096) ? 4096 : sizes[sizes.length - 1];
  const targets: [string, string[], number][] = [
    [`matmul ${n}³ GPU/CPU`, [`matmul-io gpu ${n}`, `matmul-resident gpu ${n}`], 10],
    ['MNIST CNN batch 1024 GPU/CPU', ['mnist-cnn gpu batch 1024', 'mnist-cnn gpu-nhwc batch 1024'], 5],
  ];
  console.log('\ntarget                         ratio (best of)   target');
  for (const [name, keys, target] of targets) {
    const found = keys.map((k) => ratios[k]).filter((v): v is number => v !== undefined);
    const best = found.length ? Math.max(...found) : undefined;
    const verdict = best === undefined ? 'not measured' : best >= target ? 'met' : 'missed';
    console.log(
      `${name.padEnd(30)} ${best === undefined ? '-'.padStart(8) : best.toFixed(2).padStart(8)}          ≥ ${target}  ${verdict}`,
    );
  }
}

async function main(): Promise<void> {
  const cmd = args[0] ?? 'bench';
  if (cmd === 'devices') {
    await discoverGpus();
    const devices = discoverDevices();
    if (args.includes('--json')) console.log(JSON.stringify({ devices, gpuProbe: gpuProbeResult() ?? null }, null, 2));
    else deviceListing(devices).forEach((l) => console.log(l));
  } else if (cmd === 'demo') {
    await runPlacementDemo();
  } else if (cmd === 'bench') {
    await bench();
  } else {
    throw new Error(`unknown command '${cmd}' (devices | demo | bench)`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
