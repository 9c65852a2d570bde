/**
 * Chunked runs: whether a signature's large batches run as several smaller ONNX Runtime runs, decided per loaded
 * version from a measurement (docs/performance.md, "Chunked runs"). A convolutional model whose activations at
 * batch 32 no longer fit in the cache computes faster per example in chunks of 8; a dense model whose matrix
 * products want the whole batch does not, and a model whose rows interact (a reduction over the batch) must not.
 *
 * So nothing is assumed: when a version loads (after warm-up), one worker runs a batch of CALIBRATION_ROWS seeded
 * random rows whole and in chunks of each CHUNK_CANDIDATES size (worker/chunked-runs.ts), and a chunk size is used
 * only when its outputs equal the whole run's and it costs at least MIN_GAIN less per example.
 */
import { DTYPES, type DType } from '../../graph/dtype.js';
import { HostTensor } from '../../graph/host-tensor.js';
import type { ChunkCalibrationPlan, ChunkMeasurement } from '../worker/protocol.js';
import type { Signature } from './types.js';

/** Rows of the calibration batch: the batch size of issue 10's target, and a common max_batch_size. */
export const CALIBRATION_ROWS = 32;
export const CHUNK_CANDIDATES = [4, 8, 16];
/** Chunked runs must cost at least this fraction less per example than whole ones. */
export const MIN_GAIN = 0.1;
/** Timed rounds stop after this much time (at least two rounds). */
export const CALIBRATION_BUDGET_MS = 600;
/** Calibration feeds larger than this are not allocated (a model with huge rows is not calibrated). */
export const MAX_CALIBRATION_BYTES = 64 * 1024 * 1024;
/** A model whose first whole run of the calibration batch takes longer is not calibrated: its load stays fast. */
export const MAX_CALIBRATION_RUN_MS = 250;

/** What was decided for one signature; the servable's description lists it (describe, the dashboard). */
export interface ChunkedRunsDecision {
  signature: string;
  /** Batches of more rows than this run in chunks of at most this many; absent: every batch runs whole. */
  chunkRows?: number;
  /** Why batches run whole (absent when chunked). */
  reason?: string;
  /** What was measured, when it was: rows of the batch, its clock, and ms per example whole and chunked. */
  measured?: {
    batchRows: number;
    clock: 'thread-cpu' | 'wall';
    wholeMsPerExample: number;
    /** Chunk size → ms per example, for the sizes whose outputs equalled the whole run's. */
    chunkedMsPerExample: Record<number, number>;
    rounds: number;
  };
}

export function calibrationPlan(clock: ChunkCalibrationPlan['clock']): ChunkCalibrationPlan {
  return { chunkRows: CHUNK_CANDIDATES, budgetMs: CALIBRATION_BUDGET_MS, maxRunMs: MAX_CALIBRATION_RUN_MS, clock };
}

/**
 * Why `signature` cannot run in chunks at all, or undefined when it can: every input and output batched along dim 0
 * (what batching requires of inputs, and of outputs so that chunks join), no variables updated, and every graph
 * input fed by the signature (an unread input ONNX Runtime still wants is not batched).
 */
export function whyNotChunkable(signature: Signature, graphInputs: readonly string[]): string | undefined {
  if (signature.state?.length) return 'the signature updates variables';
  const batched = (specs: Signature['inputs']) =>
    Object.values(specs).length > 0 && Object.values(specs).every((s) => s.shape.length >= 1 && s.shape[0] === -1);
  if (!batched(signature.inputs) || !batched(signature.outputs)) {
    return 'not every input and output is batched along dim 0';
  }
  const fed = new Set(Object.values(signature.inputs).map((s) => s.name));
  if (graphInputs.some((name) => !fed.has(name))) return 'the model has inputs this signature does not feed';
  return undefined;
}

/** Seeded values: floats in [-1, 1), integers and booleans 0 or 1 (valid as ids, indices and flags alike). */
function fill(t: HostTensor, seed: number): void {
  let s = seed >>> 0;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const data = t.data;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) data[i] = next() < 0.5 ? 0n : 1n;
  } else if (ArrayBuffer.isView(data)) {
    const ints = data as Uint8Array;
    for (let i = 0; i < ints.length; i++) ints[i] = next() < 0.5 ? 0 : 1;
  }
}

