/**
 * Input tensors of an infer request, from JSON `data` or from binary chunks (spec §3.3, §5). Every input is first
 * measured from what the request says (shape × datatype, the chunk's size, the JSON's element count, BYTES
 * framing) and admitted — signature checks and the --max_input_bytes budget — before anything is allocated for it.
 * Large inputs are converted in slices with yields to the event loop between them.
 *
 * FP16 in JSON is refused, as Triton refuses it ("receiving FP16 data via JSON is not supported"): JSON numbers
 * cannot carry half-precision values exactly, and Triton's clients always send FP16 as binary.
 * Binary numeric data is little-endian (the protocol's order, and the host's on every platform Node supports here).
 */
import { InvalidArgument } from '../../../errors.js';
import { dtypeInfo, type DType, type TypedArray } from '../../../graph/dtype.js';
import { HostTensor } from '../../../graph/host-tensor.js';
import { stringTensorFromBytes } from '../../../graph/string-bytes.js';
import { boundedElementCount } from '../../core/request-limits.js';
import { PackedArray } from '../rest/json-packed.js';
import { LONG_STRING_BYTES, stringWork, WorkSlices, yieldToEventLoop, type JsonValue } from '../rest/json-reader.js';
import { jsonToTensor } from '../rest/json-tensors.js';
import { isJsonString, jsonTypeName, longUtf8Value, previewJson } from '../rest/json-values.js';
import { LongText } from '../rest/long-text.js';
import { v2DatatypeOf } from '../v2/datatypes.js';
import { chargeV2Input, checkV2InputHeader, checkV2InputNames, type V2Input, type V2InferTarget } from '../v2/infer.js';
import type { V2RestInput } from './infer-request.js';
import { allocateForRequest, storageWith, takenInSlices } from '../../request-buffers.js';
import type { TensorStorage } from '../shared/tensor-proto.js';

/** Elements handled between two yields to the event loop. */
const ELEMENTS_PER_SLICE = 1 << 16;

/** What an input turned out to hold, once measured: its element count and, for BYTES, its string bytes. */
interface Measured {
  input: V2RestInput;
  dtype: DType;
  count: number;
  stringBytes: number;
  /** BYTES in JSON: the elements, already read while measuring (strings are ordinary JSON values). */
  strings?: (string | LongText)[];
}

function expectedElements(input: V2RestInput, cap: number): number {
  return boundedElementCount(input.shape, cap);
}

function countMismatch(input: V2RestInput, got: number | string, expected: number): InvalidArgument {
  return new InvalidArgument(
    `input '${input.name}': shape [${input.shape.join(',')}] needs ${expected} elements, but its data holds ${got}`,
  );
}

/** The JSON leaves of `data` in order (any nesting), yielding now and then; packed arrays are counted whole. */
async function* jsonLeaves(data: JsonValue): AsyncGenerator<JsonValue> {
  const lists: JsonValue[][] = [];
  const next: number[] = [];
  let work = 0;
  if (!Array.isArray(data)) {
    yield data;
    return;
  }
  lists.push(data);
  next.push(0);
  while (lists.length > 0) {
    const list = lists[lists.length - 1] as JsonValue[];
    const index = next[next.length - 1] as number;
    if (index === list.length) {
      lists.pop();
      next.pop();
      continue;
    }
    next[next.length - 1] = index + 1;
    const item = list[index] as JsonValue;
    if (Array.isArray(item)) {
      lists.push(item);
      next.push(0);
    } else yield item;
    if (++work === ELEMENTS_PER_SLICE) {
      work = 0;
      await yieldToEventLoop();
    }
  }
}

/** JSON BYTES: every leaf a string; the elements and their UTF-8 bytes. */
async function measureJsonStrings(
  input: V2RestInput,
  data: JsonValue,
): Promise<{ strings: (string | LongText)[]; bytes: number }> {
  const strings: (string | LongText)[] = [];
  let bytes = 0;
  const slices = new WorkSlices(ELEMENTS_PER_SLICE);
  for await (const leaf of jsonLeaves(data)) {
    if (leaf instanceof PackedArray && leaf.size === 0) continue;
    if (!isJsonString(leaf)) {
      throw new InvalidArgument(
        `input '${input.name}': BYTES elements in JSON must be strings, got ${jsonTypeName(leaf)} ${previewJson(leaf)}`,
      );
    }
    strings.push(leaf);
    if (slices.full(stringWork(leaf))) await yieldToEventLoop();
    bytes += typeof leaf === 'string' ? Buffer.byteLength(leaf, 'utf8') : await leaf.utf8ByteLength();
  }
  return { strings, bytes };
}

