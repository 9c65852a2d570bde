/**
 * ModelInferRequest read from its wire bytes, installed as ModelInfer's and ModelStreamInfer's request
 * deserializer. A generic decoder would build one JavaScript value per element of every typed `contents` field
 * (and an object per input, parameter and output) before anything could look at the request; here the
 * deserializer reads only the scalar fields and the offsets of the repeated ones, at most MAX_ENTRIES of each
 * (further ones are only counted), so the handler can resolve the model, compare the counts with its signature and
 * admit every input from its header before any tensor is allocated.
 * Field numbers (spec §7.3): ModelInferRequest 1 model_name, 2 model_version, 3 id, 4 parameters, 5 inputs,
 * 6 outputs, 7 raw_input_contents; InferInputTensor 1 name, 2 datatype, 3 shape, 4 parameters, 5 contents;
 * InferRequestedOutputTensor 1 name, 2 parameters; a map entry 1 key, 2 value; InferParameter 1 bool_param,
 * 2 int64_param, 3 string_param, 4 double_param, 5 uint64_param.
 */
import { InvalidArgument } from '../../../../errors.js';
import { MAX_RANK } from '../../../core/request-limits.js';
import type { V2Parameters, V2RequestedOutput } from '../../v2/infer.js';
import type { ContentsSource } from './tensor-contents.js';
import { WIRE_BYTES, WIRE_FIXED64, WIRE_VARINT, WireReader } from './wire-reader.js';

/**
 * The most inputs, outputs, raw blobs or parameters whose offsets one request keeps. A valid request has at most as
 * many inputs and outputs as its signature, and a handful of parameters.
 */
export const MAX_ENTRIES = 1024;

/**
 * The most fields a message read here may hold: every repeated field at MAX_ENTRIES and the rest. Past it the
 * request is refused without reading further, so a message of millions of tiny fields costs one bounded scan.
 */
const MAX_FIELDS = 4 * MAX_ENTRIES + 64;

/** The most fields one input header, parameter or requested output may hold (a shape of MAX_RANK dims, unpacked). */
const MAX_HEADER_FIELDS = MAX_RANK + 64;

const REQUEST = 'ModelInferRequest';

/** A repeated field's occurrences: their offsets (the first MAX_ENTRIES) and how many there were. */
export interface Occurrences {
  ranges: [number, number][];
  count: number;
}

/** ModelInferRequest with its repeated fields left in the bytes. */
export interface ModelInferWire {
  bytes: Uint8Array;
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Occurrences;
  inputs: Occurrences;
  outputs: Occurrences;
  rawInputContents: Occurrences;
}

/** An input's header: everything but its data, which stays in the bytes. */
export interface InputHeaderWire {
  name: string;
  datatype: string;
  shape: number[];
  contents?: ContentsSource;
}

const occurrences = (): Occurrences => ({ ranges: [], count: 0 });

function note(into: Occurrences, range: [number, number]): void {
  if (into.count++ < MAX_ENTRIES) into.ranges.push(range);
}

/** Like note(), but refuses the request past MAX_ENTRIES (for fields that nest inside another message). */
function noteAtMost(into: Occurrences, range: [number, number], what: string): void {
  if (into.count >= MAX_ENTRIES) throw new InvalidArgument(`${what} holds more than ${MAX_ENTRIES} parameters`);
  note(into, range);
}

export function decodeModelInferRequest(bytes: Uint8Array): ModelInferWire {
  const reader = new WireReader(bytes, REQUEST, 0, bytes.length, MAX_FIELDS);
  const request: ModelInferWire = {
    bytes,
    modelName: '',
    modelVersion: '',
    id: '',
    parameters: occurrences(),
    inputs: occurrences(),
    outputs: occurrences(),
    rawInputContents: occurrences(),
  };
  while (!reader.done) {
    const [field, wireType] = reader.tag();
    if (wireType !== WIRE_BYTES || field < 1 || field > 7) {
      reader.skip(wireType);
      continue;
    }
    if (field === 1) request.modelName = reader.string();
    else if (field === 2) request.modelVersion = reader.string();
    else if (field === 3) request.id = reader.string();
    else {
      const range = reader.delimited();
      const into = [request.parameters, request.inputs, request.outputs, request.rawInputContents][field - 4];
      note(into as Occurrences, range);
    }
  }
  return request;
}

/** Refuses more occurrences of `field` than `most`, before any of them is read. */
export function checkCount(what: Occurrences, most: number, field: string, context: string): void {
  if (what.count > most) {
    throw new InvalidArgument(`${REQUEST} has ${what.count} ${field}; ${context} takes at most ${most}`);
  }
}

