/**
 * Element types flowserve understands, and how each maps to ONNX, ONNX Runtime and JavaScript arrays.
 * This table is the single source for those mappings.
 */
import { utf8Bytes } from './utf8.js';

export type DType =
  | 'float32'
  | 'float64'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'bool'
  | 'string'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'uint32'
  | 'uint64';

export const DTYPES: readonly DType[] = [
  'float32',
  'float64',
  'int32',
  'int64',
  'uint8',
  'bool',
  'string',
  'float16',
  'int8',
  'int16',
  'uint16',
  'uint32',
  'uint64',
];

/**
 * Storage of the numeric types. float16 is kept as its IEEE 754 binary16 bit patterns in a Uint16Array, as ONNX
 * Runtime's JavaScript API takes it (Node 20 has no Float16Array).
 */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/**
 * The JavaScript storage of a host tensor: a typed array, or, for `string`, each element's bytes. TensorFlow's
 * DT_STRING and the Open Inference Protocol's BYTES elements are byte strings (a serialized proto, an image), so
 * they are kept as bytes, never decoded: text is only a reading of them (string-bytes.ts).
 */
export type StringData = Uint8Array[];
export type TensorData = TypedArray | StringData;

/** One shared empty element: string elements are never written in place, only replaced. */
export const EMPTY_BYTES = new Uint8Array(0);

interface DTypeInfo {
  /** ONNX TensorProto.DataType (onnx.proto). */
  onnx: number;
  /** TensorFlow's DataType enum (types.proto), used on the serving wire. */
  tf: number;
  bytesPerElement: number;
  isFloat: boolean;
  isInteger: boolean;
  /** TensorFlow's name for the type, as its runtime errors print it (`float`, `double`, …). */
  tfName: string;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { onnx: 1, tf: 1, bytesPerElement: 4, isFloat: true, isInteger: false, tfName: 'float' },
  float64: { onnx: 11, tf: 2, bytesPerElement: 8, isFloat: true, isInteger: false, tfName: 'double' },
  int32: { onnx: 6, tf: 3, bytesPerElement: 4, isFloat: false, isInteger: true, tfName: 'int32' },
  int64: { onnx: 7, tf: 9, bytesPerElement: 8, isFloat: false, isInteger: true, tfName: 'int64' },
  uint8: { onnx: 2, tf: 4, bytesPerElement: 1, isFloat: false, isInteger: true, tfName: 'uint8' },
  bool: { onnx: 9, tf: 10, bytesPerElement: 1, isFloat: false, isInteger: false, tfName: 'bool' },
  string: { onnx: 8, tf: 7, bytesPerElement: 0, isFloat: false, isInteger: false, tfName: 'string' },
  float16: { onnx: 10, tf: 19, bytesPerElement: 2, isFloat: true, isInteger: false, tfName: 'half' },
  int8: { onnx: 3, tf: 6, bytesPerElement: 1, isFloat: false, isInteger: true, tfName: 'int8' },
  int16: { onnx: 5, tf: 5, bytesPerElement: 2, isFloat: false, isInteger: true, tfName: 'int16' },
  uint16: { onnx: 4, tf: 17, bytesPerElement: 2, isFloat: false, isInteger: true, tfName: 'uint16' },
  uint32: { onnx: 12, tf: 22, bytesPerElement: 4, isFloat: false, isInteger: true, tfName: 'uint32' },
  uint64: { onnx: 13, tf: 23, bytesPerElement: 8, isFloat: false, isInteger: true, tfName: 'uint64' },
};

