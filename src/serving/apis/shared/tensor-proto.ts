/**
 * HostTensor ⇄ tensorflow.TensorProto, with TensorFlow's decoding rules (tensor.cc FromProtoField): non-empty
 * `tensor_content` wins and must hold exactly n elements (little-endian); otherwise the typed `*_val` field is
 * read, zero values mean zero-filled, fewer than n repeat the last value, extras are ignored.
 */
import { InvalidArgument } from '../../../errors.js';
import {
  allocate,
  dtypeFromTf,
  dtypeInfo,
  isBigIntDType,
  tfDataTypeName,
  type DType,
  type StringData,
  type TensorData,
  type TypedArray,
} from '../../../graph/dtype.js';
import { HostTensor, shapeSize } from '../../../graph/host-tensor.js';
import {
  boundedElementCount,
  DEFAULT_REQUEST_LIMITS,
  formatBytes,
  MAX_RANK,
  STRING_ELEMENT_COST,
  type TensorHeader,
} from '../../core/request-limits.js';
import type { Int64, TensorProtoMsg, TensorShapeProtoMsg } from './proto-types.js';
import { isWireTensorProto, readTensorValues, wireStringBytes } from './tensor-wire.js';
import { typedFieldValues } from '../../../graph/tensor-proto-fields.js';

/** TensorFlow's DataType name of a code, as TF Serving's messages and JSON write it. */
export function tfDtypeName(code: number): string {
  return tfDataTypeName(code);
}

export function tfDtypeCode(dtype: DType): number {
  return dtypeInfo(dtype).tf;
}

/** `DT_FLOAT` for float32 etc., as TF Serving's JSON and error messages write dtypes. */
export function tfDtypeNameOf(dtype: DType): string {
  return tfDtypeName(tfDtypeCode(dtype));
}

export function shapeToProto(shape: readonly number[]): TensorShapeProtoMsg {
  return { dim: shape.map((size) => ({ size: String(size) })) };
}

function decodeShape(proto: TensorShapeProtoMsg | undefined, fail: (why: string) => Error): number[] {
  if (proto?.unknown_rank) throw fail('shape has unknown rank');
  const dims = proto?.dim ?? [];
  if (dims.length > MAX_RANK) throw fail(`rank ${dims.length} exceeds the maximum rank ${MAX_RANK}`);
  return dims.map((d) => {
    const size = Number(d.size ?? 0);
    if (!Number.isSafeInteger(size) || size < 0) throw fail(`dimension size ${String(d.size)} is not a known size`);
    return size;
  });
}

/** Checks one input's header before it is decoded (InputAdmission.admit bound to its alias). */
export type AdmitTensor = (header: TensorHeader) => void;

/** Without a signature (warmup files, clients): only the byte budget of DEFAULT_REQUEST_LIMITS. */
function admitBytesOnly(alias: string): AdmitTensor {
  return (header) => {
    const n = boundedElementCount(header.shape, DEFAULT_REQUEST_LIMITS.maxInputBytes);
    const bytes =
      header.dtype === 'string'
        ? n * STRING_ELEMENT_COST + (header.stringBytes ?? 0)
        : n * dtypeInfo(header.dtype).bytesPerElement;
    if (bytes > DEFAULT_REQUEST_LIMITS.maxInputBytes) {
      throw new InvalidArgument(
        `tensor parsing error: ${alias} (shape [${header.shape.join(',')}] would decode to ${formatBytes(bytes)}, ` +
          `more than ${formatBytes(DEFAULT_REQUEST_LIMITS.maxInputBytes)})`,
      );
    }
  };
}

/**
 * The bytes a numeric TensorProto decodes to, when its own bytes hold them all (`tensor_content`, or as many packed
 * values as elements); undefined otherwise, or when its header is not one decodeTensorProto would take. For storage
 * prepared before the decode (request-buffers.ts, takenInSlices): never more than the request already holds.
 */
export function decodedBytesHeld(proto: TensorProtoMsg, heldBytes: number): number | undefined {
  const dtype = dtypeFromTf(proto.dtype ?? 0);
  if (!dtype || dtype === 'string') return undefined;
  let shape: number[];
  try {
    shape = decodeShape(proto.tensor_shape, (why) => new InvalidArgument(why));
  } catch {
    return undefined;
  }
  const bytes = shapeSize(shape) * dtypeInfo(dtype).bytesPerElement;
  const content = proto.tensor_content;
  if (content && content.length > 0) return content.length === bytes ? bytes : undefined;
  return bytes > 0 && bytes <= heldBytes ? bytes : undefined;
}

/** Where a decoded tensor's elements are stored: `allocate`, or `allocateForRequest` for a request's inputs. */
export type TensorStorage = (dtype: DType, size: number) => TensorData;

/**
 * Decodes one request tensor; `alias` names it in errors ("tensor parsing error: <alias>", as TF Serving says).
 * `admit` sees the dtype, shape and string byte total first, so nothing is allocated for a tensor it refuses.
 * `storage`: where its elements go (default: a buffer of their own).
 */
