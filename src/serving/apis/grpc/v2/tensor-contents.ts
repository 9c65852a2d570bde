/**
 * Open Inference Protocol tensor data on the gRPC wire, both forms (spec §7.3):
 * - raw: one blob per tensor, little-endian, row-major, the datatype's width per element; BOOL one byte; BYTES
 *   elements each prefixed by their 4-byte little-endian length;
 * - typed: InferTensorContents, one repeated field per family of datatypes; FP16 has none (raw only).
 * Reading is split in two so that nothing is allocated before the input is admitted: `measure*` walks the bytes and
 * returns what they hold (element count, string bytes) without allocating per element, `decode*` builds the tensor.
 * Writing goes straight from the tensor's typed array to the protobuf writer.
 * The host is taken to be little-endian (as every platform Node and ONNX Runtime ship for is): raw blobs are copied
 * byte for byte.
 */
import { setImmediate } from 'node:timers/promises';
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../../../errors.js';
import { allocate, dtypeInfo, type DType, type TypedArray } from '../../../../graph/dtype.js';
import { HostTensor } from '../../../../graph/host-tensor.js';
import { stringTensorBytes, stringTensorFromBytes } from '../../../../graph/string-bytes.js';
import { WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64, WIRE_VARINT, WireReader } from './wire-reader.js';
import { allocateForRequest, prefixedInParts, type ElementPrefix } from '../../../request-buffers.js';
import { fieldHeader, varintSize, writeVarint } from '../../shared/direct-wire.js';
import { LENGTH_PREFIX_BYTES } from '../../v2/raw-bytes.js';

/** InferTensorContents field numbers. */
const CONTENTS_FIELD_NAMES: Readonly<Record<number, string>> = {
  1: 'bool_contents',
  2: 'int_contents',
  3: 'int64_contents',
  4: 'uint_contents',
  5: 'uint64_contents',
  6: 'fp32_contents',
  7: 'fp64_contents',
  8: 'bytes_contents',
};

/** The InferTensorContents field of each dtype; float16 has none. */
const CONTENTS_FIELD: Readonly<Record<DType, number | undefined>> = {
  bool: 1,
  int8: 2,
  int16: 2,
  int32: 2,
  int64: 3,
  uint8: 4,
  uint16: 4,
  uint32: 4,
  uint64: 5,
  float32: 6,
  float64: 7,
  string: 8,
  float16: undefined,
};

/**
 * Decoding hands the event loop back after this many bytes copied or values read, so that one large input never
 * holds it for long (a 32 MiB copy took ~10 ms here; 8,000,000 int32 varints ~600 ms in one piece).
 */
const BYTES_PER_TURN = 8 * 1024 * 1024;
const VALUES_PER_TURN = 256 * 1024;

/** What a tensor's data holds, read without allocating per element. */
export interface MeasuredContents {
  /** Elements present (for strings, counting stops one past `expected`). */
  elements: number;
  /** BYTES only: the total bytes of the elements counted. */
  stringBytes?: number;
}

