/**
 * Classify, Regress and MultiInference requests with their `input` (the tf.Examples) left as bytes until the
 * examples have been counted against the limit. A generic decoder builds several objects per example before
 * anything can count them: 38 MB of one-feature examples took 11 s of event loop to decode. Counting walks the
 * wire without decoding; only an admitted Input is decoded (by protobufjs, as before).
 * ClassificationRequest / RegressionRequest: 1 model_spec, 2 input. MultiInferenceRequest: 1 tasks, 2 input.
 * Input: 1 example_list, 2 example_list_with_context; both lists hold their examples in field 1.
 */
import { endianness } from 'node:os';
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../../errors.js';
import { utf8Text } from '../../../graph/utf8.js';
import type { ExampleFeatures, FeatureValue } from '../../core/example-parsing.js';
import { checkExampleCount } from '../../core/request-limits.js';
import { examplesFromInput } from '../shared/examples.js';
import type { InferenceTaskMsg, InputMsg, ModelSpecMsg } from '../shared/proto-types.js';
import { LOADER_OPTIONS, protobufRoot } from '../shared/protos.js';

const WIRE_BYTES = 2;

export interface ExampleRequestWire {
  model_spec?: ModelSpecMsg;
  /** The Input message's bytes; undefined when the request has none. */
  input?: Uint8Array;
}

export interface MultiInferenceRequestWire {
  tasks: InferenceTaskMsg[];
  input?: Uint8Array;
}

const types = new Map<string, protobuf.Type>();

function decodeMessage<T>(name: string, bytes: Uint8Array): T {
  let type = types.get(name);
  if (!type) types.set(name, (type = protobufRoot().lookupType(name)));
  try {
    return type.toObject(type.decode(bytes), LOADER_OPTIONS) as T;
  } catch (err) {
    throw new InvalidArgument(`malformed ${name}: ${(err as Error).message}`);
  }
}

/** Visits the length-delimited occurrences of top-level fields; other wire types are skipped. */
function forEachField(bytes: Uint8Array, visit: (field: number, value: Uint8Array) => void): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if ((tag & 7) === WIRE_BYTES) visit(tag >>> 3, reader.bytes());
    else reader.skipType(tag & 7);
  }
}

export function decodeExampleRequest(buffer: Buffer): ExampleRequestWire {
  const request: ExampleRequestWire = {};
  forEachField(buffer, (field, value) => {
    if (field === 1) request.model_spec = decodeMessage<ModelSpecMsg>('tensorflow.serving.ModelSpec', value);
    else if (field === 2) request.input = value;
  });
  return request;
}

export function decodeMultiInferenceRequest(buffer: Buffer): MultiInferenceRequestWire {
  const request: MultiInferenceRequestWire = { tasks: [] };
  forEachField(buffer, (field, value) => {
    if (field === 1) request.tasks.push(decodeMessage<InferenceTaskMsg>('tensorflow.serving.InferenceTask', value));
    else if (field === 2) request.input = value;
  });
  return request;
}

/**
 * Examples in an Input, counted on the wire without slicing them; stops once past `stopAfter`, so a request with
 * millions of examples costs no more than one over the limit.
 */
export function countExamples(input: Uint8Array, stopAfter = Infinity): number {
  let count = 0;
  forEachField(input, (field, list) => {
    if ((field !== 1 && field !== 2) || count > stopAfter) return;
    const reader = protobuf.Reader.create(list);
    while (reader.pos < reader.len && count <= stopAfter) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1) count++;
      reader.skipType(tag & 7);
    }
  });
  return count;
}

/** Checks the request's example count against `maxExamples` on the wire, before anything is decoded. */
function checkInputCount(input: Uint8Array, maxExamples: number): void {
  let count: number;
  try {
    count = countExamples(input, maxExamples);
  } catch (err) {
    throw new InvalidArgument(`malformed Input: ${(err as Error).message}`);
  }
  checkExampleCount(count, maxExamples);
}

/** The request's Input, decoded once its example count is within `maxExamples`. */
export function admitInput(request: ExampleRequestWire | MultiInferenceRequestWire, maxExamples: number): InputMsg {
  if (!request.input) return {};
  checkInputCount(request.input, maxExamples);
  return decodeMessage<InputMsg>('tensorflow.serving.Input', request.input);
}

