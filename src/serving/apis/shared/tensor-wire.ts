/**
 * TensorProto straight from and to protobuf wire bytes (tensor.proto), for the large tensors of Predict. A generic
 * decoder turns a 64 MiB `float_val` into 16 million boxed numbers and a `string_val` of empty strings into one
 * Buffer object per 2 wire bytes, before anything can look at the shape; encoding is as slow the other way. Here:
 * - reading keeps the message bytes and records only dtype, shape and `tensor_content` (a view); the value fields
 *   are read after the request was admitted, straight into the tensor's typed array (a memcpy for packed
 *   float/double on a little-endian host);
 * - writing copies a float/double tensor into one packed field.
 * Field numbers (tensor.proto, tensor_shape.proto): TensorProto 1 dtype, 2 tensor_shape, 4 tensor_content,
 * 5 float_val, 6 double_val, 7 int_val, 8 string_val, 10 int64_val, 11 bool_val; TensorShapeProto 2 dim,
 * 3 unknown_rank; Dim 1 size.
 */
import { endianness } from 'node:os';
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../../errors.js';
import type { DType, StringData, TensorData, TypedArray } from '../../../graph/dtype.js';
import { dtypeInfo, isBigIntDType } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { MAX_RANK } from '../../core/request-limits.js';
import type { TensorProtoMsg, TensorShapeProtoMsg } from './proto-types.js';
import { TENSOR_PROTO_VALUE_FIELD } from '../../../graph/tensor-proto-fields.js';
import { fieldSize, writeBytesField, writeVarint } from './direct-wire.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const LITTLE_ENDIAN = endianness() === 'LE';

/** A TensorProto read from the wire: the header decoded, the values left in `body` until admitted. */
export interface WireTensorProto extends TensorProtoMsg {
  /** The TensorProto's own bytes (a view into the request). */
  wireBody: Uint8Array;
}

export function isWireTensorProto(proto: TensorProtoMsg): proto is WireTensorProto {
  return (proto as Partial<WireTensorProto>).wireBody !== undefined;
}

class Malformed extends InvalidArgument {
  constructor(what: string) {
    super(`malformed protobuf in TensorProto: ${what}`);
  }
}

/** A cursor over protobuf bytes. Varints of up to 64 bits; values past 2^53 read as NaN where a number is asked. */
class Cursor {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint as a number; exact up to 2^53, NaN past it. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result <= Number.MAX_SAFE_INTEGER ? result : NaN;
      scale *= 128;
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  /** A varint as int64 (two's complement). */
  varint64(): bigint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      const bits = byte & 0x7f;
      const shift = 7 * i;
      if (shift < 32) {
        lo |= bits << shift;
        if (shift + 7 > 32) hi |= bits >>> (32 - shift);
      } else hi |= bits << (shift - 32);
      if (byte < 0x80) return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  /** A varint's low 32 bits as int32 (how protobuf reads an int32 field). */
  varint32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result | 0;
      shift += 7;
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  /** The [start, end) of a length-delimited field's payload, and moves past it. */
  delimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (!(length <= this.end - start)) throw new Malformed('length-delimited field runs past the message');
    this.pos = start + length;
    return [start, this.pos];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_BYTES:
        this.delimited();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new Malformed(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Malformed('truncated fixed-width field');
    this.pos += n;
  }
}

function readShape(cursor: Cursor, start: number, end: number): TensorShapeProtoMsg {
  const c = new Cursor(cursor.bytes, start, end);
  const dim: { size: string }[] = [];
  let unknownRank = false;
  while (!c.done) {
    const tag = c.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 2 && wireType === WIRE_BYTES) {
      const [s, e] = c.delimited();
      // Past MAX_RANK the shape is refused anyway: keep one extra so the check sees it, allocate no more.
      if (dim.length <= MAX_RANK) dim.push({ size: readDimSize(new Cursor(c.bytes, s, e)) });
      else dim.push(dim[MAX_RANK] as { size: string });
    } else if (field === 3 && wireType === WIRE_VARINT) unknownRank = c.varint() !== 0;
    else c.skip(wireType);
  }
  return unknownRank ? { dim, unknown_rank: true } : { dim };
}

function readDimSize(c: Cursor): string {
  let size = 0n;
  while (!c.done) {
    const tag = c.varint();
    if (tag === 8) size = c.varint64();
    else c.skip(tag & 7);
  }
  return size.toString();
}