/** Every dtype but strings and float16, which have no meaningful random value here. */
const CALIBRATED_DTYPES: readonly DType[] = DTYPES.filter((dtype) => dtype !== 'string' && dtype !== 'float16');

/**
 * A batch of `rows` seeded random rows for each of the signature's inputs, keyed by ONNX input name; a string why
 * not when an input's other dims are unknown or its dtype has no meaningful random value here.
 */
export function calibrationFeeds(signature: Signature, rows: number): Record<string, HostTensor> | string {
  const feeds: Record<string, HostTensor> = {};
  let seed = 1;
  let bytes = 0;
  for (const [alias, spec] of Object.entries(signature.inputs)) {
    if (!CALIBRATED_DTYPES.includes(spec.dtype)) return `input '${alias}' is ${spec.dtype}`;
    if (spec.shape.slice(1).some((d) => d < 0)) return `input '${alias}' has dims other than the batch unknown`;
    // Checked before allocating: 8 bytes is the widest element calibrated.
    bytes += rows * spec.shape.slice(1).reduce((a, b) => a * b, 1) * 8;
    if (bytes > MAX_CALIBRATION_BYTES) {
      return `a batch of ${rows} rows would take over ${MAX_CALIBRATION_BYTES / 2 ** 20} MiB`;
    }
    const t = HostTensor.zeros(spec.dtype, [rows, ...spec.shape.slice(1)]);
    fill(t, seed++);
    feeds[spec.name] = t;
  }
  return feeds;
}

const msPerExample = (ns: number, rows: number) => ns / 1e6 / rows;

/**
 * The decision from a measurement: the cheapest chunk size whose outputs equalled the whole run's, when it costs at
 * least `minGain` less per example than the whole batch.
 */
export function decideChunkedRuns(signature: string, m: ChunkMeasurement, minGain = MIN_GAIN): ChunkedRunsDecision {
  const chunkedMsPerExample: Record<number, number> = {};
  for (const c of m.chunks) if (c.ns !== undefined) chunkedMsPerExample[c.rows] = msPerExample(c.ns, m.batchRows);
  const measured = {
    batchRows: m.batchRows,
    clock: m.clock,
    wholeMsPerExample: msPerExample(m.wholeNs, m.batchRows),
    chunkedMsPerExample,
    rounds: m.rounds,
  };
  if (m.skipped === 'slow') {
    return {
      signature,
      reason: `a whole run of ${m.batchRows} rows took over ${MAX_CALIBRATION_RUN_MS} ms: not calibrated`,
      measured,
    };
  }
  const differing = m.chunks.filter((c) => !c.equal);
  if (differing.length === m.chunks.length) {
    return { signature, reason: "chunked outputs differ from the whole batch's (its rows interact)", measured };
  }
  let best: { rows: number; ns: number } | undefined;
  for (const c of m.chunks) {
    if (c.equal && c.ns !== undefined && (!best || c.ns < best.ns)) best = { rows: c.rows, ns: c.ns };
  }
  if (!best || best.ns > m.wholeNs * (1 - minGain)) {
    return { signature, reason: `chunks were not ≥ ${Math.round(minGain * 100)} % cheaper per example`, measured };
  }
  return { signature, chunkRows: best.rows, measured };
}

/** One log line for a decision. */
export function describeDecision(d: ChunkedRunsDecision): string {
  const m = d.measured;
  const ms = (v: number) => v.toFixed(v < 0.1 ? 4 : 2);
  if (d.chunkRows !== undefined && m) {
    return (
      `signature '${d.signature}': batches of ≥ ${d.chunkRows + 1} run in chunks of ${d.chunkRows}: ` +
      `${ms(m.chunkedMsPerExample[d.chunkRows] as number)} vs ${ms(m.wholeMsPerExample)} ms per example ` +
      `(batch of ${m.batchRows}, ${m.clock === 'thread-cpu' ? 'thread CPU time' : 'wall time'})`
    );
  }
  const sizes = m
    ? Object.entries(m.chunkedMsPerExample)
        .map(([rows, v]) => `chunks of ${rows} ${ms(v)}`)
        .join(', ')
    : '';
  return (
    `signature '${d.signature}': batches run whole (${d.reason ?? 'not calibrated'})` +
    (m && sizes ? `: whole ${ms(m.wholeMsPerExample)}, ${sizes} ms per example` : '')
  );
}