/**
 * The request's examples as features, once their count is within `maxExamples`: read straight off the wire when the
 * Input has the common form (`readPlainExamples`), else decoded by protobufjs as `admitInput` does.
 */
export function admitExamples(
  request: ExampleRequestWire | MultiInferenceRequestWire,
  maxExamples: number,
): ExampleFeatures[] {
  if (request.input) {
    checkInputCount(request.input, maxExamples);
    const plain = readPlainExamples(request.input);
    if (plain) return plain;
  }
  return examplesFromInput(admitInput(request, maxExamples));
}

// ---------------------------------------------------------------------------------------------------------------
// The common Input, read without protobufjs. protobufjs decodes a packed float list one value at a time into an
// array, and toObject copies each list again: for one MNIST example (784 floats) that was ~20 % of a Classify call's
// event-loop CPU (docs/performance.md, "Round 7"). Here a packed float list is one copy into a Float32Array.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_FIXED32 = 5;
const LITTLE_ENDIAN = endianness() === 'LE';

/** Not the common form: the caller decodes with protobufjs, which also words any error. */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

/** A read position in a message's bytes; every read checks the message's end. */
class Cursor {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  /** A varint up to 2^32 - 1 (tags and lengths); anything longer or cut off is not plain. */
  uint32(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw NOT_PLAIN;
      const byte = this.bytes[this.pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (value > 0xffffffff) throw NOT_PLAIN;
        return value;
      }
    }
    throw NOT_PLAIN;
  }

  /** A field's tag; field number 0 does not exist (protobufjs refuses it). */
  tag(): number {
    const tag = this.uint32();
    if (tag >>> 3 === 0) throw NOT_PLAIN;
    return tag;
  }

  /** A length-delimited field's bounds, checked against the message's end. */
  delimited(): { start: number; end: number } {
    const length = this.uint32();
    const start = this.pos;
    if (length > this.end - start) throw NOT_PLAIN;
    this.pos = start + length;
    return { start, end: this.pos };
  }

  /** Skips a field of `wireType` (groups are not plain). */
  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.uint32Or64();
    else if (wireType === WIRE_FIXED64) this.advance(8);
    else if (wireType === WIRE_BYTES) this.delimited();
    else if (wireType === WIRE_FIXED32) this.advance(4);
    else throw NOT_PLAIN;
  }

  private uint32Or64(): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw NOT_PLAIN;
      if ((this.bytes[this.pos++] as number) < 0x80) return;
    }
    throw NOT_PLAIN;
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw NOT_PLAIN;
    this.pos += n;
  }
}

/**
 * The examples of an Input that holds one `example_list` (no context) whose features each carry exactly one list,
 * of floats or bytes, with every key UTF-8: the form clients send. Undefined for anything else (a context, int64
 * lists, a feature or list field repeated, no examples, malformed bytes…), which the caller decodes with protobufjs,
 * so the result is always what protobufjs and examplesFromInput would have made. Float values are copied into a
 * Float32Array; bytes values are views of the request's bytes.
 */
export function readPlainExamples(input: Uint8Array): ExampleFeatures[] | undefined {
  try {
    const top = new Cursor(input, 0, input.length);
    let list: { start: number; end: number } | undefined;
    while (top.pos < top.end) {
      const tag = top.tag();
      if (tag >>> 3 === 1 && (tag & 7) === WIRE_BYTES && !list) list = top.delimited();
      else if (tag >>> 3 === 1 || tag >>> 3 === 2) return undefined;
      else top.skip(tag & 7);
    }
    if (!list) return undefined;
    const examples: ExampleFeatures[] = [];
    const cursor = new Cursor(input, list.start, list.end);
    while (cursor.pos < cursor.end) {
      const tag = cursor.tag();
      if (tag === ((1 << 3) | WIRE_BYTES)) {
        const { start, end } = cursor.delimited();
        examples.push(readExample(input, start, end));
      } else if (tag >>> 3 === 1) throw NOT_PLAIN;
      else cursor.skip(tag & 7);
    }
    return examples.length === 0 ? undefined : examples;
  } catch (err) {
    if (err instanceof NotPlain) return undefined;
    throw err;
  }
}

