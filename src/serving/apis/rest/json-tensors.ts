/**
 * TF Serving's REST Predict JSON (api_rest.md, util/json_tensor.cc): row ("instances") and columnar ("inputs")
 * requests converted with the signature's input dtypes, and the matching "predictions" / "outputs" responses.
 */
import { InvalidArgument } from '../../../errors.js';
import {
  allocate,
  float16Bits,
  isBigIntDType,
  tfTypeName,
  type DType,
  type StringData,
  type TensorData,
} from '../../../graph/dtype.js';
import { utf8Bytes } from '../../../graph/utf8.js';
import { HostTensor } from '../../../graph/host-tensor.js';
import type { InputAdmission, TensorHeader } from '../../core/request-limits.js';
import type { TensorSpec } from '../../core/types.js';
import { joinPieces, tensorPieces, type JsonPiece } from './json-format.js';
import { FALSE, NUMBER, PackedArray, PackedCursor, TRUE } from './json-packed.js';
import { LongText } from './long-text.js';
import {
  LONG_STRING_BYTES,
  stringWork,
  WorkSlices,
  yieldToEventLoop,
  type JsonObject,
  type JsonValue,
} from './json-reader.js';
import {
  b64Value,
  isB64Object,
  isJsonArray,
  isJsonObject,
  isJsonString,
  longBase64Value,
  longUtf8Value,
  jsonTypeName,
  previewJson,
  previewText,
} from './json-values.js';

export type PredictFormat = 'row' | 'columnar';

export interface DecodedPredict {
  format: PredictFormat;
  inputs: Record<string, HostTensor>;
}

/** Called with an input's dtype, shape and string bytes before its storage is allocated; throws to refuse it. */
export type AdmitTensor = (header: TensorHeader) => void;

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/** Elements converted between two yields to the event loop (a few milliseconds of work). */
const ELEMENTS_PER_SLICE = 1 << 16;

function typeError(valueText: string, typeName: string, dtype: DType): InvalidArgument {
  return new InvalidArgument(
    `JSON Value: ${valueText} Type: ${typeName} is not of expected type: ${tfTypeName(dtype)}`,
  );
}

function valueTypeError(value: JsonValue, dtype: DType): InvalidArgument {
  return typeError(previewJson(value), jsonTypeName(value), dtype);
}

/** Shape read off the first element at each level, as TF Serving does. */
function inferShape(value: JsonValue): number[] {
  const shape: number[] = [];
  let v = value;
  for (;;) {
    if (v instanceof PackedArray) {
      shape.push(...v.shape);
      return shape;
    }
    if (!Array.isArray(v)) return shape;
    shape.push(v.length);
    if (v.length === 0) return shape;
    v = v[0] as JsonValue;
  }
}

/** A packed array at `level` must have the remaining dims of `shape`; TF Serving's messages for each mismatch. */
function checkPackedShape(packed: PackedArray, shape: readonly number[], level: number, alias: string): void {
  for (let k = 0; ; k++) {
    const at = level + k;
    if (at === shape.length) {
      if (k < packed.shape.length) {
        throw new InvalidArgument(`Encountered list found at incorrect level: ${at} for input: ${alias}`);
      }
      return;
    }
    if (k === packed.shape.length) {
      throw new InvalidArgument(`Encountered scalar found at incorrect level: ${at} for input: ${alias}`);
    }
    const size = packed.shape[k] as number;
    if (size !== shape[at]) {
      throw new InvalidArgument(
        `Encountered list at unexpected size: ${size} at level: ${at} expected size: ${shape[at]} for input: ${alias}`,
      );
    }
    if (size === 0) return;
  }
}

/**
 * The leaves of `value` in order: scalars at the last level, or packed arrays holding the remaining levels, after
 * checking that every list has the size the first element at its level set (ragged lists are rejected).
 */