/** Reads a TensorProto's header; its values stay in the bytes until readTensorValues. */
export function readTensorProto(bytes: Uint8Array, start = 0, end = bytes.length): WireTensorProto {
  const c = new Cursor(bytes, start, end);
  const proto: WireTensorProto = { wireBody: bytes.subarray(start, end) };
  while (!c.done) {
    const tag = c.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === WIRE_VARINT) proto.dtype = c.varint();
    else if (field === 2 && wireType === WIRE_BYTES) {
      const [s, e] = c.delimited();
      proto.tensor_shape = readShape(c, s, e);
    } else if (field === 4 && wireType === WIRE_BYTES) {
      const [s, e] = c.delimited();
      proto.tensor_content = bytes.subarray(s, e);
    } else c.skip(wireType);
  }
  return proto;
}

/** Visits every occurrence of `field`: its wire type and the cursor positioned at its value. */
function forEachOccurrence(body: Uint8Array, field: number, visit: (c: Cursor, wireType: number) => boolean): void {
  const c = new Cursor(body);
  while (!c.done) {
    const tag = c.varint();
    const wireType = tag & 7;
    if (Math.floor(tag / 8) !== field) {
      c.skip(wireType);
      continue;
    }
    if (!visit(c, wireType)) return;
  }
}

/**
 * The bytes `string_val` fills `n` elements with (TF repeats the last value when fewer are given), from the wire,
 * without creating any string.
 */
export function wireStringBytes(proto: WireTensorProto, n: number): number {
  let count = 0;
  let bytes = 0;
  let last = 0;
  forEachOccurrence(proto.wireBody, TENSOR_PROTO_VALUE_FIELD.string.number, (c, wireType) => {
    if (wireType !== WIRE_BYTES) throw new Malformed('string_val is not length-delimited');
    const [s, e] = c.delimited();
    last = e - s;
    bytes += last;
    return ++count < n;
  });
  return count > 0 && count < n ? bytes + (n - count) * last : bytes;
}

/**
 * Fills `out` (n elements of `dtype`) from the value field, as TensorFlow's FromProtoField: the values given, the
 * last one repeated to the end, zeros when none. Returns how many values the message held (up to n).
 */
export function readTensorValues(proto: WireTensorProto, dtype: DType, out: TensorData): number {
  const n = out.length;
  // A tensor with no elements takes none of the values sent with it (TensorFlow's FromProtoField copies
  // min(given, n)); the writers below store one value before they look at n.
  if (n === 0) return 0;
  let i = 0;
  const field = TENSOR_PROTO_VALUE_FIELD[dtype].number;
  const put = valueWriter(dtype, out);
  forEachOccurrence(proto.wireBody, field, (c, wireType) => {
    i = put(c, wireType, i);
    return i < n;
  });
  if (i > 0 && i < n) {
    const last = out[i - 1] as number | bigint | Uint8Array;
    if (dtype === 'string') (out as StringData).fill(last as Uint8Array, i, n);
    else if (isBigIntDType(dtype)) (out as BigInt64Array).fill(last as bigint, i, n);
    else (out as Float32Array).fill(last as number, i, n);
  }
  return i;
}

type ValueWriter = (c: Cursor, wireType: number, at: number) => number;

function valueWriter(dtype: DType, out: TensorData): ValueWriter {
  const n = out.length;
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const width = dtypeInfo(dtype).bytesPerElement;
      const target = out as Float32Array | Float64Array;
      const fixedWire = width === 4 ? WIRE_FIXED32 : WIRE_FIXED64;
      return (c, wireType, at) => {
        if (wireType === WIRE_BYTES) {
          const [s, e] = c.delimited();
          if ((e - s) % width !== 0) throw new Malformed(`packed ${dtype} field of ${e - s} bytes`);
          const k = Math.min((e - s) / width, n - at);
          copyFixed(c.bytes, s, k, width, target, at);
          return at + k;
        }
        if (wireType !== fixedWire) throw new Malformed(`${dtype} value with wire type ${wireType}`);
        copyFixed(c.bytes, c.pos, 1, width, target, at);
        c.skip(wireType);
        return at + 1;
      };
    }
    case 'string': {
      // Zero-copy: each element is a view of the request's bytes (admission already priced them).
      const strings = out as StringData;
      return (c, wireType, at) => {
        if (wireType !== WIRE_BYTES) throw new Malformed('string_val is not length-delimited');
        const [s, e] = c.delimited();
        strings[at] = c.bytes.subarray(s, e);
        return at + 1;
      };
    }
    case 'int64':
    case 'uint64': {
      // A BigUint64Array stores the same 64 bits; both read the varint as its two's-complement bits.
      const ints = out as BigInt64Array;
      return varintWriter(n, (c, at) => (ints[at] = c.varint64()));
    }
    case 'bool': {
      const bools = out as Uint8Array;
      return varintWriter(n, (c, at) => (bools[at] = c.varint() !== 0 ? 1 : 0));
    }
    case 'int32':
    case 'uint8':
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'float16':
    case 'uint32': {
      // The typed array narrows (int_val holds int8/int16/uint8/uint16, half_val holds float16 bits).
      const ints = out as Int32Array;
      return varintWriter(n, (c, at) => (ints[at] = c.varint32()));
    }
  }
}

