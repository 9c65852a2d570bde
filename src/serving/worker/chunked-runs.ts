/**
 * Chunked runs, in the inference worker: a batch run as several smaller ONNX Runtime runs whose outputs are joined
 * along dim 0. A convolutional model at batch 32 can cost more per example than at batch 8, because its activations
 * no longer fit in the cache (docs/performance.md, "Chunked runs"); whether a model's batches run this way is decided
 * per signature when a version loads, from `calibrateChunks` (src/serving/core/chunked-runs.ts), never assumed.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { isDType, type TypedArray } from '../../graph/dtype.js';
import { isPackedStrings, type ChunkCalibrationPlan, type ChunkMeasurement, type WireTensor } from './protocol.js';
import { ortTensorOfWire, wireTensorOfOrt } from './ort-wire.js';

/**
 * Chunked outputs equal the whole run's when every element differs by at most this, relative to the largest
 * magnitude in that output (at least 1). ONNX Runtime computes each row the same way whatever the batch, up to the
 * order of a few float additions; a model whose rows interact (a reduction over the batch, batch statistics) is
 * off by far more.
 */
export const CHUNK_TOLERANCE = 1e-5;
/** Timed rounds run at least this many times, and at most MAX_ROUNDS, whatever the budget. */
const MIN_ROUNDS = 2;
const MAX_ROUNDS = 9;

/** `rows` split into the fewest chunks of at most `chunkRows` rows, as even as possible (20 by 8: 7, 7, 6). */
export function chunkSizes(rows: number, chunkRows: number): number[] {
  const count = Math.ceil(rows / chunkRows);
  const base = Math.floor(rows / count);
  const extra = rows % count;
  return Array.from({ length: count }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Rows `start .. start + rows` of a tensor batched along dim 0: a view, nothing copied. */
function sliceRows(t: WireTensor, start: number, rows: number): WireTensor {
  const data = t.data as TypedArray;
  const perRow = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    dtype: t.dtype,
    shape: [rows, ...t.shape.slice(1)],
    data: data.subarray(start * perRow, (start + rows) * perRow),
  };
}

/** The chunks' outputs joined along dim 0, or undefined when a chunk's output is not batched by the chunk's rows. */
function joinRows(parts: WireTensor[], sizes: readonly number[]): WireTensor | undefined {
  const first = parts[0] as WireTensor;
  const rest = first.shape.slice(1);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as WireTensor;
    if (isPackedStrings(p.data) || p.dtype !== first.dtype || p.shape[0] !== sizes[i]) return undefined;
    if (p.shape.length !== first.shape.length || p.shape.some((d, k) => k > 0 && d !== first.shape[k]))
      return undefined;
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  const Ctor = (first.data as TypedArray).constructor as new (n: number) => TypedArray;
  const perRow = rest.reduce((a, b) => a * b, 1);
  const data = new Ctor(total * perRow);
  let at = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, at);
    at += (p.data as TypedArray).length;
  }
  return { dtype: first.dtype, shape: [total, ...rest], data };
}

export function ortFeedsOfWire(feeds: Record<string, WireTensor>): Record<string, ort.Tensor> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = ortTensorOfWire(t);
  return ortFeeds;
}

export function wireOutputsOfOrt(results: ort.InferenceSession.ReturnType): Record<string, WireTensor> {
  const outputs: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(results)) {
    if (!isDType(t.type)) throw new Error(`output '${name}' has type ${t.type}, which flowserve cannot return`);
    outputs[name] = wireTensorOfOrt(t, t.type);
  }
  return outputs;
}

/** Rows shared by every feed along dim 0, or undefined when they do not share one (or hold strings). */
function sharedRows(feeds: Record<string, WireTensor>): number | undefined {
  let rows: number | undefined;
  for (const t of Object.values(feeds)) {
    if (t.shape.length === 0 || isPackedStrings(t.data)) return undefined;
    if (rows === undefined) rows = t.shape[0];
    else if (t.shape[0] !== rows) return undefined;
  }
  return rows;
}

async function runWhole(
  session: ort.InferenceSession,
  feeds: Record<string, WireTensor>,
  fetches: string[],
): Promise<Record<string, WireTensor>> {
  return wireOutputsOfOrt(await session.run(ortFeedsOfWire(feeds), fetches));
}

/**
 * Runs `feeds` in chunks of at most `chunkRows` rows and joins the outputs; undefined when the batch cannot be
 * chunked after all (feeds not sharing dim 0, strings, or an output that is not batched like its chunk), so that the
 * caller runs it whole.
 */
export async function runChunked(
  session: ort.InferenceSession,
  feeds: Record<string, WireTensor>,
  fetches: string[],
  chunkRows: number,
): Promise<{ outputs: Record<string, WireTensor>; chunks: number } | undefined> {
  const rows = sharedRows(feeds);
  if (rows === undefined || rows <= chunkRows) return undefined;
  const sizes = chunkSizes(rows, chunkRows);
  const parts: Record<string, WireTensor>[] = [];
  let start = 0;
  for (const size of sizes) {
    const chunk: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(feeds)) chunk[name] = sliceRows(t, start, size);
    parts.push(await runWhole(session, chunk, fetches));
    start += size;
  }
  const outputs: Record<string, WireTensor> = {};
  for (const name of Object.keys(parts[0] as Record<string, WireTensor>)) {
    const joined = joinRows(
      parts.map((p) => p[name] as WireTensor),
      sizes,
    );
    if (!joined) return undefined;
    outputs[name] = joined;
  }
  return { outputs, chunks: sizes.length };
}

