/**
 * An infer request body (spec §3.3 and §5): the JSON header, and with `Inference-Header-Content-Length` the binary
 * tensor data after it. This module reads the header into plain request fields and checks every size it states
 * against the body before anything is allocated:
 *  1. The header length is a byte count within the body (0 = a raw binary request, §5).
 *  2. The JSON header goes through the REST JSON reader (depth limit, value budget, slicing).
 *  3. Each input has a string name and datatype, a shape of non-negative integers, and exactly one of `data` or
 *     `parameters.binary_data_size`.
 *  4. The binary chunks follow one another in input order, and their sizes sum to exactly the bytes after the header.
 *
 * Clients send the same JSON header again and again (Triton's clients and perf_analyzer: the same names, shapes and
 * sizes; only the binary data changes), and reading it costs more than the rest of the request's decoding for a
 * small model. The fields of a header whose inputs are all binary are therefore kept by its exact bytes (a few
 * recent ones, see HeaderCache): the same bytes read with the same limit give the same fields, so a request whose
 * header matches skips steps 2–3 and still goes through step 4 with its own body. Step 4 depends only on the header
 * and the body's length, so the fields are also kept placed for the length of the body they were first placed in: a
 * request with that header and that length gets those frozen fields as they are (no copy, no placement), and any
 * other length is placed and checked again. A header with JSON `data` is never kept: its values are views of that
 * request's body.
 */
import { InvalidArgument } from '../../../errors.js';
import { LONG_STRING_BYTES, readRequestJson, type JsonObject, type JsonValue } from '../rest/json-reader.js';
import { LongText } from '../rest/long-text.js';
import { PackedArray, PackedCursor } from '../rest/json-packed.js';
import { isJsonArray, isJsonObject, jsonTypeName } from '../rest/json-values.js';
import type { V2Parameters, V2RequestedOutput } from '../v2/infer.js';

export interface V2RestInput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: V2Parameters;
  /** JSON tensor data (flat or nested); absent for a binary input. */
  data?: JsonValue;
  /** A binary input: its bytes' place in the body. */
  binary?: { offset: number; length: number };
}

export interface V2RestInferRequest {
  id?: string;
  parameters?: V2Parameters;
  inputs: V2RestInput[];
  outputs?: V2RequestedOutput[];
  /** The body: binary chunks are read from it in place. */
  body: Uint8Array;
  /** True for a raw binary request (Inference-Header-Content-Length: 0): the whole body is the one input's bytes. */
  raw: boolean;
}

export const HEADER_LENGTH = 'inference-header-content-length';

/** Header 1: the JSON header's length, or undefined when the body is all JSON. */
export function headerLengthOf(value: string | string[] | undefined, bodyLength: number): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!/^\d{1,15}$/.test(text.trim())) {
    throw new InvalidArgument(`Inference-Header-Content-Length '${text.slice(0, 64)}' is not a byte count`);
  }
  const length = Number(text.trim());
  if (length > bodyLength) {
    throw new InvalidArgument(
      `Inference-Header-Content-Length ${length} is larger than the request body (${bodyLength} bytes)`,
    );
  }
  return length;
}

/**
 * The request's long strings are left in its body (LongText) for the BYTES inputs' data; a name, id, datatype or
 * parameter that long is refused, saying so, instead of being called "not a string".
 */
function refuseLongText(value: JsonValue | undefined, what: string): void {
  if (value instanceof LongText) {
    throw new InvalidArgument(
      `${what} is a string of ${value.jsonBytes} bytes, more than ${LONG_STRING_BYTES} allowed`,
    );
  }
}

function parameters(value: JsonValue | undefined, where: string): V2Parameters | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw new InvalidArgument(`${where}: 'parameters' must be an object`);
  const out: V2Parameters = {};
  for (const [key, v] of Object.entries(value)) {
    refuseLongText(v, `${where}: parameter '${key.slice(0, 64)}'`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new InvalidArgument(
        `${where}: parameter '${key.slice(0, 64)}' must be a string, number or boolean, not ${jsonTypeName(v)}`,
      );
    }
    out[key] = v;
  }
  return out;
}