function* leaves(value: JsonValue, shape: readonly number[], alias: string): Generator<JsonValue> {
  // Explicit stack of [list, next index]: nesting is bounded by the reader, but recursion is not needed.
  if (shape.length === 0 || value instanceof PackedArray) {
    if (value instanceof PackedArray) checkPackedShape(value, shape, 0, alias);
    else if (isJsonArray(value))
      throw new InvalidArgument(`Encountered list found at incorrect level: 0 for input: ${alias}`);
    yield value;
    return;
  }
  const lists: JsonValue[][] = [value as JsonValue[]];
  const next: number[] = [0];
  if ((value as JsonValue[]).length !== shape[0]) throw new TypeError('inferShape disagrees with the value');
  while (lists.length > 0) {
    const level = lists.length;
    const list = lists[level - 1] as JsonValue[];
    const index = next[level - 1] as number;
    if (index === list.length) {
      lists.pop();
      next.pop();
      continue;
    }
    next[level - 1] = index + 1;
    const item = list[index] as JsonValue;
    if (level === shape.length) {
      if (isJsonArray(item)) {
        throw new InvalidArgument(`Encountered list found at incorrect level: ${level} for input: ${alias}`);
      }
      yield item;
    } else if (item instanceof PackedArray) {
      checkPackedShape(item, shape, level, alias);
      yield item;
    } else if (Array.isArray(item)) {
      if (item.length !== shape[level]) {
        throw new InvalidArgument(
          `Encountered list at unexpected size: ${item.length} at level: ${level} expected size: ${shape[level]} for input: ${alias}`,
        );
      }
      lists.push(item);
      next.push(0);
    } else {
      throw new InvalidArgument(`Encountered scalar found at incorrect level: ${level} for input: ${alias}`);
    }
  }
}

/** One ordinary JSON scalar into element `at` of `data`. */
function setElement(data: TensorData, at: number, value: JsonValue, dtype: DType): void {
  if (dtype === 'string') {
    // {"b64": …} is the element's raw bytes; a JSON string stands for its UTF-8 bytes.
    const bytes = b64Value(value);
    if (bytes) (data as StringData)[at] = bytes;
    else if (typeof value === 'string') (data as StringData)[at] = utf8Bytes(value);
    else throw valueTypeError(value, dtype);
    return;
  }
  if (dtype === 'bool') {
    if (typeof value !== 'boolean') throw valueTypeError(value, dtype);
    (data as Uint8Array)[at] = value ? 1 : 0;
    return;
  }
  if (typeof value !== 'number') throw valueTypeError(value, dtype);
  setNumber(data, at, value, dtype, () => previewJson(value));
}

function setNumber(data: TensorData, at: number, value: number, dtype: DType, text: () => string): void {
  if (dtype === 'float32' || dtype === 'float64') {
    (data as Float32Array)[at] = value;
    return;
  }
  if (dtype === 'float16') {
    (data as Uint16Array)[at] = float16Bits(value);
    return;
  }
  const range = INT_RANGE[dtype] as [number, number];
  if (!Number.isInteger(value) || value < range[0] || value > range[1]) throw typeError(text(), 'Number', dtype);
  if (isBigIntDType(dtype)) (data as BigInt64Array)[at] = BigInt(value);
  else (data as Int32Array)[at] = value;
}

/** float32 has its own faster conversion in the cursor (PackedCursor.float32); the wider floats parse in one go. */
const parsesWhole = (dtype: DType) => dtype === 'float64' || dtype === 'float16';

/**
 * A small packed array of numbers into a float tensor from `at`, through one JSON.parse (PackedArray.flatNumbers);
 * false when that does not apply, and the cursor reads it. Floats take every number, so no element can fail here.
 */
function fillFromParsed(packed: PackedArray, data: TensorData, at: number, dtype: DType): boolean {
  const numbers = packed.flatNumbers();
  if (!numbers) return false;
  if (dtype === 'float16') {
    for (let k = 0; k < numbers.length; k++) (data as Uint16Array)[at + k] = float16Bits(numbers[k] as number);
  } else (data as Float32Array | Float64Array).set(numbers, at);
  return true;
}

