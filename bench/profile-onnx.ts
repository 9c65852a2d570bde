/**
 * Where an ONNX model's run time goes, per ONNX Runtime kernel: `node dist/bench/profile-onnx.js MODEL [options]`.
 * MODEL is an .onnx file (a served version, a partition written out by a test) or a TensorFlow model directory or
 * file flowserve imports (a TF.js graph model's .json, a SavedModel), converted exactly as the server converts it.
 *
 * It runs the model with ONNX Runtime's per-node profiling (`enableProfiling`) on seeded random inputs (symbolic
 * and unknown dims set to --batch), prints the time per op type and the costliest nodes (Conv with its GFLOP/s),
 * and writes the model ONNX Runtime actually runs after its graph optimizations (`optimizedModelFilePath`) beside
 * the profile, so what the optimizer fused or failed to fuse can be read. Options: --batch N (1), --runs N (20),
 * --threads N (intra-op threads, 1 by default so the figures mean CPU time even on a busy machine), --top N (15),
 * --out DIR (a temporary directory). docs/performance.md shows how the imported-models work used it.
 */
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { convertImportedModel } from '../src/import/convert.js';
import type { ImportedModel } from '../src/import/imported-model.js';
import { detectDirectoryFormat, MODEL_FORMATS } from '../src/import/model-formats.js';

interface Options {
  batch: number;
  runs: number;
  threads: number;
  top: number;
  out?: string;
}

function parseArgs(argv: string[]): { model: string; options: Options } {
  const options: Options = { batch: 1, runs: 20, threads: 1, top: 15 };
  let model: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--batch') options.batch = Number(value());
    else if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--threads') options.threads = Number(value());
    else if (arg === '--top') options.top = Number(value());
    else if (arg === '--out') options.out = value();
    else if (!arg.startsWith('--') && model === undefined) model = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!model) throw new Error('usage: profile-onnx MODEL [--batch N] [--runs N] [--threads N] [--top N] [--out DIR]');
  return { model, options };
}

/** An imported model's bytes, with its inputs' shapes from its signatures (the ONNX declares none). */
async function imported(model: ImportedModel): Promise<Loaded> {
  const converted = await convertImportedModel(model);
  const shapes: Record<string, number[]> = {};
  for (const sig of Object.values(converted.signatureFile.signatures)) {
    for (const spec of Object.values(sig.inputs)) shapes[spec.name] = [...spec.shape];
  }
  return { bytes: converted.model, shapes };
}

interface Loaded {
  bytes: Uint8Array;
  /** Input shapes, -1 for the batch (or any unknown dim); from the ONNX model itself when absent. */
  shapes: Record<string, number[]>;
}

/** The ONNX bytes of MODEL: the file itself, or the import of a TensorFlow model. */
async function load(model: string): Promise<Loaded> {
  if (model.endsWith('.onnx')) return { bytes: await readFile(model), shapes: {} };
  if ((await stat(model)).isDirectory()) {
    const format = await detectDirectoryFormat(model);
    if (!format) throw new Error(`${model}: no model flowserve can import`);
    return imported(await format.read(model, {}));
  }
  // A TF.js graph model under another name than model.json (the human package's emotion.json) is one too.
  const format =
    MODEL_FORMATS.find((f) => f.matchesFile(basename(model))) ??
    (model.endsWith('.json') ? MODEL_FORMATS.find((f) => f.format === 'tfjs_graph_model') : undefined);
  if (!format) throw new Error(`${model}: not an .onnx file or a model flowserve imports`);
  return imported(await format.read(model, {}));
}

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