export function decodeTensorProto(
  proto: TensorProtoMsg,
  alias: string,
  admit?: AdmitTensor,
  storage: TensorStorage = allocate,
): HostTensor {
  const fail = (why: string) => new InvalidArgument(`tensor parsing error: ${alias} (${why})`);
  const code = proto.dtype ?? 0;
  const dtype = dtypeFromTf(code);
  if (!dtype) throw fail(`dtype ${tfDtypeName(code)} is not supported`);
  const shape = decodeShape(proto.tensor_shape, fail);
  const check = admit ?? admitBytesOnly(alias);
  const content = proto.tensor_content;
  if (content && content.length > 0) {
    if (dtype === 'string') throw fail('tensor_content is not supported for DT_STRING');
    check({ dtype, shape });
    const n = shapeSize(shape);
    const expected = n * dtypeInfo(dtype).bytesPerElement;
    if (content.length !== expected) {
      throw fail(`tensor_content holds ${content.length} bytes, shape [${shape.join(',')}] needs ${expected}`);
    }
    const data = storage(dtype, n) as TypedArray;
    // Copy rather than view: the wire buffer is rarely aligned for the element type.
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(content);
    return new HostTensor(dtype, shape, data);
  }
  if (isWireTensorProto(proto)) {
    // Straight from the request bytes: the values are read only once the header is admitted.
    const n = boundedElementCount(shape, Number.MAX_SAFE_INTEGER);
    check({ dtype, shape, stringBytes: dtype === 'string' ? wireStringBytes(proto, n) : undefined });
    const data = storage(dtype, shapeSize(shape));
    readTensorValues(proto, dtype, data);
    return new HostTensor(dtype, shape, data);
  }
  const values = typedFieldValues<number | Int64 | boolean | Uint8Array>(proto, dtype);
  check({ dtype, shape, stringBytes: dtype === 'string' ? filledStringBytes(values, shape) : undefined });
  return new HostTensor(dtype, shape, fillFromValues(dtype, values, shapeSize(shape), storage));
}

/** Bytes of the string elements once the shape is filled: the values given, then the last one repeated. */
function filledStringBytes(values: ArrayLike<unknown>, shape: readonly number[]): number {
  const n = boundedElementCount(shape, Number.MAX_SAFE_INTEGER);
  const count = Math.min(values.length, n);
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += byteLengthOf(values[i]);
  if (count > 0 && count < n) bytes += (n - count) * byteLengthOf(values[count - 1]);
  return bytes;
}

function byteLengthOf(value: unknown): number {
  return typeof value === 'string' ? Buffer.byteLength(value) : (value as Uint8Array).byteLength;
}

function fillFromValues(
  dtype: DType,
  values: ArrayLike<number | Int64 | boolean | Uint8Array>,
  n: number,
  storage: TensorStorage,
): TensorData {
  const out = storage(dtype, n);
  const count = Math.min(values.length, n);
  const set = elementSetter(dtype, out);
  for (let i = 0; i < count; i++) set(i, values[i] as number | Int64 | boolean | Uint8Array);
  // TF repeats the last given value to fill the shape, so a single value broadcasts. The last value is converted
  // once: for strings every repeat is then the same JS string, not a fresh copy.
  if (count > 0 && count < n) {
    const last = out[count - 1] as number | bigint | Uint8Array;
    if (dtype === 'string') (out as StringData).fill(last as Uint8Array, count, n);
    else if (isBigIntDType(dtype)) (out as BigInt64Array).fill(last as bigint, count, n);
    else (out as Float32Array).fill(last as number, count, n);
  }
  return out;
}

function elementSetter(dtype: DType, out: TensorData): (i: number, v: number | Int64 | boolean | Uint8Array) => void {
  if (dtype === 'string') {
    // Bytes stay bytes: the element is the decoded field itself (protobufjs gives each its own view).
    const strings = out as StringData;
    return (i, v) => {
      if (!(v instanceof Uint8Array)) throw new InvalidArgument(`string_val element is not bytes`);
      strings[i] = v;
    };
  }
  if (isBigIntDType(dtype)) {
    const ints = out as BigInt64Array | BigUint64Array;
    const wrap = dtype === 'int64' ? BigInt.asIntN : BigInt.asUintN;
    return (i, v) => {
      ints[i] = wrap(64, BigInt(v as Int64));
    };
  }
  const numbers = out as Float32Array;
  return (i, v) => {
    numbers[i] = Number(v);
  };
}

export interface EncodeOptions {
  /** Numbers as raw `tensor_content` bytes instead of the typed `*_val` fields (TF's default). */
  tensorContent?: boolean;
}

/** Encodes a result tensor. TF Serving writes typed fields unless --enable_serialization_as_tensor_content. */
export function encodeTensorProto(tensor: HostTensor, options: EncodeOptions = {}): TensorProtoMsg {
  const proto: TensorProtoMsg = { dtype: tfDtypeCode(tensor.dtype), tensor_shape: shapeToProto(tensor.shape) };
  const data = tensor.data;
  if (tensor.dtype === 'string') {
    // The elements themselves: protobufjs writes Uint8Array bytes fields as they are.
    proto.string_val = [...(data as StringData)];
    return proto;
  }
  const typed = data as TypedArray;
  if (options.tensorContent) {
    proto.tensor_content = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
    return proto;
  }
  switch (tensor.dtype) {
    case 'float32':
      proto.float_val = Array.from(typed as Float32Array);
      break;
    case 'float64':
      proto.double_val = Array.from(typed as Float64Array);
      break;
    case 'int32':
    case 'uint8':
    case 'int8':
    case 'int16':
    case 'uint16':
      proto.int_val = Array.from(typed as Int32Array);
      break;
    case 'int64':
      proto.int64_val = Array.from(typed as BigInt64Array, (v) => v.toString());
      break;
    case 'bool':
      proto.bool_val = Array.from(typed as Uint8Array, (v) => v !== 0);
      break;
    case 'float16':
      proto.half_val = Array.from(typed as Uint16Array);
      break;
    case 'uint32':
      proto.uint32_val = Array.from(typed as Uint32Array);
      break;
    case 'uint64':
      proto.uint64_val = Array.from(typed as BigUint64Array, (v) => v.toString());
      break;
  }
  return proto;
}