/** Converts up to `count` elements from the cursor into `data` from `at`; returns how many it converted. */
function fillFromCursor(cursor: PackedCursor, data: TensorData, at: number, count: number, dtype: DType): number {
  for (let n = 0; n < count; n++) {
    if (!cursor.next()) return n;
    const kind = cursor.kind;
    if (kind === NUMBER && dtype === 'float32') {
      (data as Float32Array)[at + n] = cursor.float32();
    } else if (kind === NUMBER && dtype !== 'string' && dtype !== 'bool') {
      setNumber(data, at + n, cursor.number(), dtype, () => previewText(cursor.text()));
    } else if (kind !== NUMBER && dtype === 'bool') {
      (data as Uint8Array)[at + n] = kind === TRUE ? 1 : 0;
    } else {
      const typeName = kind === NUMBER ? 'Number' : kind === FALSE ? 'False' : 'True';
      throw typeError(previewText(cursor.text()), typeName, dtype);
    }
  }
  return count;
}

/** The leaf's work (json-reader.ts, stringWork): a long string or base64 is measured, then encoded or decoded. */
function leafWork(leaf: JsonValue): number {
  return stringWork(isJsonString(leaf) ? leaf : isB64Object(leaf) ? leaf.b64 : '');
}

/**
 * Bytes a string leaf will take once decoded (base64 counted at its decoded size), for the admission. A LongText's
 * are counted by the caller (LongText.utf8ByteLength, which may decode it a piece a turn).
 */
function stringLeafBytes(value: JsonValue, dtype: DType): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (isB64Object(value)) {
    const chars = typeof value.b64 === 'string' ? value.b64.length : value.b64.jsonBytes;
    return Math.ceil((chars * 3) / 4);
  }
  if (value instanceof PackedArray && value.size === 0) return 0;
  if (value instanceof PackedArray) {
    const cursor = new PackedCursor(value);
    cursor.next();
    throw typeError(
      previewText(cursor.text()),
      cursor.kind === NUMBER ? 'Number' : cursor.kind === TRUE ? 'True' : 'False',
      dtype,
    );
  }
  throw valueTypeError(value, dtype);
}

/**
 * A JSON value (scalar or nested lists) as a tensor of `dtype`; ragged lists are rejected. The structure is
 * checked first, then `admit` sees the header, and only then is the storage allocated and filled — in slices,
 * yielding to the event loop between them.
 */
