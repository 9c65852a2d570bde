/**
 * TF Serving's REST Predict JSON (api_rest.md, util/json_tensor.cc): row ("instances") and columnar ("inputs")
 * requests converted with the signature's input dtypes, and the matching "predictions" / "outputs" responses.
 */
import { InvalidArgument } from '../../../errors.js';
import { allocate, tfTypeName, type DType, type TensorData } from '../../../graph/dtype.js';
import { HostTensor } from '../../../graph/host-tensor.js';
import type { TensorSpec } from '../../core/types.js';
import { tensorJson } from './json-format.js';
import {
  b64Value,
  isJsonObject,
  jsonTypeName,
  nonFiniteMarker,
  type JsonObject,
  type JsonValue,
} from './json-parse.js';

export type PredictFormat = 'row' | 'columnar';

export interface DecodedPredict {
  format: PredictFormat;
  inputs: Record<string, HostTensor>;
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function typeError(value: JsonValue, dtype: DType): InvalidArgument {
  return new InvalidArgument(
    `JSON Value: ${JSON.stringify(value)} Type: ${jsonTypeName(value)} is not of expected type: ${tfTypeName(dtype)}`,
  );
}

function isLeaf(value: JsonValue): boolean {
  return !Array.isArray(value);
}

/** Shape read off the first element at each level, as TF Serving does. */
function inferShape(value: JsonValue): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0] as JsonValue;
  }
  return shape;
}

function setElement(data: TensorData, at: number, value: JsonValue, dtype: DType): void {
  if (dtype === 'string') {
    const bytes = b64Value(value);
    if (bytes) (data as string[])[at] = bytes.toString('utf8');
    else if (typeof value === 'string' && nonFiniteMarker(value) === undefined) (data as string[])[at] = value;
    else throw typeError(value, dtype);
    return;
  }
  if (dtype === 'bool') {
    if (typeof value !== 'boolean') throw typeError(value, dtype);
    (data as Uint8Array)[at] = value ? 1 : 0;
    return;
  }
  const number = typeof value === 'number' ? value : nonFiniteMarker(value);
  if (number === undefined) throw typeError(value, dtype);
  if (dtype === 'float32' || dtype === 'float64') {
    (data as Float32Array)[at] = number;
    return;
  }
  const range = INT_RANGE[dtype] as [number, number];
  if (!Number.isInteger(number) || number < range[0] || number > range[1]) throw typeError(value, dtype);
  if (dtype === 'int64') (data as BigInt64Array)[at] = BigInt(number);
  else (data as Int32Array)[at] = number;
}

/** A JSON value (scalar or nested lists) as a tensor of `dtype`; ragged lists are rejected. */
export function jsonToTensor(value: JsonValue, dtype: DType, alias: string): HostTensor {
  const shape = inferShape(value);
  const size = shape.reduce((n, d) => n * d, 1);
  const data = allocate(dtype, size);
  let next = 0;
  const walk = (v: JsonValue, level: number) => {
    if (level === shape.length) {
      if (!isLeaf(v))
        throw new InvalidArgument(`Encountered list found at incorrect level: ${level} for input: ${alias}`);
      setElement(data, next++, v, dtype);
      return;
    }
    if (!Array.isArray(v)) {
      throw new InvalidArgument(`Encountered scalar found at incorrect level: ${level} for input: ${alias}`);
    }
    if (v.length !== shape[level]) {
      throw new InvalidArgument(
        `Encountered list at unexpected size: ${v.length} at level: ${level} expected size: ${shape[level]} for input: ${alias}`,
      );
    }
    for (const item of v) walk(item, level + 1);
  };
  walk(value, 0);
  return new HostTensor(dtype, shape, data);
}