export function dtypeInfo(dtype: DType): DTypeInfo {
  const info = INFO[dtype];
  if (!info) throw new TypeError(`unknown dtype '${String(dtype)}'; expected one of ${DTYPES.join(', ')}`);
  return info;
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function dtypeFromOnnx(code: number): DType | undefined {
  return DTYPES.find((d) => INFO[d].onnx === code);
}

export function dtypeFromTf(code: number): DType | undefined {
  return DTYPES.find((d) => INFO[d].tf === code);
}

/** TensorFlow's name of a dtype (`float32` → `float`), as TensorFlow Serving's messages print it. */
export function tfTypeName(dtype: DType): string {
  return dtypeInfo(dtype).tfName;
}

/** ONNX Runtime's tensor type names (onnxruntime-common Tensor.Type). */
export function ortType(dtype: DType): string {
  return dtype === 'float64' ? 'float64' : dtype;
}

export function dtypeFromOrt(type: string): DType {
  if (isDType(type)) return type;
  throw new TypeError(`ONNX Runtime tensor type '${type}' has no flowserve dtype`);
}

/** The typed array that stores each non-string dtype (float16 as its bits). */
const TYPED_ARRAYS: Record<Exclude<DType, 'string'>, TypedArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  float16: Uint16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
};

interface TypedArrayConstructor {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
}

/** Allocates storage for `size` elements of `dtype`. */
export function allocate(dtype: DType, size: number): TensorData {
  if (dtype === 'string') return new Array<Uint8Array>(size).fill(EMPTY_BYTES);
  return new TYPED_ARRAYS[dtype](size);
}

/** `length` elements of `dtype` viewing `buffer` from `byteOffset` (aligned for the element type). */
export function typedArrayView(
  dtype: Exclude<DType, 'string'>,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): TypedArray {
  return new TYPED_ARRAYS[dtype](buffer, byteOffset, length);
}

/** Element types whose JavaScript values are bigints. */
export function isBigIntDType(dtype: DType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/**
 * Copies plain JavaScript values (numbers, bigints, booleans, strings, bytes) into storage of `dtype`. A JavaScript
 * string becomes a string element's UTF-8 bytes; a Uint8Array is taken as the element's bytes, unchanged.
 */
export function fromValues(
  dtype: DType,
  values: ArrayLike<number | bigint | boolean | string | Uint8Array>,
): TensorData {
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (dtype === 'string') (out as StringData)[i] = v instanceof Uint8Array ? v : utf8Bytes(String(v));
    else if (v instanceof Uint8Array) throw new TypeError(`a byte string is not a ${dtype} value`);
    else if (isBigIntDType(dtype))
      (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    else if (dtype === 'bool') (out as Uint8Array)[i] = v ? 1 : 0;
    else if (dtype === 'float16') (out as Uint16Array)[i] = float16Bits(Number(v));
    else (out as Float32Array)[i] = Number(v);
  }
  return out;
}

/** TensorFlow's DataType enum names (types.proto) by code, for messages: `DT_HALF`, not `19`. */
const TF_DATA_TYPE_NAMES: readonly string[] = [
  'DT_INVALID',
  'DT_FLOAT',
  'DT_DOUBLE',
  'DT_INT32',
  'DT_UINT8',
  'DT_INT16',
  'DT_INT8',
  'DT_STRING',
  'DT_COMPLEX64',
  'DT_INT64',
  'DT_BOOL',
  'DT_QINT8',
  'DT_QUINT8',
  'DT_QINT32',
  'DT_BFLOAT16',
  'DT_QINT16',
  'DT_QUINT16',
  'DT_UINT16',
  'DT_COMPLEX128',
  'DT_HALF',
  'DT_RESOURCE',
  'DT_VARIANT',
  'DT_UINT32',
  'DT_UINT64',
];

/**
 * `DT_FLOAT` for 1, `DT_FLOAT_REF` for 101 (reference types are the base type + 100), `DataType(n)` for any other
 * code: codes come from clients too, so nothing here recurses on them.
 */
export function tfDataTypeName(code: number | undefined): string {
  const c = code ?? 0;
  const base = TF_DATA_TYPE_NAMES[c > 100 ? c - 100 : c];
  if (base === undefined) return `DataType(${c})`;
  return c > 100 ? `${base}_REF` : base;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a number, rounded to nearest even (infinities and NaN kept). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** The number that IEEE 754 binary16 bits stand for. */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