export async function jsonToTensor(
  value: JsonValue,
  dtype: DType,
  alias: string,
  admit?: AdmitTensor,
): Promise<HostTensor> {
  if (dtype === 'float32' && value instanceof PackedArray && value.float32) {
    // The whole input as one packed array the reader converted: shape and values are known, no walk is needed, and
    // the values become the tensor's storage.
    if (value.float32.length !== value.size) throw new TypeError(`float32 values of input ${alias} do not fill it`);
    admit?.({ dtype, shape: [...value.shape] });
    return new HostTensor(dtype, [...value.shape], value.takeFloat32() as Float32Array);
  }
  const shape = inferShape(value);
  let stringBytes = 0;
  const slices = new WorkSlices(ELEMENTS_PER_SLICE);
  for (const leaf of leaves(value, shape, alias)) {
    if (slices.full(leafWork(leaf))) await yieldToEventLoop();
    if (dtype === 'string') {
      // Awaited for a LongText alone: a tensor of 50,000 short strings pays no promise each.
      stringBytes += leaf instanceof LongText ? await leaf.utf8ByteLength() : stringLeafBytes(leaf, dtype);
    }
  }
  admit?.(dtype === 'string' ? { dtype, shape, stringBytes } : { dtype, shape });
  const size = shape.reduce((n, d) => n * d, 1);
  const data = allocate(dtype, size);
  let at = 0;
  let work = 0;
  for (const leaf of leaves(value, shape, alias)) {
    if (!(leaf instanceof PackedArray)) {
      const cost = leafWork(leaf);
      if (work > 0 && work + cost > ELEMENTS_PER_SLICE) {
        work = 0;
        await yieldToEventLoop();
      }
      if (
        dtype === 'string' &&
        (leaf instanceof LongText || (typeof leaf === 'string' && leaf.length > LONG_STRING_BYTES))
      ) {
        (data as StringData)[at++] = await longUtf8Value(leaf);
      } else if (
        dtype === 'string' &&
        isB64Object(leaf) &&
        (leaf.b64 instanceof LongText || leaf.b64.length > LONG_STRING_BYTES)
      ) {
        (data as StringData)[at++] = await longBase64Value(leaf.b64);
      } else setElement(data, at++, leaf, dtype);
      work += cost;
    } else if (dtype === 'float32' && leaf.float32 !== undefined && leaf.float32.length === leaf.size) {
      (data as Float32Array).set(leaf.float32, at);
      at += leaf.size;
      work += leaf.size;
    } else if (parsesWhole(dtype) && fillFromParsed(leaf, data, at, dtype)) {
      at += leaf.size;
      work += leaf.size;
    } else {
      const cursor = new PackedCursor(leaf);
      let left = leaf.size;
      while (left > 0) {
        const n = fillFromCursor(cursor, data, at, Math.min(left, ELEMENTS_PER_SLICE - work), dtype);
        at += n;
        left -= n;
        work += n;
        if (n === 0) throw new TypeError(`packed array of input ${alias} holds fewer elements than its shape`);
        if (work >= ELEMENTS_PER_SLICE) {
          work = 0;
          await yieldToEventLoop();
        }
      }
    }
    if (work >= ELEMENTS_PER_SLICE) {
      work = 0;
      await yieldToEventLoop();
    }
  }
  return new HostTensor(dtype, shape, data);
}

/** `items.map(f)`, yielding to the event loop between slices (instances may hold millions of rows). */
async function mapSliced<T>(items: readonly JsonValue[], f: (item: JsonValue, index: number) => T): Promise<T[]> {
  const out = new Array<T>(items.length);
  for (let i = 0; i < items.length; i++) {
    out[i] = f(items[i] as JsonValue, i);
    if (i % ELEMENTS_PER_SLICE === ELEMENTS_PER_SLICE - 1) await yieldToEventLoop();
  }
  return out;
}

function inputSpec(specs: Record<string, TensorSpec>, alias: string): TensorSpec {
  return specs[alias] as TensorSpec;
}

/**
 * TF Serving's Predict body → input tensors, each admitted (`admission`, when given) from its header before its
 * storage is allocated.
 */
