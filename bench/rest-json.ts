/**
 * npm run bench:rest-json — REST Predict bodies of 1, 16 and 64 MB (rows of 1024 float32 features, printed as a
 * client would: 6 decimals) turned into the input tensor two ways, in one run:
 *  - flowserve: the JSON reader (src/serving/apis/rest/json-reader.ts) and the sliced fill (json-tensors.ts);
 *  - JSON.parse: the previous path — the body as one string, JSON.parse, then a walk into a Float32Array.
 * Each measurement runs in a fresh child process, so its peak RSS (VmHWM − RSS before) is its own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readJson, type JsonObject } from '../src/serving/apis/rest/json-reader.js';
import { jsonToTensor } from '../src/serving/apis/rest/json-tensors.js';
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
  const value = (await readJson(bytes)) as JsonObject;
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

if (process.argv[2] === '--one') {
  await measureOne(process.argv[3] as string, Number(process.argv[4]));
} else {
  const self = fileURLToPath(import.meta.url);
  const run = (path: string, mb: number) =>
    JSON.parse(execFileSync(process.execPath, [self, '--one', path, String(mb)], { encoding: 'utf8' })) as {
      seconds: number;
      peakBytes: number;
      bytes: number;
    };
  const rows: BenchRow[] = [];
  const raw: Record<string, unknown> = {};
  for (const mb of SIZES_MB) {
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
