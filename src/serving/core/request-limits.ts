/**
 * Limits that every request meets before the server allocates memory for it. A request's size on the wire says
 * little about what it costs to decode: TensorProto repeats its last value to fill the shape, so a 40-byte
 * message can ask for gigabytes. So each input is admitted from its header alone (alias, dtype, shape, string
 * byte counts), against the signature and against a byte budget, and only then decoded.
 *
 * Rules, in the order they are checked:
 *  1. The aliases sent are exactly the signature's inputs (TF Serving's messages, request-validation.ts).
 *  2. Rank ≤ MAX_RANK (TensorShape's limit) and every dimension a non-negative safe integer.
 *  3. dtype, rank and every known dimension match the signature.
 *  4. With server-side batching on, dim 0 ≤ the largest batch the scheduler would take for one request.
 *  5. The decoded size of all inputs of the request together ≤ `maxInputBytes`. A string costs its bytes plus
 *     STRING_ELEMENT_COST: each string element is decoded, copied to the worker and back and encoded one by one
 *     (measured: 1,000,000 empty strings held the event loop for 350 ms), so strings are priced by count too —
 *     at the default limit, at most 131,072 strings per request.
 * A request that breaks one is answered INVALID_ARGUMENT naming the input, what was sent and the limit's flag.
 */
import { InvalidArgument } from '../../errors.js';
import { dtypeInfo, tfTypeName, type DType } from '../../graph/dtype.js';
import type { BatchingParameters } from '../config/batching-parameters.js';
import { checkInputNames, checkTensorHeader, formatShape } from './request-validation.js';
import type { Signature } from './types.js';

export interface RequestLimits {
  /** Largest request on the wire: gRPC message, REST body (after gunzip). --max_request_bytes. */
  maxRequestBytes: number;
  /** Largest decoded size of one request's inputs, all together. --max_input_bytes. */
  maxInputBytes: number;
  /**
   * Most tf.Examples in one Classify/Regress/MultiInference request (--max_examples_per_request). Decoding an
   * example costs far more than its bytes (38 MB of one-feature examples took 11 s to decode generically), so
   * they are counted on the wire first. With batching, max_batch_size bounds it too.
   */
  maxExamples: number;
  /**
   * Largest reply the server builds for a Predict: gRPC message or REST JSON body (--max_response_bytes), and for an
   * Open Inference Protocol REST infer. A small request can ask for a large reply (a TensorProto's repeated last
   * value fills its shape; JSON escapes a control byte as six characters), so the reply's size is bounded from the
   * outputs before it is encoded, and a large REST reply is counted exactly as it is written.
   */
  maxResponseBytes: number;
}

export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  // 32 MiB: on the 2-core reference machine, grpc-js assembling a 48 MiB message plus the garbage collection that
  // its buffers set off held the event loop for 60–80 ms in one turn; 16–32 MiB stay under the 50 ms bound.
  maxRequestBytes: 32 * 1024 * 1024,
  maxInputBytes: 128 * 1024 * 1024,
  maxExamples: 10_000,
  // Twice the inputs' budget: an identity model's reply of the largest admitted input still fits.
  maxResponseBytes: 256 * 1024 * 1024,
};

/** gRPC's largest message (INT32_MAX bytes): TF Serving's and Triton's limit both ways. */
export const MAX_GRPC_MESSAGE_BYTES = 2147483647;

/** TensorFlow's TensorShape holds at most 254 dimensions. */
export const MAX_RANK = 254;

/** What one string element costs the byte budget beyond its bytes (rule 5: the per-element work). */
export const STRING_ELEMENT_COST = 1024;

/** What an adapter learns from an input's header before it allocates anything for it. */
export interface TensorHeader {
  dtype: DType;
  shape: readonly number[];
  /** For strings: the total bytes of all elements once the shape is filled (repeats counted). */
  stringBytes?: number;
}

/**
 * Element count of `shape`, or Infinity once it passes `cap` (so a shape like [2^40, 2^40] never overflows into
 * a wrong finite number).
 */
export function boundedElementCount(shape: readonly number[], cap: number): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > cap) return Infinity;
  }
  return n;
}