/** Example{1 features} (once: protobufjs keeps only the last), Features{1 map<string, Feature>}: the last key wins. */
function readExample(bytes: Uint8Array, start: number, end: number): ExampleFeatures {
  const out: ExampleFeatures = {};
  const example = new Cursor(bytes, start, end);
  let seen = false;
  while (example.pos < example.end) {
    const tag = example.tag();
    if (tag !== ((1 << 3) | WIRE_BYTES) || seen) {
      if (tag >>> 3 === 1) throw NOT_PLAIN;
      example.skip(tag & 7);
      continue;
    }
    seen = true;
    const features = example.delimited();
    const map = new Cursor(bytes, features.start, features.end);
    while (map.pos < map.end) {
      const mapTag = map.tag();
      if (mapTag !== ((1 << 3) | WIRE_BYTES)) {
        if (mapTag >>> 3 === 1) throw NOT_PLAIN;
        map.skip(mapTag & 7);
        continue;
      }
      const entry = map.delimited();
      readEntry(bytes, entry.start, entry.end, out);
    }
  }
  return out;
}

/** One map entry {1 key, 2 value}: both present once, else not plain. */
function readEntry(bytes: Uint8Array, start: number, end: number, out: ExampleFeatures): void {
  const entry = new Cursor(bytes, start, end);
  let key: string | undefined;
  let value: FeatureValue | undefined;
  while (entry.pos < entry.end) {
    const tag = entry.tag();
    if (tag === ((1 << 3) | WIRE_BYTES) && key === undefined) {
      const at = entry.delimited();
      key = utf8Text(bytes.subarray(at.start, at.end));
      if (key === undefined) throw NOT_PLAIN;
    } else if (tag === ((2 << 3) | WIRE_BYTES) && value === undefined) {
      const at = entry.delimited();
      value = readFeature(bytes, at.start, at.end);
    } else throw NOT_PLAIN;
  }
  if (key === undefined || value === undefined) throw NOT_PLAIN;
  out[key] = value;
}

/** Feature{1 bytes_list, 2 float_list, 3 int64_list}: exactly one float or bytes list. */
function readFeature(bytes: Uint8Array, start: number, end: number): FeatureValue {
  const feature = new Cursor(bytes, start, end);
  let value: FeatureValue | undefined;
  while (feature.pos < feature.end) {
    const tag = feature.tag();
    if (value !== undefined || (tag & 7) !== WIRE_BYTES) throw NOT_PLAIN;
    const at = feature.delimited();
    if (tag >>> 3 === 2) value = { kind: 'float_list', values: readFloats(bytes, at.start, at.end) };
    else if (tag >>> 3 === 1) value = { kind: 'bytes_list', values: readBytesList(bytes, at.start, at.end) };
    else throw NOT_PLAIN;
  }
  if (value === undefined) throw NOT_PLAIN;
  return value;
}

/** FloatList{1 repeated float}: one packed run, or unpacked values; not both. */
function readFloats(bytes: Uint8Array, start: number, end: number): Float32Array {
  const list = new Cursor(bytes, start, end);
  let packed: Float32Array | undefined;
  const single: number[] = [];
  while (list.pos < list.end) {
    const tag = list.tag();
    if (tag === ((1 << 3) | WIRE_BYTES) && packed === undefined && single.length === 0) {
      const run = list.delimited();
      if ((run.end - run.start) % 4 !== 0) throw NOT_PLAIN;
      packed = floatsAt(bytes, run.start, (run.end - run.start) / 4);
    } else if (tag === ((1 << 3) | WIRE_FIXED32) && packed === undefined) {
      const at = list.pos;
      list.skip(WIRE_FIXED32);
      single.push(floatsAt(bytes, at, 1)[0] as number);
    } else if (tag >>> 3 === 1) throw NOT_PLAIN;
    else list.skip(tag & 7);
  }
  return packed ?? Float32Array.from(single);
}

/** `count` little-endian float32 values at `offset`, copied. */
function floatsAt(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + count * 4));
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** BytesList{1 repeated bytes}: views of the request's bytes. */
function readBytesList(bytes: Uint8Array, start: number, end: number): Uint8Array[] {
  const list = new Cursor(bytes, start, end);
  const values: Uint8Array[] = [];
  while (list.pos < list.end) {
    const tag = list.tag();
    if (tag === ((1 << 3) | WIRE_BYTES)) {
      const at = list.delimited();
      values.push(bytes.subarray(at.start, at.end));
    } else if (tag >>> 3 === 1) throw NOT_PLAIN;
    else list.skip(tag & 7);
  }
  return values;
}