/** Each string's UTF-8 bytes, a long one's encoding in a turn of its own. */
async function utf8Elements(strings: readonly (string | LongText)[]): Promise<Uint8Array[]> {
  const elements = new Array<Uint8Array>(strings.length);
  const slices = new WorkSlices(ELEMENTS_PER_SLICE);
  for (const [i, text] of strings.entries()) {
    if (slices.full(stringWork(text))) await yieldToEventLoop();
    elements[i] =
      typeof text === 'string' && text.length <= LONG_STRING_BYTES
        ? Buffer.from(text, 'utf8')
        : await longUtf8Value(text);
  }
  return elements;
}

/** JSON numbers or booleans: the element count, however nested (packed arrays counted by their shape). */
async function countJsonElements(data: JsonValue): Promise<number> {
  let count = 0;
  for await (const leaf of jsonLeaves(data)) count += leaf instanceof PackedArray ? leaf.size : 1;
  return count;
}

/** BYTES in a binary chunk: walks the 4-byte little-endian length prefixes; returns each element's bytes. */
async function binaryStrings(input: V2RestInput, body: Uint8Array, count: number): Promise<Uint8Array[]> {
  const { offset, length } = input.binary as { offset: number; length: number };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = offset + length;
  const elements = new Array<Uint8Array>(count);
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + 4 > end) {
      throw new InvalidArgument(
        `input '${input.name}': BYTES data ends after ${i} of ${count} elements (each needs a 4-byte length prefix)`,
      );
    }
    const size = view.getUint32(at, true);
    at += 4;
    if (size > end - at) {
      throw new InvalidArgument(
        `input '${input.name}': BYTES element ${i} claims ${size} bytes but only ${end - at} are left in its data`,
      );
    }
    elements[i] = body.subarray(at, at + size);
    at += size;
    if (i % ELEMENTS_PER_SLICE === ELEMENTS_PER_SLICE - 1) await yieldToEventLoop();
  }
  if (at !== end) {
    throw new InvalidArgument(
      `input '${input.name}': its ${count} BYTES elements take ${at - offset} bytes, but binary_data_size is ${length}`,
    );
  }
  return elements;
}

/** A binary numeric chunk's size against the input's shape × datatype (the element count). */
function checkChunkSize(input: V2RestInput, dtype: DType, count: number, cap: number): void {
  const { length } = input.binary as { offset: number; length: number };
  const expected = count * dtypeInfo(dtype).bytesPerElement;
  if (expected !== length) {
    throw new InvalidArgument(
      `unexpected size for input '${input.name}', expecting ${Number.isFinite(expected) ? expected : 'more than'}` +
        `${Number.isFinite(expected) ? '' : ` ${cap}`} bytes for ${v2DatatypeOf(dtype)} [${input.shape.join(',')}], ` +
        `but binary_data_size is ${length}`,
    );
  }
}

/** Measures one input from what the request states, and checks the statements agree. Allocates nothing large. */
async function measure(target: V2InferTarget, input: V2RestInput, cap: number): Promise<Measured> {
  const dtype = checkV2InputHeader(target, input);
  const count = expectedElements(input, cap);
  if (input.binary) {
    const { length } = input.binary;
    if (dtype === 'string') {
      // Each element is a 4-byte length and its bytes: the chunk bounds the count and the bytes before any walk.
      if (!(count * 4 <= length)) {
        throw new InvalidArgument(
          `input '${input.name}': shape [${input.shape.join(',')}] needs at least ${count * 4} bytes of BYTES data ` +
            `(a 4-byte length per element), but binary_data_size is ${length}`,
        );
      }
      return { input, dtype, count, stringBytes: length - count * 4 };
    }
    checkChunkSize(input, dtype, count, cap);
    return { input, dtype, count, stringBytes: 0 };
  }
  const data = input.data as JsonValue;
  if (dtype === 'float16') {
    throw new InvalidArgument(
      `input '${input.name}': receiving FP16 data via JSON is not supported. Please use the binary data format ` +
        `(binary_data_size and Inference-Header-Content-Length)`,
    );
  }
  if (dtype === 'string') {
    const { strings, bytes } = await measureJsonStrings(input, data);
    if (strings.length !== count) throw countMismatch(input, strings.length, count);
    return { input, dtype, count, stringBytes: bytes, strings };
  }
  const got = await countJsonElements(data);
  if (got !== count) throw countMismatch(input, got, count);
  return { input, dtype, count, stringBytes: 0 };
}