/** Largest |a − b| over `b`'s largest magnitude (at least 1); Infinity when the shapes or dtypes differ. */
function relativeDiff(a: WireTensor, b: WireTensor): number {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    return Infinity;
  }
  if (isPackedStrings(a.data) || isPackedStrings(b.data)) return Infinity;
  const x = a.data as ArrayLike<number | bigint>;
  const y = b.data as ArrayLike<number | bigint>;
  let scale = 1;
  for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(Number(y[i])));
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = Number(x[i]);
    const yi = Number(y[i]);
    if (Number.isNaN(xi) && Number.isNaN(yi)) continue;
    const d = Math.abs(xi - yi);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst / scale;
}

/**
 * This thread's time on a CPU in ns, or undefined where it cannot be read (not Linux): elapsed time less the time
 * the thread waited on a run queue (field 2 of /proc/thread-self/schedstat), which the kernel adds up each time the
 * thread is scheduled back in, so it is current whenever the thread reads it. (Field 1, the CPU time itself, only
 * moves at scheduler ticks, 4 ms apart: too coarse for a run.) With one intra-op thread ONNX Runtime computes on the
 * calling thread without blocking, so this is a run's CPU time, not stretched by other processes taking the core.
 */
function onCpuNs(): number | undefined {
  try {
    const runQueueWaitNs = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]);
    return Number.isFinite(runQueueWaitNs) ? Number(process.hrtime.bigint()) - runQueueWaitNs : undefined;
  } catch {
    return undefined;
  }
}

function clockOf(plan: ChunkCalibrationPlan): { clock: 'thread-cpu' | 'wall'; now: () => number } {
  if (plan.clock === 'thread-cpu' && onCpuNs() !== undefined) {
    return { clock: 'thread-cpu', now: () => onCpuNs() as number };
  }
  return { clock: 'wall', now: () => Number(process.hrtime.bigint()) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Whether the first whole run of the calibration batch, `firstRunNs` on the calibration clock, is too slow to go
 * on: on the thread-CPU clock that is the run's own cost. In wall time a run on a loaded machine also waits for a
 * core, and a model cheap enough to calibrate would then run whole for the life of its version because other
 * processes were busy while it loaded (iris, ~60 ms of CPU per batch of 32, took over 250 ms of wall time at load
 * 12: docs/performance.md, "Imported models").
 */
export function tooSlowToCalibrate(firstRunNs: number, maxRunMs: number): boolean {
  return firstRunNs / 1e6 > maxRunMs;
}

/**
 * Times one batch run whole against the same batch run in chunks of each of `plan.chunkRows`, rounds alternated
 * (the order reversed every other round), medians kept. A chunk size whose outputs differ from the whole run's is
 * not timed. The first whole run doubles as warm-up and as the bound: slower than `plan.maxRunMs`, nothing more runs.
 */
export async function calibrateChunks(
  session: ort.InferenceSession,
  feeds: Record<string, WireTensor>,
  fetches: string[],
  plan: ChunkCalibrationPlan,
): Promise<ChunkMeasurement> {
  const { clock, now } = clockOf(plan);
  const batchRows = sharedRows(feeds);
  if (batchRows === undefined) throw new Error('calibration feeds must share dim 0 and hold no strings');
  const t0 = now();
  const whole = await runWhole(session, feeds, fetches);
  const firstNs = now() - t0;
  if (tooSlowToCalibrate(firstNs, plan.maxRunMs)) {
    return { batchRows, clock, wholeNs: firstNs, skipped: 'slow', rounds: 0, chunks: [] };
  }
  const chunks: ChunkMeasurement['chunks'] = [];
  for (const rows of plan.chunkRows.filter((r) => r < batchRows)) {
    const chunked = await runChunked(session, feeds, fetches, rows);
    let maxRelativeDiff = chunked ? 0 : Infinity;
    for (const [name, t] of Object.entries(whole)) {
      const c = chunked?.outputs[name];
      maxRelativeDiff = Math.max(maxRelativeDiff, c ? relativeDiff(c, t) : Infinity);
    }
    chunks.push({ rows, maxRelativeDiff, equal: maxRelativeDiff <= CHUNK_TOLERANCE });
  }
  const timed = chunks.filter((c) => c.equal);
  if (timed.length === 0) return { batchRows, clock, wholeNs: firstNs, rounds: 0, chunks };
  const contenders: (number | undefined)[] = [undefined, ...timed.map((c) => c.rows)];
  const samples = contenders.map(() => [] as number[]);
  const roundsStarted = performance.now();
  let rounds = 0;
  while (rounds < MAX_ROUNDS && (rounds < MIN_ROUNDS || performance.now() - roundsStarted < plan.budgetMs)) {
    const order = contenders.map((_, i) => i);
    if (rounds % 2) order.reverse();
    for (const i of order) {
      const rows = contenders[i];
      const start = now();
      if (rows === undefined) await runWhole(session, feeds, fetches);
      else await runChunked(session, feeds, fetches, rows);
      (samples[i] as number[]).push(now() - start);
    }
    rounds++;
  }
  timed.forEach((c, i) => (c.ns = median(samples[i + 1] as number[])));
  return { batchRows, clock, wholeNs: median(samples[0] as number[]), rounds, chunks };
}