interface NodeEvent {
  cat: string;
  name: string;
  dur: number;
  args: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

/** Conv FLOPs of one profiled node: 2 · output elements · weights per output channel. */
function convFlops(e: NodeEvent): number {
  const w = Object.values(e.args.input_type_shape?.[1] ?? {})[0];
  const y = Object.values(e.args.output_type_shape?.[0] ?? {})[0];
  if (!w || !y || !w[0]) return 0;
  return (2 * prod(y) * prod(w)) / w[0];
}

const { model, options } = parseArgs(process.argv.slice(2));
const out = options.out ?? (await mkdtemp(join(tmpdir(), 'flowserve-profile-')));
await mkdir(out, { recursive: true });
const { bytes, shapes } = await load(model);
await writeFile(join(out, 'model.onnx'), bytes);
const optimized = join(out, 'model.optimized.onnx');
const session = await ort.InferenceSession.create(bytes, {
  intraOpNumThreads: options.threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  optimizedModelFilePath: optimized,
  enableProfiling: true,
  profileFilePrefix: join(out, 'profile'),
});
const feeds: Record<string, ort.Tensor> = {};
session.inputMetadata.forEach((m, i) => {
  if (!m.isTensor) throw new Error(`input '${m.name}' is not a tensor`);
  const dims = (shapes[m.name] ?? m.shape).map((d) => (typeof d === 'number' && d >= 0 ? d : options.batch));
  // A training step also reads integer variables (global_step): zeros serve.
  if (m.type === 'int64') feeds[m.name] = new ort.Tensor('int64', new BigInt64Array(prod(dims)), dims);
  else if (m.type === 'float32') feeds[m.name] = new ort.Tensor('float32', seeded(prod(dims), i + 1), dims);
  else throw new Error(`input '${m.name}' is ${m.type}; give a model with float32 (or int64) inputs`);
});
await session.run(feeds);
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
for (let i = 0; i < options.runs; i++) await session.run(feeds);
const wallMs = (performance.now() - wall0) / options.runs;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000 / options.runs;
session.endProfiling();
await session.release();

// The newest profile: --out may hold those of earlier runs.
const profiles = (await readdir(out)).filter((f) => f.startsWith('profile') && f.endsWith('.json'));
const profile = (await Promise.all(profiles.map(async (f) => [f, (await stat(join(out, f))).mtimeMs] as const)))
  .sort((a, b) => b[1] - a[1])
  .map(([f]) => f)[0];
const events = JSON.parse(await readFile(join(out, profile as string), 'utf8')) as NodeEvent[];
const runs = events.filter((e) => e.name === 'model_run').length;
const byType = new Map<string, number>();
const byNode = new Map<string, { op: string; us: number; flops: number; shapes: string }>();
let total = 0;
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const op = e.args.op_name ?? '?';
  total += e.dur;
  byType.set(op, (byType.get(op) ?? 0) + e.dur);
  const key = e.name.replace(/_kernel_time$/, '');
  const node = byNode.get(key) ?? {
    op,
    us: 0,
    flops: 0,
    shapes: JSON.stringify((e.args.input_type_shape ?? []).map((s) => Object.values(s)[0])),
  };
  node.us += e.dur;
  if (op === 'Conv') node.flops += convFlops(e);
  byNode.set(key, node);
}
const optimizedGraph = onnxProto.onnx.ModelProto.decode(await readFile(optimized)).graph;
const nodeCounts = new Map<string, number>();
for (const n of optimizedGraph?.node ?? []) nodeCounts.set(n.opType ?? '?', (nodeCounts.get(n.opType ?? '?') ?? 0) + 1);

console.log(`${model}: batch ${options.batch}, ${options.threads} intra-op thread(s), ${options.runs} runs`);
console.log(
  `per run: wall ${wallMs.toFixed(2)} ms, process CPU ${cpuMs.toFixed(2)} ms (profiled; profiling adds time)`,
);
console.log(`kernels per run: ${(total / runs / 1000).toFixed(2)} ms`);
console.log(`\nop type              ms/run   share   nodes after optimization`);
for (const [op, us] of [...byType].sort((a, b) => b[1] - a[1])) {
  console.log(
    `${op.padEnd(18)} ${(us / runs / 1000).toFixed(3).padStart(8)}  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${nodeCounts.get(op) ?? ''}`,
  );
}
console.log(`\ncostliest nodes (Conv with GFLOP/s)`);
for (const [name, n] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, options.top)) {
  const gflops = n.flops ? `${(n.flops / n.us / 1000).toFixed(1)} GFLOP/s` : '';
  console.log(
    `${name.slice(-44).padEnd(44)} ${n.op.padEnd(14)} ${(n.us / runs / 1000).toFixed(3).padStart(8)} ms  ${gflops.padEnd(14)} ${n.shapes.slice(0, 60)}`,
  );
}
console.log(`\nwrote ${join(out, 'model.onnx')}, ${optimized} and ${join(out, profile as string)}`);