/** Where an input's data is, for errors: `raw_input_contents[2]` or `contents.fp32_contents`. */
export interface ContentsSource {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/**
 * Walks a raw blob of `dtype`: its element count (BYTES: the framed elements, up to one past `expected`; others:
 * the byte length over the width, or NaN when it does not divide) and string bytes.
 */
export function measureRaw(source: ContentsSource, dtype: DType, expected: number, what: string): MeasuredContents {
  const length = source.end - source.start;
  if (dtype !== 'string') {
    const width = dtypeInfo(dtype).bytesPerElement;
    return { elements: length % width === 0 ? length / width : NaN };
  }
  let elements = 0;
  let stringBytes = 0;
  let at = source.start;
  const view = new DataView(source.bytes.buffer, source.bytes.byteOffset);
  while (at < source.end && elements <= expected) {
    if (source.end - at < LENGTH_PREFIX_BYTES) {
      throw new InvalidArgument(`${what}: BYTES element ${elements} is cut inside its 4-byte length prefix`);
    }
    const size = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (size > source.end - at) {
      throw new InvalidArgument(
        `${what}: BYTES element ${elements} declares ${size} bytes but only ${source.end - at} remain`,
      );
    }
    at += size;
    stringBytes += size;
    elements++;
  }
  return { elements, stringBytes };
}

/**
 * Builds the tensor of a raw blob already measured and admitted (its size matches `shape`); a blob larger than one
 * turn's copy is copied over several turns (decodeRaw), anything else at once, with no promise in between.
 */
export function decodeRaw(
  source: ContentsSource,
  dtype: DType,
  shape: readonly number[],
  count: number,
): HostTensor | Promise<HostTensor> {
  if (dtype !== 'string' && source.end - source.start > BYTES_PER_TURN)
    return decodeRawInTurns(source, dtype, shape, count);
  return decodeRawNow(source, dtype, shape, count);
}

function decodeRawNow(source: ContentsSource, dtype: DType, shape: readonly number[], count: number): HostTensor {
  if (dtype === 'string') {
    const elements: Uint8Array[] = [];
    const view = new DataView(source.bytes.buffer, source.bytes.byteOffset);
    let at = source.start;
    for (let i = 0; i < count; i++) {
      const size = view.getUint32(at, true);
      at += LENGTH_PREFIX_BYTES;
      elements.push(source.bytes.subarray(at, at + size));
      at += size;
    }
    return stringTensorFromBytes(shape, elements);
  }
  // A copy into aligned storage of the request's own (the blob is a view into the request, at any offset).
  const data = allocateForRequest(dtype, count) as TypedArray;
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(source.bytes.subarray(source.start, source.end));
  return fixedWidthTensor(dtype, shape, data);
}

async function decodeRawInTurns(
  source: ContentsSource,
  dtype: DType,
  shape: readonly number[],
  count: number,
): Promise<HostTensor> {
  const data = allocate(dtype, count) as TypedArray;
  await copyInTurns(source.bytes.subarray(source.start, source.end), new Uint8Array(data.buffer, data.byteOffset));
  return fixedWidthTensor(dtype, shape, data);
}

/** The tensor of copied raw bytes: BOOL bytes other than 0 read as true, stored as 1. */
function fixedWidthTensor(dtype: DType, shape: readonly number[], data: TypedArray): HostTensor {
  if (dtype === 'bool') {
    const bools = data as Uint8Array;
    for (let i = 0; i < bools.length; i++) if (bools[i] !== 0) bools[i] = 1;
  }
  return new HostTensor(dtype, shape, data);
}

/**
 * Walks an InferTensorContents message for `dtype`: the elements in its field (BYTES: counted up to one past
 * `expected`) and string bytes. Values in another field are refused by name, so a client that filled the wrong
 * field hears which one to use.
 */
export async function measureTyped(
  source: ContentsSource | undefined,
  dtype: DType,
  datatype: string,
  expected: number,
  what: string,
): Promise<MeasuredContents> {
  const field = CONTENTS_FIELD[dtype];
  if (field === undefined) {
    throw new InvalidArgument(`${what}: ${datatype} has no typed contents field; send it in raw_input_contents`);
  }
  if (!source) return dtype === 'string' ? { elements: 0, stringBytes: 0 } : { elements: 0 };
  const reader = new WireReader(source.bytes, 'InferTensorContents', source.start, source.end);
  let elements = 0;
  let stringBytes = 0;
  let occurrences = 0;
  // Counting stops one element past `expected`: enough to refuse, and bounded by the shape, not by the message.
  while (!reader.done && elements <= expected) {
    if (++occurrences % VALUES_PER_TURN === 0) await setImmediate();
    const [number, wireType] = reader.tag();
    if (number !== field) {
      const name = CONTENTS_FIELD_NAMES[number];
      if (name === undefined) {
        reader.skip(wireType);
        continue;
      }
      throw new InvalidArgument(
        `${what}: ${datatype} values go in contents.${CONTENTS_FIELD_NAMES[field] as string}, not in contents.${name}`,
      );
    }
    if (dtype === 'string') {
      if (wireType !== WIRE_BYTES) throw reader.malformed('bytes_contents is not length-delimited');
      const [start, end] = reader.delimited();
      stringBytes += end - start;
      elements++;
      continue;
    }
    elements += await countValues(reader, dtype, wireType, expected + 1 - elements);
  }
  return dtype === 'string' ? { elements, stringBytes } : { elements };
}

/**
 * How many values one occurrence of a numeric contents field holds (packed or not), counted up to `most`; moves
 * past it.
 */
async function countValues(reader: WireReader, dtype: DType, wireType: number, most: number): Promise<number> {
  const fixedWidth = dtype === 'float32' ? 4 : dtype === 'float64' ? 8 : 0;
  if (wireType === WIRE_BYTES) {
    const [start, end] = reader.delimited();
    if (fixedWidth > 0) {
      if ((end - start) % fixedWidth !== 0) throw reader.malformed(`packed field of ${end - start} bytes`);
      return (end - start) / fixedWidth;
    }
    // Every varint ends at a byte below 0x80.
    let ends = 0;
    for (let turn = start; turn < end && ends < most; turn += BYTES_PER_TURN) {
      if (turn > start) await setImmediate();
      const stop = Math.min(end, turn + BYTES_PER_TURN);
      for (let i = turn; i < stop && ends < most; i++) if ((reader.bytes[i] as number) < 0x80) ends++;
    }
    if (ends < most && end > start && (reader.bytes[end - 1] as number) >= 0x80) {
      throw reader.malformed('truncated packed varint');
    }
    return ends;
  }
  const expectedWire = fixedWidth === 4 ? WIRE_FIXED32 : fixedWidth === 8 ? WIRE_FIXED64 : WIRE_VARINT;
  if (wireType !== expectedWire) throw reader.malformed(`value with wire type ${wireType}`);
  reader.skip(wireType);
  return 1;
}

/** Copies `from` to the start of `to`, BYTES_PER_TURN at a time. */
async function copyInTurns(from: Uint8Array, to: Uint8Array): Promise<void> {
  for (let at = 0; at < from.length; at += BYTES_PER_TURN) {
    if (at > 0) await setImmediate();
    to.set(from.subarray(at, Math.min(from.length, at + BYTES_PER_TURN)), at);
  }
}

/** Builds the tensor of typed contents already measured and admitted (`count` values in the dtype's field). */
export async function decodeTyped(
  source: ContentsSource | undefined,
  dtype: DType,
  shape: readonly number[],
  count: number,
): Promise<HostTensor> {
  const field = CONTENTS_FIELD[dtype] as number;
  if (dtype === 'string') {
    const elements: Uint8Array[] = [];
    if (source) {
      const reader = new WireReader(source.bytes, 'InferTensorContents', source.start, source.end);
      while (!reader.done && elements.length < count) {
        const [number, wireType] = reader.tag();
        if (number !== field) reader.skip(wireType);
        else {
          const [start, end] = reader.delimited();
          elements.push(source.bytes.subarray(start, end));
        }
      }
    }
    return stringTensorFromBytes(shape, elements);
  }
  const data = allocateForRequest(dtype, count) as TypedArray;
  if (source && count > 0) {
    const reader = new WireReader(source.bytes, 'InferTensorContents', source.start, source.end);
    const put = valueReader(dtype, data);
    let at = 0;
    while (!reader.done && at < count) {
      const [number, wireType] = reader.tag();
      if (number !== field) {
        reader.skip(wireType);
        continue;
      }
      if (wireType !== WIRE_BYTES) {
        put(reader, at++);
        if (at % VALUES_PER_TURN === 0) await setImmediate();
        continue;
      }
      const [start, end] = reader.delimited();
      if (dtype === 'float32' || dtype === 'float64') {
        // A packed run of little-endian floats is the typed array's own bytes: one copy, no value at a time.
        const width = data.BYTES_PER_ELEMENT;
        const k = Math.min((end - start) / width, count - at);
        await copyInTurns(
          source.bytes.subarray(start, start + k * width),
          new Uint8Array(data.buffer, data.byteOffset + at * width, k * width),
        );
        at += k;
        continue;
      }
      const run = reader.sub(start, end, 'InferTensorContents');
      while (!run.done && at < count) {
        put(run, at++);
        if (at % VALUES_PER_TURN === 0) await setImmediate();
      }
    }
  }
  return new HostTensor(dtype, shape, data);
}

/** Reads one value of `dtype` at the reader into `data[at]`. */
function valueReader(dtype: DType, data: TypedArray): (reader: WireReader, at: number) => void {
  switch (dtype) {
    case 'float32': {
      const out = data as Float32Array;
      return (r, at) => {
        out[at] = Buffer.from(r.bytes.buffer, r.bytes.byteOffset + r.pos, 4).readFloatLE(0);
        r.skip(WIRE_FIXED32);
      };
    }
    case 'float64': {
      const out = data as Float64Array;
      return (r, at) => (out[at] = r.double());
    }
    case 'int64':
    case 'uint64': {
      // Both store the varint's 64 bits; the typed array reads them as signed or unsigned.
      const out = new BigUint64Array(data.buffer, data.byteOffset, data.length);
      return (r, at) => (out[at] = r.varint64());
    }
    case 'bool': {
      const out = data as Uint8Array;
      return (r, at) => (out[at] = r.varint() !== 0 ? 1 : 0);
    }
    default: {
      // int8/int16/int32 from int_contents, uint8/uint16/uint32 from uint_contents: the typed array narrows.
      const out = data as Int32Array;
      return (r, at) => (out[at] = r.varint32());
    }
  }
}

/** Whether `dtype` can travel in typed contents (FP16 cannot). */
export function hasTypedContents(dtype: DType): boolean {
  return CONTENTS_FIELD[dtype] !== undefined;
}

/** Writes a tensor's values as the fields of an InferTensorContents message (the caller frames it). */
export function writeTypedContents(writer: protobuf.Writer, tensor: HostTensor): void {
  const field = CONTENTS_FIELD[tensor.dtype];
  if (field === undefined) throw new TypeError(`${tensor.dtype} has no typed contents field`);
  if (tensor.dtype === 'string') {
    for (const element of stringTensorBytes(tensor)) writer.uint32((field << 3) | WIRE_BYTES).bytes(element);
    return;
  }
  const data = tensor.data as TypedArray;
  if (data.length === 0) return;
  if (tensor.dtype === 'float32' || tensor.dtype === 'float64') {
    writer.uint32((field << 3) | WIRE_BYTES).bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return;
  }
  writer.uint32((field << 3) | WIRE_BYTES).fork();
  writeVarintValues(writer, tensor.dtype, data, 0, data.length);
  writer.ldelim();
}

/** Elements [from, to) of an integer or boolean tensor's data as the varints of its packed typed field. */
function writeVarintValues(writer: protobuf.Writer, dtype: DType, data: TypedArray, from: number, to: number): void {
  switch (dtype) {
    case 'int64':
    case 'uint64': {
      const bits = new BigUint64Array(data.buffer, data.byteOffset, data.length);
      for (let i = from; i < to; i++) writer.uint64(longBits(bits[i] as bigint));
      break;
    }
    case 'bool':
      for (let i = from; i < to; i++) writer.bool(data[i] !== 0);
      break;
    case 'uint8':
    case 'uint16':
    case 'uint32':
      for (let i = from; i < to; i++) writer.uint32(data[i] as number);
      break;
    default:
      for (let i = from; i < to; i++) writer.int32(data[i] as number);
  }
}

/** A BYTES element's prefix in typed contents: the bytes_contents field's tag, then the element's length. */
const BYTES_FIELD_PREFIX: ElementPrefix = {
  bytes: (length) => 1 + varintSize(length),
  write: (out, at, length) => {
    out[at] = ((CONTENTS_FIELD.string as number) << 3) | WIRE_BYTES;
    return writeVarint(out, at + 1, length);
  },
};

/**
 * What writeTypedContents writes for a large reply's tensor, as parts in order for joinedInTurns: floats as a view
 * of their data after their field's tag and length; BYTES elements as prefixedInParts gives them (long ones as
 * views); integers and booleans encoded VALUES_PER_TURN a turn.
 */
export async function typedContentsInParts(tensor: HostTensor): Promise<Uint8Array[]> {
  const field = CONTENTS_FIELD[tensor.dtype];
  if (field === undefined) throw new TypeError(`${tensor.dtype} has no typed contents field`);
  if (tensor.dtype === 'string') return prefixedInParts(stringTensorBytes(tensor), BYTES_FIELD_PREFIX);
  const data = tensor.data as TypedArray;
  if (data.length === 0) return [];
  if (tensor.dtype === 'float32' || tensor.dtype === 'float64') {
    return [fieldHeader(field, data.byteLength), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
  }
  const slices: Uint8Array[] = [];
  let bytes = 0;
  for (let from = 0; from < data.length; from += VALUES_PER_TURN) {
    if (from > 0) await setImmediate();
    const writer = protobuf.Writer.create();
    writeVarintValues(writer, tensor.dtype, data, from, Math.min(data.length, from + VALUES_PER_TURN));
    const slice = writer.finish();
    slices.push(slice);
    bytes += slice.byteLength;
  }
  return [fieldHeader(field, bytes), ...slices];
}

/** protobufjs takes a 64-bit value as {low, high} (LongBits.from reads those two fields). */
export function longBits(value: bigint): number {
  const bits = BigInt.asUintN(64, value);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0 } as unknown as number;
}
