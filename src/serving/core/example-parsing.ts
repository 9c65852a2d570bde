/**
 * tf.Examples → the dense tensors of an imported ParseExample/ParseExampleV2 (a signature's `parseExamples`),
 * with TensorFlow's rules (example_proto_fast_parsing.cc): every dense feature is parsed for every example, a
 * feature an example lacks takes its default, or, without one, is an error; the value's list type must be the
 * feature's dtype, and its value count the feature shape's size.
 */
import { InvalidArgument } from '../../errors.js';
import type { TensorData } from '../../graph/dtype.js';
import { HostTensor, shapeSize } from '../../graph/host-tensor.js';
import { utf8Bytes } from '../../graph/utf8.js';
import type { ExampleFeatureSpec, ParsedFeatureSpec, ParseExamplesSpec } from './types.js';
import { allocateForRequest } from '../request-buffers.js';

export type FeatureKind = ExampleFeatureSpec['kind'];

export type FeatureElement = number | bigint | string | boolean | Uint8Array;

export interface FeatureValue {
  /** 'json' = from a REST request, kind decided by the signature. */
  kind: FeatureKind | 'json';
  values: ArrayLike<FeatureElement>;
}

export type ExampleFeatures = Record<string, FeatureValue>;

/** TF's names of the feature list types, as its parse errors spell them. */
export const FEATURE_TYPE_NAME: Record<FeatureKind | 'json', string> = {
  float_list: 'float',
  int64_list: 'int64',
  bytes_list: 'string',
  json: 'json',
};

const KIND_OF_DTYPE: Record<ParsedFeatureSpec['dtype'], FeatureKind> = {
  float32: 'float_list',
  int64: 'int64_list',
  string: 'bytes_list',
};

/**
 * The model inputs (by ONNX tensor name) that `examples` parse into. Each feature's tensor is [N, ...shape];
 * a feature no model input reads is still parsed and checked, as TF's op checks it.
 */
export function parseExampleFeeds(
  spec: ParseExamplesSpec,
  examples: readonly ExampleFeatures[],
): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const [key, feature] of Object.entries(spec.features)) {
    const tensor = parseDenseFeature(key, feature, examples);
    for (const name of feature.tensors) feeds[name] = tensor;
  }
  return feeds;
}

function parseDenseFeature(key: string, feature: ParsedFeatureSpec, examples: readonly ExampleFeatures[]): HostTensor {
  const kind = KIND_OF_DTYPE[feature.dtype];
  const typeName = FEATURE_TYPE_NAME[kind];
  const perExample = shapeSize(feature.shape);
  const data = allocateForRequest(feature.dtype, examples.length * perExample);
  examples.forEach((example, index) => {
    const value = example[key];
    const at = index * perExample;
    // A Feature with no list set (kind unknown, no values) counts as absent, as TF skips DT_INVALID features.
    if (!value || (value.kind === 'json' && value.values.length === 0)) {
      if (!feature.defaultValue) {
        throw new InvalidArgument(
          `Name: <unknown>, Feature: ${key} (data type: ${typeName}) is required but could not be found.`,
        );
      }
      writeDefault(data, at, feature.defaultValue);
      return;
    }
    if (value.kind !== 'json' && value.kind !== kind) {
      throw new InvalidArgument(
        `Name: <unknown>, Key: ${key}, Index: ${index}.  Data types don't match. Data type: ` +
          `${FEATURE_TYPE_NAME[value.kind]} but expected type: ${typeName}`,
      );
    }
    if (value.values.length !== perExample) {
      throw new InvalidArgument(
        `Name: <unknown>, Key: ${key}, Index: ${index}.  Number of ${typeName} values != expected.  ` +
          `Values size: ${value.values.length} but output shape: [${feature.shape.join(',')}]`,
      );
    }
    writeElements(data, at, value.values, key, typeName);
  });
  return new HostTensor(feature.dtype, [examples.length, ...feature.shape], data);
}

function writeDefault(data: TensorData, offset: number, values: readonly (number | string | { b64: string })[]): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number | string | { b64: string };
    if (typeof v === 'object') {
      if (Array.isArray(data)) data[offset + i] = new Uint8Array(Buffer.from(v.b64, 'base64'));
      continue;
    }
    if (Array.isArray(data)) data[offset + i] = utf8Bytes(String(v));
    else if (data instanceof BigInt64Array) data[offset + i] = BigInt(v);
    else data[offset + i] = Number(v);
  }
}

function writeElements(
  data: TensorData,
  offset: number,
  values: ArrayLike<FeatureElement>,
  key: string,
  typeName: string,
): void {
  const bad = (v: FeatureElement) =>
    new InvalidArgument(
      `Unexpected element type in feature: ${key} expecting type: ${typeName} (got ${v instanceof Uint8Array ? 'string' : typeof v})`,
    );
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as FeatureElement;
    const at = offset + i;
    if (Array.isArray(data)) {
      if (typeof v === 'string') data[at] = utf8Bytes(v);
      else if (v instanceof Uint8Array) data[at] = v;
      else throw bad(v);
    } else if (data instanceof BigInt64Array) {
      if (typeof v === 'bigint') data[at] = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) data[at] = BigInt(v);
      else throw bad(v);
    } else if (typeof v === 'number') data[at] = v;
    else if (typeof v === 'bigint') data[at] = Number(v);
    else throw bad(v);
  }
}
