/**
 * npm run bench:import — TF.js graph models of @vladmandic/human (emotion, iris, blazeface) served by flowserve
 * against TF.js running the same model.json on its WASM and CPU backends, in one run:
 *  - inference examples/s at batch 1 and 32 on seeded random input (blazeface's input is fixed at batch 1).
 *    flowserve runs as the server does: the version directory imported by findModelSource, loaded into the
 *    inference WorkerPool with the server's defaults (one worker per CPU, CPUs/workers intra-op threads each), one
 *    request at a time through the pool, inputs copied to the worker as a REST/gRPC request's are moved. A second
 *    row keeps every worker busy (one request in flight per worker), as concurrent clients do. flowserve and
 *    tfjs-wasm alternate rounds (A B B A …), each side's best round median counts; tfjs-cpu, ~100× slower, is
 *    timed alone.
 *  - load time: flowserve's read + import + lower + write + session + first run + chunked-runs calibration,
 *    against tf.loadGraphModel + first run, with flowserve's parts. FLOWSERVE_BENCH_CHUNKED_RUNS=false measures
 *    flowserve with every batch run whole (--chunked_runs=false).
 * Target (issue 10): ≥ 3× tfjs-wasm at batch 32. The load average is printed beside the figures: the machine is
 * shared, and only same-run ratios mean anything.
 */
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { HostTensor } from '../src/graph/host-tensor.js';
import { convertImportedModel } from '../src/import/convert.js';
import { readTfjsGraphModel } from '../src/import/tfjs-graph-model.js';
import type { TfjsWeightsManifest } from '../src/import/tfjs-weights.js';
import { findModelSource } from '../src/serving/core/model-source.js';
import { OnnxServable } from '../src/serving/core/onnx-servable.js';
import type { VersionSignatures } from '../src/serving/core/signatures.js';
import type { Signature } from '../src/serving/core/types.js';
import { WorkerPool } from '../src/serving/worker/worker-pool.js';
import { compareTimes, report, timeIt, type BenchRow } from './report.js';

const MODELS = fileURLToPath(new URL('../../node_modules/@vladmandic/human/models/', import.meta.url));
const require = createRequire(import.meta.url);
setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');

const CASES = [
  { model: 'emotion', batches: [1, 32] },
  { model: 'iris', batches: [1, 32] },
  { model: 'blazeface', batches: [1] },
];
const TIMING = { warmup: 2, iterations: 20, budgetMs: 2000, rounds: 4 };

function randomInput(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function loadTfjs(file: string): Promise<GraphModel> {
  const json = JSON.parse(await readFile(file, 'utf8'));
  const manifest = json.weightsManifest as TfjsWeightsManifest;
  const bytes = Buffer.concat(
    await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dirname(file), p)))),
  );
  return loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      format: json.format,
      weightSpecs: manifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  });
}

/**
 * Cores a contender kept busy while timed: process CPU time over wall time across its runs. Both sides run in
 * this process, one at a time (rounds alternate), so each side's share is its own: tfjs-wasm computes on the main
 * thread, flowserve in a worker thread of the pool.
 */
class CpuMeter {
  private cpuMs = 0;
  private wallMs = 0;
  private runs = 0;
  wrap<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
    return async (...args: A) => {
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      await run(...args);
      const cpu = process.cpuUsage(cpu0);
      this.wallMs += performance.now() - wall0;
      this.cpuMs += (cpu.user + cpu.system) / 1000;
      this.runs++;
    };
  }
  /** CPU time per run: unlike wall time, not stretched by waiting for a core on a shared machine. */
  get cpuMsPerRun(): number {
    return this.runs > 0 ? this.cpuMs / this.runs : 0;
  }
  get cores(): number {
    return this.wallMs > 0 ? this.cpuMs / this.wallMs : 0;
  }
}

/**
 * The binary tfjs-backend-wasm 4.x loads, by its own rule (getPathToWasmBinary): threaded SIMD only where
 * WASM_HAS_MULTITHREAD_SUPPORT holds, which it never does in Node (the flag returns false when IS_NODE).
 */
function tfjsWasmBinary(): string {
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  if (simd && threads) return 'tfjs-backend-wasm-threaded-simd.wasm';
  return simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
}

interface Contender {
  loadMs: number;
  /** Runs one batch; resolves when the outputs are on the host. */
  run(data: Float32Array, shape: number[]): Promise<void>;
  release(): Promise<void>;
}

/** A version directory holding the human package's `<model>.json` as model.json, beside its weight files. */
async function versionDir(file: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flowserve-bench-import-'));
  const json = JSON.parse(await readFile(file, 'utf8'));
  await symlink(file, join(dir, 'model.json'));
  for (const p of (json.weightsManifest as TfjsWeightsManifest).flatMap((g) => g.paths)) {
    await symlink(join(dirname(file), p), join(dir, p));
  }
  return dir;
}

/**
 * flowserve as the server loads and runs a TF.js version: findModelSource, the inference worker pool, the servable
 * with its chunked-runs calibration (unless FLOWSERVE_BENCH_CHUNKED_RUNS=false, as --chunked_runs=false).
 */