function shapeOf(value: JsonValue | undefined, where: string): number[] {
  const bad = () => new InvalidArgument(`${where}: 'shape' must be an array of non-negative integers`);
  if (value instanceof PackedArray) {
    if (value.shape.length !== 1 || value.kind === 'boolean') throw bad();
    const dims: number[] = [];
    const cursor = new PackedCursor(value);
    while (cursor.next()) {
      const d = cursor.number();
      if (!Number.isSafeInteger(d) || d < 0) throw bad();
      dims.push(d);
      // Rank is bounded by the admission (MAX_RANK); a shape this long is refused without reading it all.
      if (dims.length > 1024) throw bad();
    }
    return dims;
  }
  if (isJsonArray(value) && value.length === 0) return [];
  throw bad();
}

function inputOf(value: JsonValue, index: number): V2RestInput {
  if (!isJsonObject(value)) throw new InvalidArgument(`inputs[${index}] must be an object`);
  const name = value.name;
  refuseLongText(name, `inputs[${index}]: 'name'`);
  if (typeof name !== 'string') throw new InvalidArgument(`inputs[${index}]: 'name' must be a string`);
  const where = `input '${name.slice(0, 256)}'`;
  const datatype = value.datatype;
  refuseLongText(datatype, `${where}: 'datatype'`);
  if (typeof datatype !== 'string') throw new InvalidArgument(`${where}: 'datatype' must be a string`);
  const input: V2RestInput = { name, datatype, shape: shapeOf(value.shape, where) };
  const params = parameters(value.parameters, where);
  if (params) input.parameters = params;
  if ('data' in value) input.data = value.data as JsonValue;
  return input;
}

function outputOf(value: JsonValue, index: number): V2RequestedOutput {
  if (!isJsonObject(value)) throw new InvalidArgument(`outputs[${index}] must be an object`);
  const name = value.name;
  refuseLongText(name, `outputs[${index}]: 'name'`);
  if (typeof name !== 'string') throw new InvalidArgument(`outputs[${index}]: 'name' must be a string`);
  const output: V2RequestedOutput = { name };
  const params = parameters(value.parameters, `output '${name.slice(0, 256)}'`);
  if (params) output.parameters = params;
  return output;
}

/** A JSON array of objects (`[]` reads as an empty packed array). */
function objectList(value: JsonValue | undefined, key: string): JsonValue[] {
  if (value instanceof PackedArray && value.size === 0) return [];
  if (Array.isArray(value)) return value;
  throw new InvalidArgument(`the inference request needs '${key}', an array of tensor objects`);
}

/** Rule 4: places each binary input's chunk in the body, in order, and checks the sizes add up exactly. */
function placeBinaryChunks(inputs: V2RestInput[], start: number, bodyLength: number): void {
  let offset = start;
  for (const input of inputs) {
    const size = input.parameters?.binary_data_size;
    const where = `input '${input.name.slice(0, 256)}'`;
    if (size === undefined) {
      if (input.data === undefined) {
        throw new InvalidArgument(`${where} has neither 'data' nor the parameter 'binary_data_size'`);
      }
      continue;
    }
    if (input.data !== undefined) {
      throw new InvalidArgument(`${where} has both 'data' and the parameter 'binary_data_size'`);
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArgument(`${where}: 'binary_data_size' must be a non-negative integer`);
    }
    if (offset + size > bodyLength) {
      throw new InvalidArgument(
        `${where}: binary_data_size ${size} runs past the end of the request body: only ` +
          `${bodyLength - offset} bytes are left after the JSON header and the inputs before it`,
      );
    }
    input.binary = { offset, length: size };
    offset += size;
  }
  if (offset !== bodyLength) {
    throw new InvalidArgument(
      `the request body holds ${bodyLength - start} bytes after its JSON header, but the inputs' ` +
        `binary_data_size sum to ${offset - start}`,
    );
  }
}