/**
 * A binary input of more bytes is decoded on the promise path (decodeInputs), into storage whose pages are taken a
 * slice a turn first (request-buffers.ts, takenInSlices): its copy into fresh memory held the event loop 90–120 ms
 * for 30 MiB on this project's virtual machine in 2026-12 (test/e2e/oip-rest-limits.test.ts).
 */
const LARGE_BINARY_BYTES = 1024 * 1024;

/** A binary numeric input's tensor, its elements in `storage` (default: the request's own). */
function binaryTensor(
  input: V2RestInput,
  dtype: DType,
  count: number,
  body: Uint8Array,
  storage: TensorStorage = allocateForRequest,
): HostTensor {
  // Copied into aligned storage: the body's bytes may sit at any offset.
  const data = storage(dtype, count) as TypedArray;
  const { offset, length } = input.binary as { offset: number; length: number };
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(body.subarray(offset, offset + length));
  return new HostTensor(dtype, input.shape, data);
}

async function decode(measured: Measured, body: Uint8Array): Promise<HostTensor> {
  const { input, dtype, count } = measured;
  if (dtype === 'string') {
    const elements = measured.strings ? await utf8Elements(measured.strings) : await binaryStrings(input, body, count);
    return stringTensorFromBytes(input.shape, elements);
  }
  if (input.binary) {
    // Measured and admitted: its length is count elements' bytes.
    const { length } = input.binary;
    const storage = length > LARGE_BINARY_BYTES ? storageWith(await takenInSlices(length)) : allocateForRequest;
    return binaryTensor(input, dtype, count, body, storage);
  }
  // Numbers and booleans go through the REST JSON converter (ranges, NaN/Infinity, slicing), then take the shape
  // the request declares: flat and nested data are both accepted.
  const tensor = await jsonToTensor(input.data as JsonValue, dtype, input.name);
  return new HostTensor(dtype, input.shape, tensor.data);
}

/**
 * The request's input tensors: names checked against the signature, then every input measured and admitted, then
 * decoded. A request refused at any step has allocated nothing for its tensors.
 */
export async function decodeInputs(target: V2InferTarget, inputs: V2RestInput[], body: Uint8Array): Promise<V2Input[]> {
  checkV2InputNames(
    target,
    inputs.map((i) => i.name),
  );
  const cap = target.admission.limits.maxInputBytes + 1;
  const measured: Measured[] = [];
  for (const input of inputs) {
    const m = await measure(target, input, cap);
    chargeV2Input(target, input, m.dtype, m.stringBytes);
    measured.push(m);
  }
  const decoded: V2Input[] = [];
  for (const m of measured) {
    decoded.push({
      name: m.input.name,
      datatype: m.input.datatype,
      shape: m.input.shape,
      tensor: await decode(m, body),
    });
  }
  return decoded;
}

/**
 * decodeInputs for a request whose inputs are all binary and numeric (what Triton's clients send): the same checks,
 * admissions and errors in the same order, without a promise, as nothing here is large enough to yield for (each
 * chunk is one copy). Undefined, having checked and charged nothing, when any input is JSON or BYTES, or larger than
 * LARGE_BINARY_BYTES.
 */
export function decodeBinaryInputs(
  target: V2InferTarget,
  inputs: readonly V2RestInput[],
  body: Uint8Array,
): V2Input[] | undefined {
  for (const input of inputs) {
    if (!input.binary || input.datatype === 'BYTES' || input.datatype === 'STRING') return undefined;
    if (input.binary.length > LARGE_BINARY_BYTES) return undefined;
  }
  checkV2InputNames(
    target,
    inputs.map((i) => i.name),
  );
  const cap = target.admission.limits.maxInputBytes + 1;
  const dtypes: DType[] = [];
  const counts: number[] = [];
  for (const input of inputs) {
    const dtype = checkV2InputHeader(target, input);
    const count = expectedElements(input, cap);
    checkChunkSize(input, dtype, count, cap);
    chargeV2Input(target, input, dtype, 0);
    dtypes.push(dtype);
    counts.push(count);
  }
  return inputs.map((input, i) => ({
    name: input.name,
    datatype: input.datatype,
    shape: input.shape,
    tensor: binaryTensor(input, dtypes[i] as DType, counts[i] as number, body),
  }));
}