/** Packed (one length-delimited run) or unpacked (one varint per occurrence) varint fields. */
function varintWriter(n: number, readOne: (c: Cursor, at: number) => void): ValueWriter {
  return (c, wireType, at) => {
    if (wireType === WIRE_VARINT) {
      readOne(c, at);
      return at + 1;
    }
    if (wireType !== WIRE_BYTES) throw new Malformed(`varint value with wire type ${wireType}`);
    const [s, e] = c.delimited();
    const run = new Cursor(c.bytes, s, e);
    while (!run.done && at < n) readOne(run, at++);
    return at;
  };
}

function copyFixed(
  bytes: Uint8Array,
  start: number,
  count: number,
  width: number,
  target: Float32Array | Float64Array,
  at: number,
): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(target.buffer, target.byteOffset + at * width, count * width).set(
      bytes.subarray(start, start + count * width),
    );
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, count * width);
  for (let k = 0; k < count; k++) {
    target[at + k] = width === 4 ? view.getFloat32(k * 4, true) : view.getFloat64(k * 8, true);
  }
}

/** A TensorProto's dtype and tensor_shape fields. */
function writeTensorHeader(writer: protobuf.Writer, tensor: HostTensor): void {
  writer.uint32((1 << 3) | WIRE_VARINT).uint32(dtypeInfo(tensor.dtype).tf);
  writer.uint32((2 << 3) | WIRE_BYTES).fork();
  for (const size of tensor.shape) {
    writer.uint32((2 << 3) | WIRE_BYTES).fork();
    writer.uint32((1 << 3) | WIRE_VARINT).int64(size);
    writer.ldelim();
  }
  writer.ldelim();
}

/**
 * A string tensor's TensorProto (dtype, tensor_shape, string_val), written into one buffer of its exact size.
 * Through the protobufjs writer each string cost three operation objects (tag, length, bytes): 150,000 for 50,000
 * strings, whose writing and collection held the event loop for 20–40 ms on a slow machine.
 */
export function encodeStringTensorProto(tensor: HostTensor): Buffer {
  return stringTensorProtoParts(tensor, Infinity)[0] as Buffer;
}

/** Bytes of one payload (a string element, raw values) past which tensorProtoChunks leaves it a view of the tensor. */
export const VIEWED_PAYLOAD_BYTES = 64 * 1024;

/**
 * A TensorProto as chunks whose concatenation is what encodeStringTensorProto or writeTensorProto writes, each
 * payload of VIEWED_PAYLOAD_BYTES or more (a string element, float values packed as raw bytes, tensor_content) a view
 * of the tensor instead of a copy: a large reply is then copied once, into memory taken a slice a turn
 * (request-buffers.ts, joinedInTurns), where two copies of a 24 MiB string into fresh memory held the event loop for
 * 120–170 ms on this project's virtual machine.
 */
export function tensorProtoChunks(tensor: HostTensor, tensorContent: boolean): Uint8Array[] {
  if (tensor.dtype === 'string') return stringTensorProtoParts(tensor, VIEWED_PAYLOAD_BYTES);
  const writer = protobuf.Writer.create();
  const typed = tensor.data as TypedArray;
  const field = rawValuesField(tensor.dtype, tensorContent);
  if (field === undefined || typed.byteLength < VIEWED_PAYLOAD_BYTES) {
    writeTensorProto(writer, tensor, tensorContent);
    return [writer.finish()];
  }
  writeTensorHeader(writer, tensor);
  writer.uint32((field << 3) | WIRE_BYTES).uint32(typed.byteLength);
  return [writer.finish(), new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength)];
}