/** The fields read from a JSON header (steps 2–3), before its chunks are placed in a body. */
type HeaderFields = Omit<V2RestInferRequest, 'body' | 'raw'>;

/** A header's fields, each input its own object (placing the chunks writes `binary` into it). */
function copyFields(fields: HeaderFields): HeaderFields {
  const copy: HeaderFields = {
    ...fields,
    inputs: fields.inputs.map((input) => ({ ...input, shape: [...input.shape] })),
  };
  if (fields.outputs) copy.outputs = fields.outputs.map((output) => ({ ...output }));
  return copy;
}

/** Deep-freezes what a kept header shares between requests, so no request can change it for the next. */
function freezeFields(fields: HeaderFields): HeaderFields {
  for (const input of fields.inputs) {
    Object.freeze(input.shape);
    if (input.parameters) Object.freeze(input.parameters);
    Object.freeze(input);
  }
  for (const output of fields.outputs ?? []) {
    if (output.parameters) Object.freeze(output.parameters);
    Object.freeze(output);
  }
  if (fields.parameters) Object.freeze(fields.parameters);
  Object.freeze(fields.inputs);
  if (fields.outputs) Object.freeze(fields.outputs);
  return Object.freeze(fields);
}

/**
 * The fields of the last few binary-only JSON headers, by their bytes and the value limit they were read with.
 * Bounded: at most HEADER_CACHE_ENTRIES headers of at most HEADER_CACHE_MAX_BYTES each; a client sending a
 * different header each time (a new `id` per request) only replaces entries in turn.
 */
export const HEADER_CACHE_ENTRIES = 16;
export const HEADER_CACHE_MAX_BYTES = 4096;

interface KeptHeader {
  bytes: Buffer;
  maxValueBytes: number;
  /** The fields as read, frozen, with no chunk placed. */
  fields: HeaderFields;
  /**
   * The fields with their chunks placed, frozen, for bodies of `bodyLength` bytes: placement depends only on the
   * header and the body's length, so a body of that length gets these fields as they are, without a copy.
   */
  placed: { bodyLength: number; fields: HeaderFields };
}

class HeaderCache {
  private readonly entries: KeptHeader[] = [];
  private next = 0;

  find(bytes: Uint8Array, maxValueBytes: number): KeptHeader | undefined {
    for (const entry of this.entries) {
      if (entry.bytes.length === bytes.length && entry.maxValueBytes === maxValueBytes && entry.bytes.equals(bytes)) {
        return entry;
      }
    }
    return undefined;
  }

  keep(bytes: Uint8Array, maxValueBytes: number, fields: HeaderFields, bodyLength: number): void {
    // A copy down to the parameters, so that freezing it leaves the caller's request as it was.
    const unplaced = ownCopy(fields);
    for (const input of unplaced.inputs) delete input.binary; // each request's chunks are placed in its own body
    const placed = ownCopy(fields);
    for (const input of placed.inputs) if (input.binary) input.binary = Object.freeze({ ...input.binary });
    const entry: KeptHeader = {
      bytes: Buffer.from(bytes),
      maxValueBytes,
      fields: freezeFields(unplaced),
      placed: { bodyLength, fields: freezeFields(placed) },
    };
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % HEADER_CACHE_ENTRIES;
  }
}

/** A copy of the fields down to the parameters, sharing nothing the caller could change. */
function ownCopy(fields: HeaderFields): HeaderFields {
  const copy = copyFields(fields);
  for (const input of copy.inputs) if (input.parameters) input.parameters = { ...input.parameters };
  for (const output of copy.outputs ?? []) if (output.parameters) output.parameters = { ...output.parameters };
  if (copy.parameters) copy.parameters = { ...copy.parameters };
  return copy;
}

const headerCache = new HeaderCache();