async function flowserve(pool: WorkerPool, file: string, name: string, shape1: number[]) {
  const dir = await versionDir(file);
  const t0 = performance.now();
  const source = await findModelSource(dir);
  const t1 = performance.now();
  const model = await pool.loadModel(source.modelPath);
  await source.release();
  const t2 = performance.now();
  const { signatures } = source.signatures as VersionSignatures;
  const servable = new OnnxServable({
    modelName: name,
    version: 1,
    model,
    signatures: source.signatures as VersionSignatures,
    platform: 'tensorflow_graphdef',
    log: (_level, message) => console.log(message),
  });
  const signature = signatures.serving_default as Signature;
  const [alias] = Object.keys(signature.inputs);
  const outputs = Object.keys(signature.outputs);
  const run = async (data: Float32Array, shape: number[]) => {
    const result = await servable.run(
      'serving_default',
      { [alias as string]: new HostTensor('float32', shape, data) },
      outputs,
    );
    if (!result[outputs[0] as string]) throw new Error('no output');
  };
  const n = shape1.reduce((a, b) => a * b, 1);
  await run(randomInput(n, 1), shape1);
  const t3 = performance.now();
  const chunked = process.env.FLOWSERVE_BENCH_CHUNKED_RUNS !== 'false';
  const decisions = chunked ? await servable.calibrateChunkedRuns() : [];
  const t4 = performance.now();
  // The parts of the import, timed apart once more (findModelSource does them together).
  const r0 = performance.now();
  const imported = await readTfjsGraphModel(file);
  const r1 = performance.now();
  await convertImportedModel(imported);
  const r2 = performance.now();
  const parts = {
    'read model.json + weights': r1 - r0,
    'import + lower to ONNX': r2 - r1,
    'import total (findModelSource: read, import, lower, write)': t1 - t0,
    'sessions (one per worker)': t2 - t1,
    'first run': t3 - t2,
    'chunked-runs calibration': t4 - t3,
  };
  return {
    loadMs: t4 - t0,
    parts,
    decisions,
    run,
    /** `n` requests in flight at once, one per worker: what the server does under concurrent clients. */
    runConcurrent: (data: Float32Array, shape: number[], k: number) =>
      Promise.all(Array.from({ length: k }, () => run(data, shape))),
    release: async () => {
      await servable.unload();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function tfjs(backend: string, file: string, input: string, outputs: string[], shape1: number[]) {
  await tf.setBackend(backend);
  await tf.ready();
  const t0 = performance.now();
  const model = await loadTfjs(file);
  const run = async (data: Float32Array, shape: number[]) => {
    const result = tf.tidy(() => model.execute({ [input]: tf.tensor(data, shape) }, outputs));
    const tensors = Array.isArray(result) ? result : [result];
    for (const t of tensors) await t.data();
    tf.dispose(tensors);
  };
  await run(
    randomInput(
      shape1.reduce((a, b) => a * b, 1),
      1,
    ),
    shape1,
  );
  return { loadMs: performance.now() - t0, run, release: async () => model.dispose() } as Contender;
}

const pool = new WorkerPool();
const workers = pool.size;
const rows: BenchRow[] = [];
const raw: Record<string, unknown> = { loadavgBefore: loadavg() };
console.log(`load average before: ${load()} (${availableParallelism()} CPUs); flowserve: ${workers} workers`);
await tf.setBackend('wasm');
await tf.ready();
const wasmSetup = {
  binary: tfjsWasmBinary(),
  simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
  multithread: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
};
raw.tfjsWasm = wasmSetup;
raw.flowserveIntraOpThreads = pool.intraOpThreads;
console.log(
  `tfjs-wasm loads ${wasmSetup.binary} (SIMD ${wasmSetup.simd}, WASM_HAS_MULTITHREAD_SUPPORT ${wasmSetup.multithread}): ` +
    `one thread; flowserve: ${pool.intraOpThreads} intra-op thread(s) per request`,
);
for (const { model, batches } of CASES) {
  const file = join(MODELS, `${model}.json`);
  const sig = (await readTfjsGraphModel(file)).signatures.serving_default;
  const [input] = Object.values(sig?.inputs ?? {});
  if (!sig || !input?.shape) throw new Error(`${model}: no input`);
  const outputs = Object.values(sig.outputs).map((o) => o.name);
  const shapeAt = (batch: number) => (input.shape as (number | null)[]).map((d) => d ?? batch);
  const ours = await flowserve(pool, file, model, shapeAt(1));
  const peers: Record<string, Contender> = {};
  const perSecond: Record<string, Record<number, number>> = {
    flowserve: {},
    'flowserve, all workers busy': {},
    'tfjs-wasm': {},
    'tfjs-cpu': {},
  };
  const loadDuring: Record<number, string> = {};
  const meters = { flowserve: new CpuMeter(), 'tfjs-wasm': new CpuMeter() };
  const oursRun = meters.flowserve.wrap(ours.run);
  const cpuPerBatch: Record<number, { flowserve: number; 'tfjs-wasm': number }> = {};
  for (const backend of ['wasm', 'cpu']) {
    const peer = await tfjs(backend, file, input.name, outputs, shapeAt(1));
    peers[`tfjs-${backend}`] = peer;
    for (const batch of batches) {
      const shape = shapeAt(batch);
      const data = randomInput(
        shape.reduce((a, b) => a * b, 1),
        batch,
      );
      const rate = (ms: number, examples = batch) => (examples * 1000) / ms;
      if (backend === 'wasm') {
        const peerRun = meters['tfjs-wasm'].wrap(peer.run);
        const batchMeters = { flowserve: new CpuMeter(), 'tfjs-wasm': new CpuMeter() };
        const oursOnce = batchMeters.flowserve.wrap(oursRun);
        const peerOnce = batchMeters['tfjs-wasm'].wrap(peerRun);
        const [oursMs, peerMs] = await compareTimes(
          () => oursOnce(data, shape),
          () => peerOnce(data, shape),
          TIMING,
        );
        cpuPerBatch[batch] = {
          flowserve: batchMeters.flowserve.cpuMsPerRun,
          'tfjs-wasm': batchMeters['tfjs-wasm'].cpuMsPerRun,
        };
        (perSecond.flowserve as Record<number, number>)[batch] = rate(oursMs);
        (perSecond['tfjs-wasm'] as Record<number, number>)[batch] = rate(peerMs);
        const busyMs = await timeIt(() => ours.runConcurrent(data, shape, workers), TIMING);
        (perSecond['flowserve, all workers busy'] as Record<number, number>)[batch] = rate(busyMs, batch * workers);
        loadDuring[batch] = load();
      } else {
        (perSecond['tfjs-cpu'] as Record<number, number>)[batch] = rate(
          await timeIt(() => peer.run(data, shape), { warmup: 1, iterations: 3, budgetMs: 2000 }),
        );
      }
    }
    await peer.release();
  }
  for (const batch of batches) {
    for (const [who, peer] of [
      ['flowserve', 'tfjs-wasm'],
      ['flowserve, all workers busy', 'tfjs-wasm'],
      ['flowserve', 'tfjs-cpu'],
    ] as const) {
      rows.push({
        name: `${model} batch ${batch}${who === 'flowserve' ? '' : ` (${workers} requests in flight)`} vs ${peer}`,
        unit: 'examples/s',
        flowserve: perSecond[who]?.[batch] as number,
        peer: perSecond[peer]?.[batch] as number,
        peerName: peer,
        higherIsBetter: true,
        ...(batch === 32 && peer === 'tfjs-wasm' && who === 'flowserve' ? { target: '≥ 3×' } : {}),
      });
    }
  }
  for (const peer of ['tfjs-wasm', 'tfjs-cpu']) {
    rows.push({
      name: `${model} load + first run vs ${peer}`,
      unit: 'ms',
      flowserve: ours.loadMs,
      peer: (peers[peer] as Contender).loadMs,
      peerName: `${peer} loadGraphModel`,
      higherIsBetter: false,
    });
  }
  const cores = Object.fromEntries(Object.entries(meters).map(([k, m]) => [k, Number(m.cores.toFixed(2))]));
  console.log(
    `${model}: cores busy while timed (CPU time / wall time, one request at a time): flowserve ${cores.flowserve}, ` +
      `tfjs-wasm ${cores['tfjs-wasm']}`,
  );
  for (const [batch, c] of Object.entries(cpuPerBatch)) {
    console.log(
      `${model} batch ${batch}: CPU ms per batch flowserve ${c.flowserve.toFixed(1)}, tfjs-wasm ` +
        `${c['tfjs-wasm'].toFixed(1)} (CPU-time ratio ${(c['tfjs-wasm'] / c.flowserve).toFixed(2)}×)`,
    );
  }
  console.log(
    `${model}: load average while timing ${Object.entries(loadDuring)
      .map(([b, l]) => `batch ${b}: ${l}`)
      .join('; ')}; flowserve load parts (ms) ${Object.entries(ours.parts)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ')}`,
  );
  raw[model] = {
    examplesPerSecond: perSecond,
    loadMs: { flowserve: ours.loadMs, ...Object.fromEntries(Object.entries(peers).map(([k, v]) => [k, v.loadMs])) },
    flowserveLoadParts: ours.parts,
    loadavgWhileTiming: loadDuring,
    coresBusyWhileTimed: cores,
    cpuMsPerBatch: cpuPerBatch,
    chunkedRuns: ours.decisions,
  };
  await ours.release();
}
await pool.close();
raw.loadavgAfter = loadavg();
report('import', rows, {
  raw,
  note:
    `flowserve through the server's WorkerPool (${workers} workers, ${pool.intraOpThreads} intra-op thread(s) ` +
    `each); tfjs-wasm ${wasmSetup.binary} (${wasmSetup.multithread ? 'multi' : 'single'}-threaded); cores busy ` +
    `while timed in the raw figures; load average after ${load()}`,
});
