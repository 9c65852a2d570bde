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
import { MalformedMessage, WIRE_BYTES, WIRE_FIXED32, WireReader } from './v2/wire-reader.js';
import type { InferenceTaskMsg, InputMsg, ModelSpecMsg } from '../shared/proto-types.js';
import { LOADER_OPTIONS, protobufRoot } from '../shared/protos.js';
import { allocateForRequest } from '../../request-buffers.js';
import { decodeModelSpec } from './predict-wire.js';

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
    if (field === 1) {
      try {
        request.model_spec = decodeModelSpec(value);
      } catch (err) {
        throw new InvalidArgument(`malformed tensorflow.serving.ModelSpec: ${(err as Error).message}`);
      }
    } else if (field === 2) request.input = value;
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

const LITTLE_ENDIAN = endianness() === 'LE';

/** Not the common form: the caller decodes with protobufjs, which also words any error. */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

/**
 * The next tag as [field, wire type]. A tag protobufjs would read differently (field 0, which it refuses, or one of
 * 2^32 or more, which it truncates) is not plain.
 */
function plainTag(r: WireReader): [number, number] {
  const [field, wireType] = r.tag();
  if (!(field >= 1 && field <= 0x1fffffff)) throw NOT_PLAIN;
  return [field, wireType];
}

/**
 * The examples of an Input that holds one `example_list` (no context) whose features each carry exactly one list,
 * of floats or bytes, with every key UTF-8: the form clients send. Undefined for anything else (a context, int64
 * lists, a feature or list field repeated, no examples, malformed bytes…), which the caller decodes with protobufjs,
 * so the result is always what protobufjs and examplesFromInput would have made. Float values are copied into a
 * Float32Array; bytes values are views of the request's bytes. Read with the v2 wire reader (wire-reader.ts).
 */
export function readPlainExamples(input: Uint8Array): ExampleFeatures[] | undefined {
  try {
    const top = new WireReader(input, 'tensorflow.serving.Input');
    let list: [number, number] | undefined;
    while (!top.done) {
      const [field, wireType] = plainTag(top);
      if (field === 1 && wireType === WIRE_BYTES && !list) list = top.delimited();
      else if (field === 1 || field === 2) return undefined;
      else top.skip(wireType);
    }
    if (!list) return undefined;
    const examples: ExampleFeatures[] = [];
    const reader = top.sub(list[0], list[1], 'tensorflow.serving.ExampleList');
    while (!reader.done) {
      const [field, wireType] = plainTag(reader);
      if (field === 1 && wireType === WIRE_BYTES)
        examples.push(readExample(reader.sub(...reader.delimited(), 'Example')));
      else if (field === 1) throw NOT_PLAIN;
      else reader.skip(wireType);
    }
    return examples.length === 0 ? undefined : examples;
  } catch (err) {
    if (err instanceof NotPlain || err instanceof MalformedMessage) return undefined;
    throw err;
  }
}

/** Example{1 features} (once: protobufjs keeps only the last), Features{1 map<string, Feature>}: the last key wins. */
function readExample(example: WireReader): ExampleFeatures {
  const out: ExampleFeatures = {};
  let seen = false;
  while (!example.done) {
    const [field, wireType] = plainTag(example);
    if (field !== 1 || wireType !== WIRE_BYTES || seen) {
      if (field === 1) throw NOT_PLAIN;
      example.skip(wireType);
      continue;
    }
    seen = true;
    const map = example.sub(...example.delimited(), 'Features');
    while (!map.done) {
      const [mapField, mapWireType] = plainTag(map);
      if (mapField !== 1 || mapWireType !== WIRE_BYTES) {
        if (mapField === 1) throw NOT_PLAIN;
        map.skip(mapWireType);
        continue;
      }
      readEntry(map.sub(...map.delimited(), 'Features.FeatureEntry'), out);
    }
  }
  return out;
}

/** One map entry {1 key, 2 value}: both present once, else not plain. */
function readEntry(entry: WireReader, out: ExampleFeatures): void {
  let key: string | undefined;
  let value: FeatureValue | undefined;
  while (!entry.done) {
    const [field, wireType] = plainTag(entry);
    if (field === 1 && wireType === WIRE_BYTES && key === undefined) {
      const [start, end] = entry.delimited();
      key = utf8Text(entry.bytes.subarray(start, end));
      if (key === undefined) throw NOT_PLAIN;
    } else if (field === 2 && wireType === WIRE_BYTES && value === undefined) {
      value = readFeature(entry.sub(...entry.delimited(), 'Feature'));
    } else throw NOT_PLAIN;
  }
  if (key === undefined || value === undefined) throw NOT_PLAIN;
  out[key] = value;
}

/** Feature{1 bytes_list, 2 float_list, 3 int64_list}: exactly one float or bytes list. */
function readFeature(feature: WireReader): FeatureValue {
  let value: FeatureValue | undefined;
  while (!feature.done) {
    const [field, wireType] = plainTag(feature);
    if (value !== undefined || wireType !== WIRE_BYTES) throw NOT_PLAIN;
    const list = feature.sub(...feature.delimited(), 'Feature list');
    if (field === 2) value = { kind: 'float_list', values: readFloats(list) };
    else if (field === 1) value = { kind: 'bytes_list', values: readBytesList(list) };
    else throw NOT_PLAIN;
  }
  if (value === undefined) throw NOT_PLAIN;
  return value;
}

/** FloatList{1 repeated float}: one packed run, or unpacked values; not both. */
function readFloats(list: WireReader): Float32Array {
  let packed: Float32Array | undefined;
  const single: number[] = [];
  while (!list.done) {
    const [field, wireType] = plainTag(list);
    if (field === 1 && wireType === WIRE_BYTES && packed === undefined && single.length === 0) {
      const [start, end] = list.delimited();
      if ((end - start) % 4 !== 0) throw NOT_PLAIN;
      packed = floatsAt(list.bytes, start, (end - start) / 4);
    } else if (field === 1 && wireType === WIRE_FIXED32 && packed === undefined) {
      const at = list.pos;
      list.skip(WIRE_FIXED32);
      single.push(floatsAt(list.bytes, at, 1)[0] as number);
    } else if (field === 1) throw NOT_PLAIN;
    else list.skip(wireType);
  }
  return packed ?? Float32Array.from(single);
}

/** `count` little-endian float32 values at `offset`, copied. */
function floatsAt(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = allocateForRequest('float32', count) as Float32Array;
  if (LITTLE_ENDIAN)
    new Uint8Array(out.buffer, out.byteOffset, count * 4).set(bytes.subarray(offset, offset + count * 4));
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** BytesList{1 repeated bytes}: views of the request's bytes. */
function readBytesList(list: WireReader): Uint8Array[] {
  const values: Uint8Array[] = [];
  while (!list.done) {
    const [field, wireType] = plainTag(list);
    if (field === 1 && wireType === WIRE_BYTES) {
      const [start, end] = list.delimited();
      values.push(list.bytes.subarray(start, end));
    } else if (field === 1) throw NOT_PLAIN;
    else list.skip(wireType);
  }
  return values;
}