/** Steps 2–3: the JSON header's fields. */
async function readHeaderFields(json: Uint8Array, maxValueBytes: number): Promise<HeaderFields> {
  // The inputs' `data` arrays of numbers are mostly FP32 tensors: converted while scanned, as :predict's are
  // (json-reader.ts rule 8); decoding an FP32 input then takes the converted values instead of reading them again.
  // Its long strings stay in the body (LongText), read only as BYTES elements (input-tensors.ts).
  const value = await readRequestJson(json, { maxValueBytes, float32Values: true, longText: true });
  if (!isJsonObject(value)) throw new InvalidArgument('the inference request must be a JSON object');
  const header: JsonObject = value;
  const fields: HeaderFields = { inputs: [] };
  if (header.id !== undefined) {
    refuseLongText(header.id, "'id'");
    if (typeof header.id !== 'string') throw new InvalidArgument(`'id' must be a string`);
    fields.id = header.id;
  }
  const params = parameters(header.parameters, 'request');
  if (params) fields.parameters = params;
  fields.inputs = objectList(header.inputs, 'inputs').map(inputOf);
  if (header.outputs !== undefined) fields.outputs = objectList(header.outputs, 'outputs').map(outputOf);
  return fields;
}

/** The request with its fields as they are kept: `fields` are frozen and shared with every such request. */
function requestOf(fields: HeaderFields, body: Uint8Array): V2RestInferRequest {
  const request: V2RestInferRequest = { inputs: fields.inputs, body, raw: false };
  if (fields.id !== undefined) request.id = fields.id;
  if (fields.parameters) request.parameters = fields.parameters;
  if (fields.outputs) request.outputs = fields.outputs;
  return request;
}

/**
 * The request, without reading the header, when its header was kept and its body has the length the kept fields
 * were placed for (then they are placed alike: rule 4 holds); undefined otherwise. Synchronous, so that the route
 * of a repeated binary request does not wait on a promise for it.
 */
export function keptInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  maxValueBytes: number,
): V2RestInferRequest | undefined {
  return placedRequest(keptHeader(body, headerLength, maxValueBytes), body);
}

/** The kept entry for this body's header, if its header is one of a cacheable size that was kept. */
function keptHeader(body: Uint8Array, headerLength: number | undefined, maxValueBytes: number): KeptHeader | undefined {
  if (!isCacheable(headerLength)) return undefined;
  return headerCache.find(body.subarray(0, headerLength), maxValueBytes);
}

function isCacheable(headerLength: number | undefined): headerLength is number {
  return headerLength !== undefined && headerLength > 0 && headerLength <= HEADER_CACHE_MAX_BYTES;
}

/** The request with the kept, placed fields, when the body has the length they were placed for. */
function placedRequest(kept: KeptHeader | undefined, body: Uint8Array): V2RestInferRequest | undefined {
  return kept && kept.placed.bodyLength === body.length ? requestOf(kept.placed.fields, body) : undefined;
}

/**
 * Reads an infer body. `headerLength` is Inference-Header-Content-Length (undefined: no binary part);
 * `maxValueBytes` bounds the JSON values (--max_input_bytes).
 */
export async function readInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  maxValueBytes: number,
): Promise<V2RestInferRequest> {
  if (headerLength === 0) return { inputs: [], body, raw: true };
  const jsonEnd = headerLength ?? body.length;
  const json = body.subarray(0, jsonEnd);
  const kept = keptHeader(body, headerLength, maxValueBytes);
  const placed = placedRequest(kept, body);
  if (placed) return placed;
  const fields = kept ? copyFields(kept.fields) : await readHeaderFields(json, maxValueBytes);
  placeBinaryChunks(fields.inputs, jsonEnd, body.length);
  // Kept only once its chunks were placed: a header the body does not match is not worth keeping.
  if (isCacheable(headerLength) && !kept && fields.inputs.every((input) => input.data === undefined)) {
    headerCache.keep(json, maxValueBytes, fields, body.length);
  }
  return { ...fields, body, raw: false };
}
