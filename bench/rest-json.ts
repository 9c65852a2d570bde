/**
 * npm run bench:rest-json — the REST Predict JSON codec, two parts in one run:
 *
 * 1. The bench:serve request: an MNIST Predict body (784 float32 pixels printed by JSON.stringify, 16–17 digits
 *    each) decoded into its tensor, and the softmax reply (1×10 float32) encoded, in CPU µs per body
 *    (process.cpuUsage; rounds alternated, median). Peers: JSON.parse of the body's text (what the bare fastify
 *    peer of bench:serve does with it) and JSON.stringify of the reply; with `--baseline OTHER/dist`, the same
 *    codec of another build as well.
 * 2. Large bodies of 1, 16 and 64 MB (rows of 1024 float32 features, printed as a client would: 6 decimals)
 *    turned into the input tensor two ways (skipped with --mnist-only):
 *  - flowserve: the JSON reader (src/serving/apis/rest/json-reader.ts) and the sliced fill (json-tensors.ts);
 *  - JSON.parse: the previous path — the body as one string, JSON.parse, then a walk into a Float32Array.
 *    Each measurement runs in a fresh child process, so its peak RSS (VmHWM − RSS before) is its own.
 *
 * node dist/bench/rest-json.js [--mnist-only] [--rounds 5] [--bodies 20000] [--baseline OTHER/dist]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostTensor } from '../src/graph/host-tensor.js';
import { readJson, type JsonObject } from '../src/serving/apis/rest/json-reader.js';
import { decodePredictBody, encodePredictResponse, jsonToTensor } from '../src/serving/apis/rest/json-tensors.js';
import { report, type BenchRow } from './report.js';

const FEATURES = 1024;
const SIZES_MB = [1, 16, 64];

function body(megabytes: number): Buffer {
  let s = 12345;
  const row = () =>
    `[${Array.from({ length: FEATURES }, () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return (s / 2 ** 31 - 1).toFixed(6);
    }).join(',')}]`;
  const rows = Array.from({ length: 16 }, row);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < megabytes * 1e6; i++) {
    const text = rows[i % rows.length] as string;
    parts.push(text);
    size += text.length + 1;
  }
  return Buffer.from(`{"instances": [${parts.join(',')}]}`);
}

function rssKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? NaN);
}

/** The previous path: a whole-body string, JSON.parse, and a recursive walk into the typed array. */
function jsonParsePath(bytes: Buffer): Float32Array {
  const value = (JSON.parse(bytes.toString('utf8')) as { instances: number[][] }).instances;
  const data = new Float32Array(value.length * (value[0]?.length ?? 0));
  let at = 0;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const item of v) walk(item);
    else data[at++] = v as number;
  };
  walk(value);
  return data;
}

async function readerPath(bytes: Buffer): Promise<Float32Array> {
  const value = (await readJson(bytes, { float32Values: true })) as JsonObject;
  return (await jsonToTensor(value.instances as JsonObject[string], 'float32', 'x')).data as Float32Array;
}

/** Child mode: one path on one size; prints {seconds, peakBytes, bytes}. */
async function measureOne(path: string, megabytes: number): Promise<void> {
  const bytes = body(megabytes);
  const check = path === 'reader' ? await readerPath(body(0.1)) : jsonParsePath(body(0.1)); // warm up
  if (check.length === 0) throw new Error('empty warm-up tensor');
  const before = rssKiB('VmRSS');
  try {
    // Resets VmHWM to the current RSS; without /proc the peak is reported as NaN.
    (await import('node:fs')).writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* no /proc */
  }
  const started = performance.now();
  const data = path === 'reader' ? await readerPath(bytes) : jsonParsePath(bytes);
  const seconds = (performance.now() - started) / 1000;
  const peakBytes = (rssKiB('VmHWM') - before) * 1024;
  process.stdout.write(JSON.stringify({ seconds, peakBytes, bytes: bytes.length, elements: data.length }));
}

interface Codec {
  readJson: typeof readJson;
  decodePredictBody: typeof decodePredictBody;
  encodePredictResponse: typeof encodePredictResponse;
}

/** Another build's codec (its dist/), for the A/B rows. */
async function loadCodec(dist: string): Promise<Codec> {
  const rest = join(resolve(dist), 'src', 'serving', 'apis', 'rest');
  const reader = (await import(join(rest, 'json-reader.js'))) as Pick<Codec, 'readJson'>;
  const tensors = (await import(join(rest, 'json-tensors.js'))) as Omit<Codec, 'readJson'>;
  return { ...reader, ...tensors };
}

