import { allocate, dtypeInfo, fromValues, type DType, type StringData, type TensorData } from './dtype.js';
import { bytesForMessage, utf8Text } from './utf8.js';

/**
 * Nested values. A string tensor's elements come out as their bytes (Uint8Array); going in, a JavaScript string
 * stands for its UTF-8 bytes.
 */
export type NestedArray = number | bigint | boolean | string | Uint8Array | NestedArray[];

type Element = number | bigint | boolean | string | Uint8Array;

/**
 * A concrete tensor in host memory: what `Session.run` returns and what feeds accept.
 * Plain data (dtype, shape, flat storage) so it can cross a worker boundary as a transferred buffer.
 */
export class HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;

  constructor(dtype: DType, shape: readonly number[], data: TensorData) {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new RangeError(
        `tensor of shape [${shape.join(', ')}] needs ${size} elements of ${dtype}, got ${data.length}`,
      );
    }
    this.dtype = dtype;
    this.shape = [...shape];
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  static zeros(dtype: DType, shape: readonly number[]): HostTensor {
    return new HostTensor(dtype, shape, allocate(dtype, shapeSize(shape)));
  }

  /** Builds a tensor from a nested array (its shape is read off the nesting) or flat values plus a shape. */
  static from(dtype: DType, values: NestedArray, shape?: readonly number[]): HostTensor {
    const flat: Element[] = [];
    const inferred = flattenNested(values, flat);
    const finalShape = shape ?? inferred;
    return new HostTensor(dtype, finalShape, fromValues(dtype, flat));
  }

  /** Element i as a JavaScript number (bigint for int64, its bytes for string). */
  get(i: number): number | bigint | Uint8Array {
    return (this.data as ArrayLike<number | bigint | Uint8Array>)[i] as number | bigint | Uint8Array;
  }

  /** Nested JavaScript arrays, like `ndarray.tolist()`; bools become booleans, int64 stays bigint, strings bytes. */
  toArray(): NestedArray {
    const values = Array.from(this.data as ArrayLike<number | bigint | Uint8Array>, (v) =>
      this.dtype === 'bool' ? v !== 0 : v,
    ) as NestedArray[];
    if (this.shape.length === 0) return values[0] as NestedArray;
    return nest(values, this.shape, 0, 0).value;
  }

  /** Values as plain numbers (int64 converted with Number), for tests and printing. */
  toNumbers(): number[] {
    if (this.dtype === 'string') throw new TypeError('toNumbers: a string tensor holds bytes, not numbers');
    return Array.from(this.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  byteLength(): number {
    return this.dtype === 'string'
      ? (this.data as StringData).reduce((n, s) => n + s.byteLength, 0)
      : this.size * dtypeInfo(this.dtype).bytesPerElement;
  }

  toString(): string {
    return formatNested(this.toArray());
  }
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function flattenNested(values: NestedArray, out: Element[]): number[] {
  if (!Array.isArray(values)) {
    out.push(values);
    return [];
  }
  let inner: number[] | undefined;
  for (const v of values) {
    const s = flattenNested(v, out);
    if (inner && s.join(',') !== inner.join(',')) {
      throw new RangeError(`ragged nested array: found rows of shape [${inner.join(', ')}] and [${s.join(', ')}]`);
    }
    inner = s;
  }
  return [values.length, ...(inner ?? [])];
}

function nest(
  flat: NestedArray[],
  shape: readonly number[],
  axis: number,
  offset: number,
): { value: NestedArray; next: number } {
  if (axis === shape.length) return { value: flat[offset] as NestedArray, next: offset + 1 };
  const out: NestedArray[] = [];
  let next = offset;
  for (let i = 0; i < (shape[axis] ?? 0); i++) {
    const r = nest(flat, shape, axis + 1, next);
    out.push(r.value);
    next = r.next;
  }
  return { value: out, next };
}

function formatNested(v: NestedArray): string {
  if (Array.isArray(v)) return `[${v.map(formatNested).join(', ')}]`;
  // String elements print as their text when it is UTF-8, else as b'\xNN…' (as TensorFlow prints bytes).
  if (v instanceof Uint8Array) {
    const text = utf8Text(v);
    return text === undefined ? bytesForMessage(v) : JSON.stringify(text);
  }
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