/**
 * A string tensor's TensorProto in parts: each element of `viewedBytes` or more is a part of its own (a view), and
 * the fields between them are written into one buffer of its exact size, ending with the tag and length of the
 * element after them. With `viewedBytes` Infinity, one buffer.
 */
function stringTensorProtoParts(tensor: HostTensor, viewedBytes: number): Uint8Array[] {
  const writer = protobuf.Writer.create();
  writeTensorHeader(writer, tensor);
  let head: Uint8Array = writer.finish();
  const strings = tensor.data as StringData;
  const parts: Uint8Array[] = [];
  let from = 0;
  /** `head`, then elements [from, to), then the tag and length of `viewed` (the element at `to`), in one buffer. */
  const written = (to: number, viewed?: Uint8Array): Buffer => {
    let size = head.byteLength + (viewed ? fieldSize(viewed.byteLength) - viewed.byteLength : 0);
    for (let i = from; i < to; i++) size += fieldSize((strings[i] as Uint8Array).byteLength);
    const out = Buffer.allocUnsafe(size);
    out.set(head, 0);
    let at = head.byteLength;
    for (let i = from; i < to; i++) at = writeBytesField(out, at, 8, strings[i] as Uint8Array);
    if (viewed) {
      out[at] = (8 << 3) | WIRE_BYTES;
      writeVarint(out, at + 1, viewed.byteLength);
    }
    head = new Uint8Array(0);
    from = viewed ? to + 1 : to;
    return out;
  };
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i] as Uint8Array;
    if (s.byteLength >= viewedBytes) parts.push(written(i, s), s);
  }
  if (from < strings.length || parts.length === 0) parts.push(written(strings.length));
  return parts;
}

/**
 * The field a numeric tensor's values take as raw little-endian bytes, copied whole: tensor_content, or float and
 * double values packed; undefined where they are varints (or the host is big-endian).
 */
function rawValuesField(dtype: DType, tensorContent: boolean): number | undefined {
  if (!LITTLE_ENDIAN) return undefined;
  if (tensorContent) return 4;
  return dtype === 'float32' || dtype === 'float64' ? TENSOR_PROTO_VALUE_FIELD[dtype].number : undefined;
}

/**
 * Writes a numeric `tensor` as a TensorProto: typed `*_val` fields (TF's default) or `tensor_content`. String
 * tensors: encodeStringTensorProto.
 */
export function writeTensorProto(writer: protobuf.Writer, tensor: HostTensor, tensorContent: boolean): void {
  if (tensor.dtype === 'string') throw new Error('writeTensorProto: a string tensor (encodeStringTensorProto)');
  writeTensorHeader(writer, tensor);
  const typed = tensor.data as TypedArray;
  if (typed.length === 0) return;
  const raw = rawValuesField(tensor.dtype, tensorContent);
  if (raw !== undefined) {
    writer.uint32((raw << 3) | WIRE_BYTES).bytes(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
    return;
  }
  const field = TENSOR_PROTO_VALUE_FIELD[tensor.dtype].number;
  writer.uint32((field << 3) | WIRE_BYTES).fork();
  switch (tensor.dtype) {
    case 'float32':
      for (const v of typed as Float32Array) writer.float(v);
      break;
    case 'float64':
      for (const v of typed as Float64Array) writer.double(v);
      break;
    case 'int64':
      for (const v of typed as BigInt64Array) writer.int64(longBits(v));
      break;
    case 'uint64':
      for (const v of typed as BigUint64Array) writer.uint64(longBits(v));
      break;
    case 'uint32':
      for (const v of typed as Uint32Array) writer.uint32(v);
      break;
    case 'bool':
      for (const v of typed as Uint8Array) writer.bool(v !== 0);
      break;
    default:
      for (const v of typed as Int32Array) writer.int32(v);
  }
  writer.ldelim();
}

/** protobufjs takes a 64-bit integer as {low, high} (LongBits.from reads those two fields). */
function longBits(value: bigint): number {
  const bits = BigInt.asUintN(64, value);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0 } as unknown as number;
}