/** Reads a `map<string, InferParameter>` from its entries. */
export function readParameters(bytes: Uint8Array, entries: Occurrences, where: string): V2Parameters | undefined {
  if (entries.count === 0) return undefined;
  checkCount(entries, MAX_ENTRIES, `${where} parameters`, 'a request');
  const parameters: V2Parameters = {};
  for (const [start, end] of entries.ranges) {
    const entry = new WireReader(bytes, 'InferParameter map entry', start, end, MAX_HEADER_FIELDS);
    let key = '';
    let value: unknown;
    while (!entry.done) {
      const [field, wireType] = entry.tag();
      if (field === 1 && wireType === WIRE_BYTES) key = entry.string();
      else if (field === 2 && wireType === WIRE_BYTES) {
        const [s, e] = entry.delimited();
        value = readParameterValue(entry.sub(s, e, 'InferParameter', MAX_HEADER_FIELDS));
      } else entry.skip(wireType);
    }
    // A map entry without a value holds the default message: a parameter with no choice set.
    if (value !== undefined) parameters[key] = value;
  }
  return parameters;
}

function readParameterValue(reader: WireReader): unknown {
  let value: unknown;
  while (!reader.done) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WIRE_VARINT) value = reader.varint() !== 0;
    else if (field === 2 && wireType === WIRE_VARINT) value = exactNumber(BigInt.asIntN(64, reader.varint64()));
    else if (field === 3 && wireType === WIRE_BYTES) value = reader.string();
    else if (field === 4 && wireType === WIRE_FIXED64) value = reader.double();
    else if (field === 5 && wireType === WIRE_VARINT) value = exactNumber(reader.varint64());
    else reader.skip(wireType);
  }
  return value;
}

/** A 64-bit integer as a number when it is one exactly, else as a bigint. */
function exactNumber(value: bigint): number | bigint {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
}

/** Reads one InferInputTensor's header; its contents stay in the bytes. */
export function readInputHeader(bytes: Uint8Array, [start, end]: [number, number], index: number): InputHeaderWire {
  const reader = new WireReader(bytes, `${REQUEST}.inputs[${index}]`, start, end, MAX_HEADER_FIELDS);
  const header: InputHeaderWire = { name: '', datatype: '', shape: [] };
  while (!reader.done) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WIRE_BYTES) header.name = reader.string();
    else if (field === 2 && wireType === WIRE_BYTES) header.datatype = reader.string();
    else if (field === 3 && wireType === WIRE_VARINT) pushDim(header.shape, reader);
    else if (field === 3 && wireType === WIRE_BYTES) {
      const [s, e] = reader.delimited();
      const packed = reader.sub(s, e, reader.message);
      while (!packed.done) pushDim(header.shape, packed);
    } else if (field === 5 && wireType === WIRE_BYTES) {
      const [s, e] = reader.delimited();
      header.contents = { bytes, start: s, end: e };
    } else reader.skip(wireType);
  }
  return header;
}

/**
 * Past MAX_RANK the shape is refused anyway: one dimension more is kept so that the check sees it, and reading
 * stops there (a packed shape of a million dims is not walked).
 */
function pushDim(shape: number[], reader: WireReader): void {
  // A varint of at most 7 bytes is below 2^49: the same value as int64, read without a BigInt. Longer ones
  // (negative dimensions take 10 bytes) are read as their 64 bits.
  const at = reader.pos;
  let size = reader.varint();
  if (reader.pos - at > 7) {
    reader.pos = at;
    size = Number(BigInt.asIntN(64, reader.varint64()));
  }
  if (shape.length <= MAX_RANK) shape.push(size);
  else reader.pos = reader.end;
}

/** Reads the requested outputs (names and parameters). */
export function readRequestedOutputs(bytes: Uint8Array, outputs: Occurrences): V2RequestedOutput[] | undefined {
  if (outputs.count === 0) return undefined;
  return outputs.ranges.map(([start, end], index) => {
    const where = `${REQUEST}.outputs[${index}]`;
    const reader = new WireReader(bytes, where, start, end, MAX_HEADER_FIELDS);
    let name = '';
    const parameters = occurrences();
    while (!reader.done) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WIRE_BYTES) name = reader.string();
      else if (field === 2 && wireType === WIRE_BYTES) noteAtMost(parameters, reader.delimited(), where);
      else reader.skip(wireType);
    }
    const read = readParameters(bytes, parameters, `output '${name}'`);
    return read === undefined ? { name } : { name, parameters: read };
  });
}