export function decodePredictBody(body: JsonObject, specs: Record<string, TensorSpec>): DecodedPredict {
  const hasInstances = 'instances' in body;
  const hasInputs = 'inputs' in body;
  if (hasInstances && hasInputs) {
    throw new InvalidArgument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist");
  }
  if (!hasInstances && !hasInputs) throw new InvalidArgument("Missing 'inputs' or 'instances' key");
  const aliases = Object.keys(specs);
  const inputs: Record<string, HostTensor> = {};
  if (hasInstances) {
    const instances = body.instances as JsonValue;
    if (!Array.isArray(instances) || instances.length === 0) {
      throw new InvalidArgument("Expecting 'instances' to be an list/array with at least one element");
    }
    if (aliases.length === 1) {
      const alias = aliases[0] as string;
      // A lone input may still be written as {alias: value} per instance.
      const rows = instances.map((row) =>
        isJsonObject(row) && !b64Value(row) && alias in row ? (row[alias] as JsonValue) : row,
      );
      inputs[alias] = jsonToTensor(rows, (specs[alias] as TensorSpec).dtype, alias);
    } else {
      for (const row of instances) {
        if (!isJsonObject(row)) throw new InvalidArgument(`Expecting object but got list at item 0 of input list`);
        for (const alias of aliases) {
          if (!(alias in row)) throw new InvalidArgument(`JSON object: does not have named input: ${alias}`);
        }
        for (const key of Object.keys(row)) {
          if (!(key in specs)) throw new InvalidArgument(`JSON object: has unexpected named input: ${key}`);
        }
      }
      for (const alias of aliases) {
        const rows = instances.map((row) => (row as JsonObject)[alias] as JsonValue);
        inputs[alias] = jsonToTensor(rows, (specs[alias] as TensorSpec).dtype, alias);
      }
    }
    return { format: 'row', inputs };
  }
  const columns = body.inputs as JsonValue;
  const named = isJsonObject(columns) && !b64Value(columns);
  if (aliases.length === 1 && !(named && (aliases[0] as string) in columns)) {
    const alias = aliases[0] as string;
    inputs[alias] = jsonToTensor(columns, (specs[alias] as TensorSpec).dtype, alias);
    return { format: 'columnar', inputs };
  }
  if (!named) throw new InvalidArgument(`'inputs' must be an object with one entry per input: ${aliases.join(', ')}`);
  for (const alias of aliases) {
    if (!(alias in columns)) throw new InvalidArgument(`Missing named input: ${alias} in 'inputs' object.`);
    inputs[alias] = jsonToTensor(columns[alias] as JsonValue, (specs[alias] as TensorSpec).dtype, alias);
  }
  return { format: 'columnar', inputs };
}

/** `{"predictions": …}` for row requests, `{"outputs": …}` for columnar ones. */
export function encodePredictResponse(format: PredictFormat, outputs: Record<string, HostTensor>): string {
  const entries = Object.entries(outputs);
  if (format === 'columnar') {
    if (entries.length === 1)
      return `{"outputs": ${tensorJson(entries[0]?.[1] as HostTensor, entries[0]?.[0] as string)}}`;
    return `{"outputs": {${entries.map(([alias, t]) => `${JSON.stringify(alias)}: ${tensorJson(t, alias)}`).join(', ')}}}`;
  }
  let batch: number | undefined;
  for (const [alias, tensor] of entries) {
    if (tensor.rank === 0) throw new InvalidArgument(`Tensor name: ${alias} has no shape information`);
    batch ??= tensor.shape[0];
    if (tensor.shape[0] !== batch) {
      throw new InvalidArgument(
        `Tensor name: ${alias} has inconsistent batch size: ${tensor.shape[0]} expecting: ${batch}`,
      );
    }
  }
  const rows: string[] = [];
  for (let i = 0; i < (batch ?? 0); i++) {
    if (entries.length === 1) rows.push(tensorJson(entries[0]?.[1] as HostTensor, entries[0]?.[0] as string, i));
    else
      rows.push(`{${entries.map(([alias, t]) => `${JSON.stringify(alias)}: ${tensorJson(t, alias, i)}`).join(', ')}}`);
  }
  return `{"predictions": [${rows.join(', ')}]}`;
}