/** Checks a shape read off the wire: rank and each dimension. `what` names the tensor in errors. */
export function checkWireShape(shape: readonly number[], what: string): void {
  if (shape.length > MAX_RANK) {
    throw new InvalidArgument(`${what}: rank ${shape.length} exceeds the maximum rank ${MAX_RANK}`);
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new InvalidArgument(`${what}: dimension size ${String(d)} is not a known size`);
    }
  }
}

/**
 * One request's admission: built from the resolved signature and the limits, it admits each input from its header
 * and keeps the running byte total. Create one per request.
 */
export class InputAdmission {
  private admittedBytes = 0;

  constructor(
    readonly signature: Signature,
    readonly limits: RequestLimits,
    /** The largest dim 0 one request may carry (batching), or undefined for no batch limit. */
    readonly maxBatchSize?: number,
  ) {}

  /** Rule 1, on the aliases alone: call before decoding any input. */
  checkNames(aliases: readonly string[]): void {
    checkInputNames(this.signature, aliases);
  }

  /** Rules 2–5 for one input; throws InvalidArgument, else charges its bytes. Call before allocating it. */
  admit(alias: string, header: TensorHeader): void {
    const spec = this.signature.inputs[alias];
    if (!spec) {
      // checkNames reports unknown aliases with TF Serving's message; this only guards direct callers.
      throw new InvalidArgument(`input '${alias}' is not an input of the signature`);
    }
    const index = Object.keys(this.signature.inputs).indexOf(alias);
    checkWireShape(header.shape, `input '${alias}'`);
    checkTensorHeader(alias, index, spec, header.dtype, header.shape, this.signature.enforceShapes !== false);
    const rows = header.shape[0];
    if (this.maxBatchSize !== undefined && header.shape.length > 0 && (rows as number) > this.maxBatchSize) {
      // The batch scheduler's own message (TF Serving's), given before the input is decoded.
      throw new InvalidArgument(
        `Task size ${rows} is larger than maximum input batch size ${this.maxBatchSize} (input '${alias}')`,
      );
    }
    const bytes = this.decodedBytes(alias, header);
    this.admittedBytes += bytes;
    // Written as "not within" so that NaN is refused too: an unbounded element count times empty strings is
    // Infinity × 0 (found by npm run fuzz: [2^20, 2^20, 2^20] strings of "" reached allocation as UNKNOWN).
    if (!(this.admittedBytes <= this.limits.maxInputBytes)) {
      throw new InvalidArgument(
        `input '${alias}' (${tfTypeName(header.dtype)} ${formatShape(header.shape)}) would decode to ` +
          `${formatBytes(this.admittedBytes)} of request inputs, more than --max_input_bytes=${this.limits.maxInputBytes}`,
      );
    }
  }

  private decodedBytes(alias: string, header: TensorHeader): number {
    const cap = this.limits.maxInputBytes + 1;
    const n = boundedElementCount(header.shape, cap);
    if (header.dtype === 'string') {
      if (header.stringBytes === undefined) throw new TypeError(`string input '${alias}' admitted without its bytes`);
      return n * STRING_ELEMENT_COST + header.stringBytes;
    }
    return n * dtypeInfo(header.dtype).bytesPerElement;
  }
}

/**
 * The largest dim 0 the batch scheduler accepts from one request: max_batch_size, or with large-batch splitting
 * every queued batch filled by it. Undefined without batching.
 */
export function maxBatchPerRequest(batching: BatchingParameters | undefined): number | undefined {
  if (!batching) return undefined;
  if (!batching.enableLargeBatchSplitting) return batching.maxBatchSize;
  return batching.maxExecutionBatchSize * batching.maxEnqueuedBatches;
}

/** The most examples one request may carry: --max_examples_per_request, and the batch limit with batching. */
export function maxExamplesPerRequest(limits: RequestLimits, batching: BatchingParameters | undefined): number {
  return Math.min(limits.maxExamples, maxBatchPerRequest(batching) ?? Infinity);
}

/** Refuses an example count over the limit, before any example is decoded (counting stops past the limit). */
export function checkExampleCount(count: number, maxExamples: number): void {
  if (count > maxExamples) {
    throw new InvalidArgument(
      `request holds more than ${maxExamples} examples, the most allowed per request ` +
        `(--max_examples_per_request, or max_batch_size with batching)`,
    );
  }
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'an unbounded number of bytes';
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
