/**
 * Tensors on the Open Inference Protocol's wire, client side (spec: open-inference-protocol.md §4, §5, §7.3):
 * - raw bytes, as the REST binary extension and gRPC `raw_*_contents` carry them: little-endian, row-major, native
 *   width; BOOL one byte 0/1; FP16 its 2-byte bit patterns; BYTES each element as a 4-byte little-endian length
 *   and its bytes;
 * - JSON `data`: flat, row-major; BOOL true/false, BYTES strings, 64-bit integers written as exact digits.
 */
import { randomUUID } from 'node:crypto';
import { endianness } from 'node:os';
import { InvalidArgument } from '../../errors.js';
import { dtypeOfV2 } from '../../serving/apis/v2/datatypes.js';
import { allocate, dtypeInfo, type TypedArray } from '../../graph/dtype.js';
import { HostTensor, shapeSize } from '../../graph/host-tensor.js';
import { stringTensorBytes, stringTensorFromBytes } from '../../graph/string-bytes.js';
import type { JsonValue } from '../../serving/apis/rest/json-reader.js';
import { NUMBER, PackedArray, PackedCursor } from '../../serving/apis/rest/json-packed.js';
import { jsonToTensor } from '../../serving/apis/rest/json-tensors.js';

const LITTLE_ENDIAN = endianness() === 'LE';

/** The raw bytes of a tensor (a view of its storage where the host is little-endian). */
export function tensorBytes(tensor: HostTensor): Uint8Array {
  if (tensor.dtype === 'string') {
    const elements = stringTensorBytes(tensor);
    const out = Buffer.allocUnsafe(elements.reduce((n, e) => n + 4 + e.byteLength, 0));
    let at = 0;
    for (const element of elements) {
      out.writeUInt32LE(element.byteLength, at);
      out.set(element, at + 4);
      at += 4 + element.byteLength;
    }
    return out;
  }
  const data = tensor.data as TypedArray;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const swapped = Uint8Array.from(view);
  swapEndianness(swapped, data.BYTES_PER_ELEMENT);
  return swapped;
}

/** Reverses each `width`-byte element in place (big-endian hosts). */
function swapEndianness(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/**
 * A tensor of `datatype` and `shape` from its raw bytes (copied: the bytes may be a view of a larger message);
 * the byte count must match the shape exactly.
 */
export function tensorFromBytes(
  datatype: string,
  shape: readonly number[],
  bytes: Uint8Array,
  name: string,
): HostTensor {
  const dtype = dtypeOfV2(datatype, `output ${name}`);
  const size = shapeSize(shape);
  if (dtype === 'string') return stringTensor(shape, size, bytes, name);
  const width = dtypeInfo(dtype).bytesPerElement;
  if (bytes.byteLength !== size * width) {
    throw new InvalidArgument(
      `output ${name}: ${datatype} [${shape.join(',')}] needs ${size * width} bytes, got ${bytes.byteLength}`,
    );
  }
  const data = allocate(dtype, size) as TypedArray;
  const target = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  target.set(bytes);
  if (!LITTLE_ENDIAN && width > 1) swapEndianness(target, width);
  return new HostTensor(dtype, shape, data);
}

function stringTensor(shape: readonly number[], size: number, bytes: Uint8Array, name: string): HostTensor {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let at = 0;
  while (at < view.length) {
    if (at + 4 > view.length) throw new InvalidArgument(`output ${name}: BYTES element ${elements.length} is cut`);
    const length = view.readUInt32LE(at);
    if (at + 4 + length > view.length) {
      throw new InvalidArgument(
        `output ${name}: BYTES element ${elements.length} declares ${length} bytes, ${view.length - at - 4} remain`,
      );
    }
    elements.push(view.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (elements.length !== size) {
    throw new InvalidArgument(
      `output ${name}: BYTES [${shape.join(',')}] needs ${size} elements, got ${elements.length}`,
    );
  }
  return stringTensorFromBytes(shape, elements);
}

/**
 * `JSON.stringify`, with bigints written as exact digits (JSON.stringify cannot write one). Each bigint becomes a
 * string between two copies of a random mark, then the quoted marks are cut away; the mark is new for every call,
 * so no string in the data can hold it.
 */
export function stringifyWithIntegers(value: unknown): string {
  const mark = randomUUID();
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${mark}${v}${mark}` : v));
  return text.replace(new RegExp(`"${mark}(-?\\d+)${mark}"`, 'g'), '$1');
}

/**
 * A tensor's JSON `data`: flat, row-major. FP16 is refused: the protocol's JSON has no FP16 (Triton rejects it),
 * callers send it binary.
 */
export function jsonData(tensor: HostTensor, name: string): unknown[] {
  switch (tensor.dtype) {
    case 'float16':
      throw new InvalidArgument(`input ${name}: FP16 cannot travel as JSON; send it as binary`);
    case 'bool':
      return Array.from(tensor.data as Uint8Array, (v) => v !== 0);
    case 'string':
      return stringTensorBytes(tensor).map((b) => Buffer.from(b).toString('utf8'));
    case 'int64':
    case 'uint64':
      return Array.from(tensor.data as BigInt64Array);
    default:
      return Array.from(tensor.data as Exclude<TypedArray, BigInt64Array | BigUint64Array>);
  }
}

/**
 * A tensor from JSON `data` (flat or nested, as read by the REST reader: numbers kept as text, so 64-bit integers
 * stay exact), laid out in `shape`.
 */
export async function tensorFromJsonData(
  datatype: string,
  shape: readonly number[],
  data: JsonValue,
  name: string,
): Promise<HostTensor> {
  const dtype = dtypeOfV2(datatype, `output ${name}`);
  if ((dtype === 'int64' || dtype === 'uint64') && data instanceof PackedArray) {
    return exactIntegers(dtype, shape, data, name);
  }
  const read = await jsonToTensor(data, dtype, `output ${name}`);
  const size = shapeSize(shape);
  if (read.size !== size) {
    throw new InvalidArgument(`output ${name}: shape [${shape.join(',')}] needs ${size} elements, got ${read.size}`);
  }
  return new HostTensor(dtype, shape, read.data);
}

/**
 * 64-bit integers read from their JSON text with BigInt: the REST reader (TF Serving's rules) refuses integers past
 * 2^53 as int64, but a v2 server writes them as exact digits.
 */
function exactIntegers(
  dtype: 'int64' | 'uint64',
  shape: readonly number[],
  packed: PackedArray,
  name: string,
): HostTensor {
  const size = shapeSize(shape);
  const data = allocate(dtype, size) as BigInt64Array | BigUint64Array;
  const cursor = new PackedCursor(packed);
  let at = 0;
  while (cursor.next()) {
    if (at >= size) break;
    const text = cursor.text();
    if (cursor.kind !== NUMBER || !/^-?\d+$/.test(text)) {
      throw new InvalidArgument(`output ${name}: ${text} is not an integer`);
    }
    data[at++] = BigInt(text);
  }
  if (at !== size || packed.size !== size) {
    throw new InvalidArgument(`output ${name}: shape [${shape.join(',')}] needs ${size} elements, got ${packed.size}`);
  }
  return new HostTensor(dtype, shape, data);
}