export async function decodePredictBody(
  body: JsonObject,
  specs: Record<string, TensorSpec>,
  admission?: InputAdmission,
): Promise<DecodedPredict> {
  const hasInstances = 'instances' in body;
  const hasInputs = 'inputs' in body;
  if (hasInstances && hasInputs) {
    throw new InvalidArgument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist");
  }
  if (!hasInstances && !hasInputs) throw new InvalidArgument("Missing 'inputs' or 'instances' key");
  const aliases = Object.keys(specs);
  const inputs: Record<string, HostTensor> = {};
  const convert = async (alias: string, value: JsonValue) => {
    const admit = admission ? (header: TensorHeader) => admission.admit(alias, header) : undefined;
    inputs[alias] = await jsonToTensor(value, inputSpec(specs, alias).dtype, alias, admit);
  };
  if (hasInstances) {
    const instances = body.instances as JsonValue;
    if (!isJsonArray(instances) || instances.length === 0) {
      throw new InvalidArgument("Expecting 'instances' to be an list/array with at least one element");
    }
    if (aliases.length === 1) {
      const alias = aliases[0] as string;
      admission?.checkNames(aliases);
      // A lone input may still be written as {alias: value} per instance.
      const rows =
        instances instanceof PackedArray
          ? instances
          : await mapSliced(instances, (row) =>
              isJsonObject(row) && !isB64Object(row) && alias in row ? (row[alias] as JsonValue) : row,
            );
      await convert(alias, rows);
      return { format: 'row', inputs };
    }
    if (instances instanceof PackedArray) {
      throw new InvalidArgument(`Expecting object but got list at item 0 of input list`);
    }
    await mapSliced(instances, (row, index) => {
      if (!isJsonObject(row)) {
        throw new InvalidArgument(`Expecting object but got list at item ${index} of input list`);
      }
      for (const alias of aliases) {
        if (!(alias in row)) throw new InvalidArgument(`JSON object: does not have named input: ${alias}`);
      }
      for (const key of Object.keys(row)) {
        if (!(key in specs)) throw new InvalidArgument(`JSON object: has unexpected named input: ${previewText(key)}`);
      }
    });
    admission?.checkNames(aliases);
    for (const alias of aliases)
      await convert(
        alias,
        instances.map((row) => (row as JsonObject)[alias] as JsonValue),
      );
    return { format: 'row', inputs };
  }
  const columns = body.inputs as JsonValue;
  const named = isJsonObject(columns) && !isB64Object(columns);
  if (aliases.length === 1 && !(named && (aliases[0] as string) in columns)) {
    const alias = aliases[0] as string;
    admission?.checkNames(aliases);
    await convert(alias, columns);
    return { format: 'columnar', inputs };
  }
  if (!named) throw new InvalidArgument(`'inputs' must be an object with one entry per input: ${aliases.join(', ')}`);
  for (const alias of aliases) {
    if (!(alias in columns)) throw new InvalidArgument(`Missing named input: ${alias} in 'inputs' object.`);
  }
  admission?.checkNames(aliases);
  for (const alias of aliases) await convert(alias, columns[alias] as JsonValue);
  return { format: 'columnar', inputs };
}

/** `{"predictions": …}` for row requests, `{"outputs": …}` for columnar ones. */
export function encodePredictResponse(format: PredictFormat, outputs: Record<string, HostTensor>): string {
  return joinPieces(predictResponsePieces(format, outputs));
}

/**
 * encodePredictResponse's text in pieces (json-format.ts, tensorPieces), for a large reply written a slice at a time
 * (./reply-assembler.ts). The batch sizes are checked before the first piece.
 */
export function predictResponsePieces(
  format: PredictFormat,
  outputs: Record<string, HostTensor>,
): Generator<JsonPiece, void, void> {
  const entries = Object.entries(outputs);
  if (format === 'columnar') return columnarPieces(entries);
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
  return rowPieces(entries, batch ?? 0);
}

/** `{"<key>": <the lone output as nested lists>}`. */
function* loneOutputPieces(key: string, [alias, tensor]: [string, HostTensor]): Generator<JsonPiece, void, void> {
  yield `{"${key}": `;
  yield* tensorPieces(tensor, alias);
  yield '}';
}

function* columnarPieces(entries: [string, HostTensor][]): Generator<JsonPiece, void, void> {
  if (entries.length === 1) {
    yield* loneOutputPieces('outputs', entries[0] as [string, HostTensor]);
    return;
  }
  yield '{"outputs": {';
  for (const [i, [alias, tensor]] of entries.entries()) {
    yield `${i > 0 ? ', ' : ''}${JSON.stringify(alias)}: `;
    yield* tensorPieces(tensor, alias);
  }
  yield '}}';
}

function* rowPieces(entries: [string, HostTensor][], batch: number): Generator<JsonPiece, void, void> {
  if (entries.length === 1) {
    // The rows of a lone output, joined as a list, are the whole tensor's nested lists.
    yield* loneOutputPieces('predictions', entries[0] as [string, HostTensor]);
    return;
  }
  yield '{"predictions": [';
  for (let i = 0; i < batch; i++) {
    for (const [k, [alias, tensor]] of entries.entries()) {
      yield `${k === 0 ? (i > 0 ? ', {' : '{') : ', '}${JSON.stringify(alias)}: `;
      yield* tensorPieces(tensor, alias, i);
    }
    yield '}';
  }
  yield ']}';
}