/** CPU µs per call of `work` over `count` calls (process.cpuUsage: the work is single-threaded). */
async function cpuMicros(work: () => unknown, count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Part 1: the MNIST body of bench:serve and its reply, each side alternated over `rounds`. */
async function mnistRows(rounds: number, bodies: number, baselineDist: string | undefined): Promise<BenchRow[]> {
  const image = Array.from({ length: 784 }, () => Math.random());
  const bytes = Buffer.from(JSON.stringify({ signature_name: 'predict_images', instances: [image] }));
  const specs = { images: { name: 'images', dtype: 'float32' as const, shape: [-1, 784] } };
  const scores = Array.from({ length: 10 }, () => Math.fround(Math.random() / 10));
  const outputs = { scores: HostTensor.from('float32', scores, [1, 10]) };
  const codecs: [string, Codec][] = [['flowserve', { readJson, decodePredictBody, encodePredictResponse }]];
  if (baselineDist) codecs.push(['baseline', await loadCodec(baselineDist)]);
  const sides: Record<string, () => unknown> = {
    'JSON.parse': () => JSON.parse(bytes.toString('utf8')),
    'JSON.stringify': () => JSON.stringify({ predictions: [scores] }),
  };
  for (const [name, codec] of codecs) {
    sides[`${name} decode`] = async () =>
      codec.decodePredictBody(
        (await codec.readJson(bytes, { float32Values: true, maxValueBytes: 1 << 30 })) as JsonObject,
        specs,
      );
    sides[`${name} encode`] = () => codec.encodePredictResponse('row', outputs);
  }
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  for (const work of Object.values(sides)) await cpuMicros(work, Math.ceil(bodies / 10)); // warm up
  for (let round = 0; round < rounds; round++) {
    const order = Object.keys(sides);
    if (round % 2 === 1) order.reverse();
    for (const side of order) samples[side]?.push(await cpuMicros(sides[side] as () => unknown, bodies));
  }
  const micros = (side: string) => median(samples[side] as number[]);
  const row = (name: string, side: string, peer: string, target?: string): BenchRow => ({
    name,
    unit: 'CPU µs per body',
    flowserve: micros(side),
    peer: micros(peer),
    peerName: peer,
    higherIsBetter: false,
    ...(target ? { target } : {}),
  });
  const rows = [
    row(`MNIST Predict body (${bytes.length} B) → float32 tensor`, 'flowserve decode', 'JSON.parse', '>= 1'),
    row('softmax reply (1×10 float32) → JSON', 'flowserve encode', 'JSON.stringify'),
  ];
  if (baselineDist) {
    rows.push(row('MNIST body → tensor, this build vs baseline', 'flowserve decode', 'baseline decode', '>= 1'));
    rows.push(row('softmax reply → JSON, this build vs baseline', 'flowserve encode', 'baseline encode', '>= 1'));
  }
  return rows;
}

function parseArgs(argv: readonly string[]) {
  const options = { mnistOnly: false, rounds: 5, bodies: 20_000, baseline: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--mnist-only') options.mnistOnly = true;
    else if (flag === '--rounds') options.rounds = Number(argv[++i]);
    else if (flag === '--bodies') options.bodies = Number(argv[++i]);
    else if (flag === '--baseline') options.baseline = argv[++i];
    else throw new Error(`unknown option ${flag}: [--mnist-only] [--rounds N] [--bodies N] [--baseline DIST]`);
  }
  return options;
}

if (process.argv[2] === '--one') {
  await measureOne(process.argv[3] as string, Number(process.argv[4]));
} else {
  const options = parseArgs(process.argv.slice(2));
  const self = fileURLToPath(import.meta.url);
  const run = (path: string, mb: number) =>
    JSON.parse(execFileSync(process.execPath, [self, '--one', path, String(mb)], { encoding: 'utf8' })) as {
      seconds: number;
      peakBytes: number;
      bytes: number;
    };
  const rows: BenchRow[] = await mnistRows(options.rounds, options.bodies, options.baseline);
  const raw: Record<string, unknown> = {};
  for (const mb of options.mnistOnly ? [] : SIZES_MB) {
    const reader = run('reader', mb);
    const parse = run('json-parse', mb);
    raw[`${mb}MB`] = { reader, jsonParse: parse };
    const mbps = (r: { seconds: number; bytes: number }) => r.bytes / 1e6 / r.seconds;
    rows.push({
      name: `body → tensor, ${mb} MB`,
      unit: 'MB/s',
      flowserve: mbps(reader),
      peer: mbps(parse),
      peerName: 'JSON.parse',
      higherIsBetter: true,
    });
    rows.push({
      name: `peak RSS increase, ${mb} MB`,
      unit: '× body',
      flowserve: reader.peakBytes / reader.bytes,
      peer: parse.peakBytes / parse.bytes,
      peerName: 'JSON.parse',
      higherIsBetter: false,
      target: '≤ 4 + tensor/body',
    });
  }
  report('rest-json', rows, { raw });
}
