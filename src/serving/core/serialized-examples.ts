/**
 * Serialized tf.Examples (a DT_STRING tensor's elements) read into features, for a signature that parses examples
 * in its graph (an imported ParseExample) and is sent them as a Predict tensor. Read straight off the wire, as
 * example.proto lays them out: Example{1 features}, Features{1 map<string, Feature> feature} (entries: 1 key,
 * 2 value), Feature{1 bytes_list, 2 float_list, 3 int64_list}, each list {1 repeated value} (numbers packed or not).
 * bytes values stay views of the element (zero-copy).
 */
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../errors.js';
import { bytesForMessage, utf8Text } from '../../graph/utf8.js';
import type { ExampleFeatures, FeatureElement, FeatureValue } from './example-parsing.js';

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

/** The features of each serialized example; an element that does not parse is INVALID_ARGUMENT naming it. */
export function examplesFromSerialized(elements: readonly Uint8Array[]): ExampleFeatures[] {
  // A TensorProto that repeats its last value fills the shape with one array: parse it once.
  const parsed = new Map<Uint8Array, ExampleFeatures>();
  return elements.map((bytes, index) => {
    let features = parsed.get(bytes);
    if (!features) {
      try {
        features = readExample(bytes);
      } catch (err) {
        const shown = bytesForMessage(bytes.subarray(0, 64));
        throw new InvalidArgument(
          `Could not parse example input, value: '${shown}${bytes.length > 64 ? '…' : ''}' ` +
            `(serialized example ${index}: ${(err as Error).message})`,
        );
      }
      parsed.set(bytes, features);
    }
    return features;
  });
}

/** Each length-delimited field's bytes (other wire types skipped), as `visit(field, bytes)`. */
function forEachDelimited(bytes: Uint8Array, visit: (field: number, value: Uint8Array) => void): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if ((tag & 7) === WIRE_BYTES) visit(tag >>> 3, reader.bytes());
    else reader.skipType(tag & 7);
  }
}

function readExample(bytes: Uint8Array): ExampleFeatures {
  const out: ExampleFeatures = {};
  forEachDelimited(bytes, (field, features) => {
    if (field !== 1) return;
    forEachDelimited(features, (f, entry) => {
      if (f !== 1) return;
      let key = '';
      let value: FeatureValue = { kind: 'json', values: [] };
      forEachDelimited(entry, (e, v) => {
        if (e === 1) {
          const text = utf8Text(v);
          if (text === undefined) throw new Error('a feature key is not UTF-8');
          key = text;
        } else if (e === 2) value = readFeature(v);
      });
      // Later entries win, as protobuf's map parsing keeps the last value of a key.
      out[key] = value;
    });
  });
  return out;
}

function readFeature(bytes: Uint8Array): FeatureValue {
  let value: FeatureValue = { kind: 'json', values: [] };
  forEachDelimited(bytes, (field, list) => {
    if (field === 1) value = { kind: 'bytes_list', values: readList(list, WIRE_BYTES, (r) => r.bytes()) };
    else if (field === 2) value = { kind: 'float_list', values: readList(list, WIRE_FIXED32, (r) => r.float()) };
    else if (field === 3) {
      value = { kind: 'int64_list', values: readList(list, WIRE_VARINT, (r) => BigInt(String(r.int64()))) };
    }
  });
  return value;
}

/** Field 1 of a list message: unpacked occurrences of `wireType`, or packed runs (numbers). */
function readList(
  bytes: Uint8Array,
  wireType: number,
  readOne: (reader: protobuf.Reader) => FeatureElement,
): FeatureElement[] {
  const values: FeatureElement[] = [];
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 !== 1) {
      reader.skipType(tag & 7);
      continue;
    }
    if ((tag & 7) === wireType) values.push(readOne(reader));
    else if ((tag & 7) === WIRE_BYTES && wireType !== WIRE_BYTES) {
      const end = reader.uint32() + reader.pos;
      if (end > reader.len) throw new Error('a packed list runs past its message');
      while (reader.pos < end) values.push(readOne(reader));
    } else throw new Error(`a list value has wire type ${tag & 7}`);
  }
  return values;
}
