/**
 * ModelInferResponse (and ModelStreamInferResponse around it) written straight from the result's typed arrays.
 * Field numbers (spec §7.3): ModelInferResponse 1 model_name, 2 model_version, 3 id, 4 parameters, 5 outputs,
 * 6 raw_output_contents; InferOutputTensor 1 name, 2 datatype, 3 shape, 4 parameters, 5 contents;
 * ModelStreamInferResponse 1 error_message, 2 infer_response.
 *
 * Outputs go in raw_output_contents when the request's inputs came raw (Triton's client reads only those), when it
 * had no inputs, or when an output has no typed field (FP16): raw_output_contents[i] belongs to outputs[i], so it
 * is all outputs raw or none. Otherwise they go in typed contents, as a client that sent typed contents reads them.
 */
import protobuf from 'protobufjs';
import type { V2InferResult, V2Parameters } from '../../v2/infer.js';
import { setImmediate } from 'node:timers/promises';
import { hasTypedContents, longBits, typedContentsInParts, writeTypedContents } from './tensor-contents.js';
import { joinedInTurns } from '../../../request-buffers.js';
import { rawByteLength, rawBytes, rawBytesInParts } from '../../v2/raw-bytes.js';
import { WIRE_BYTES, WIRE_FIXED64, WIRE_VARINT } from './wire-reader.js';
import { fieldHeader, fieldSize, varintSize, writeBytesField, writeVarint } from '../../shared/direct-wire.js';

const INT64_MAX = (1n << 63n) - 1n;

/** Whether a result is sent in raw_output_contents. */
export function sendsRawOutputs(result: V2InferResult, inputsCameRaw: boolean, inputCount: number): boolean {
  return inputsCameRaw || inputCount === 0 || result.outputs.some((o) => !hasTypedContents(o.tensor.dtype));
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeModelInferResponse(result: V2InferResult, raw: boolean): Buffer {
  if (raw && !hasParameters(result)) {
    const direct = encodeRawResponse(result);
    if (direct) return direct;
  }
  const writer = protobuf.Writer.create();
  writeModelInferResponse(writer, result, raw);
  return toBuffer(writer.finish());
}

/** ModelStreamInferResponse: a result, or a failed request's message (the stream goes on). */
export function encodeModelStreamInferResponse(
  outcome: { result: V2InferResult; raw: boolean } | { errorMessage: string },
): Buffer {
  const writer = protobuf.Writer.create();
  if ('errorMessage' in outcome) writer.uint32((1 << 3) | WIRE_BYTES).string(outcome.errorMessage);
  else {
    writer.uint32((2 << 3) | WIRE_BYTES).fork();
    writeModelInferResponse(writer, outcome.result, outcome.raw);
    writer.ldelim();
  }
  return toBuffer(writer.finish());
}

function writeModelInferResponse(writer: protobuf.Writer, result: V2InferResult, raw: boolean): void {
  writer.uint32((1 << 3) | WIRE_BYTES).string(result.modelName);
  writer.uint32((2 << 3) | WIRE_BYTES).string(result.modelVersion);
  if (result.id) writer.uint32((3 << 3) | WIRE_BYTES).string(result.id);
  writeParameters(writer, 4, result.parameters);
  for (const output of result.outputs) {
    writer.uint32((5 << 3) | WIRE_BYTES).fork();
    writer.uint32((1 << 3) | WIRE_BYTES).string(output.name);
    writer.uint32((2 << 3) | WIRE_BYTES).string(output.datatype);
    if (output.shape.length > 0) {
      writer.uint32((3 << 3) | WIRE_BYTES).fork();
      for (const d of output.shape) writer.int64(d);
      writer.ldelim();
    }
    if (!raw) {
      writer.uint32((5 << 3) | WIRE_BYTES).fork();
      writeTypedContents(writer, output.tensor);
      writer.ldelim();
    }
    writer.ldelim();
  }
  if (raw) for (const output of result.outputs) writer.uint32((6 << 3) | WIRE_BYTES).bytes(rawBytes(output.tensor));
}

/** A `map<string, InferParameter>` field: booleans, integers (int64, or uint64 past it), doubles and strings. */
function writeParameters(writer: protobuf.Writer, field: number, parameters: V2Parameters | undefined): void {
  if (!parameters) return;
  for (const [key, value] of Object.entries(parameters)) {
    writer.uint32((field << 3) | WIRE_BYTES).fork();
    writer.uint32((1 << 3) | WIRE_BYTES).string(key);
    writer.uint32((2 << 3) | WIRE_BYTES).fork();
    if (typeof value === 'boolean') writer.uint32((1 << 3) | WIRE_VARINT).bool(value);
    else if (typeof value === 'bigint') {
      const choice = value > INT64_MAX ? 5 : 2;
      writer.uint32((choice << 3) | WIRE_VARINT).uint64(longBits(value));
    } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
      writer.uint32((2 << 3) | WIRE_VARINT).int64(value);
    } else if (typeof value === 'number') writer.uint32((4 << 3) | WIRE_FIXED64).double(value);
    else writer.uint32((3 << 3) | WIRE_BYTES).string(typeof value === 'string' ? value : JSON.stringify(value));
    writer.ldelim();
    writer.ldelim();
  }
}

function hasParameters(result: V2InferResult): boolean {
  if (!result.parameters) return false;
  for (const _ in result.parameters) return true;
  return false;
}

function writeText(out: Buffer, at: number, field: number, text: string, length: number): number {
  out[at++] = (field << 3) | WIRE_BYTES;
  at = writeVarint(out, at, length);
  return at + (length === 0 ? 0 : out.write(text, at, length, 'utf8'));
}

/** Where the fields before raw_output_contents go: the texts' and outputs' sizes, and their bytes in all. */
interface RawResponseLayout {
  nameBytes: number;
  versionBytes: number;
  idBytes: number;
  /** Per output: its name's, datatype's, packed shape's and header's sizes. */
  sizes: number[];
  /** The model's name, version and the id, as fields. */
  startBytes: number;
  /** Those, and each output's header as a field of its own (the raw form's outputs). */
  bytes: number;
}

/**
 * The layout of a raw response's fields before its raw_output_contents; undefined when a shape holds a dimension
 * that is not a non-negative safe integer (the protobufjs writer's int64 encoding then applies).
 */
function rawResponseLayout(result: V2InferResult): RawResponseLayout | undefined {
  const nameBytes = Buffer.byteLength(result.modelName);
  const versionBytes = Buffer.byteLength(result.modelVersion);
  const idBytes = result.id ? Buffer.byteLength(result.id) : 0;
  const startBytes = fieldSize(nameBytes) + fieldSize(versionBytes) + (result.id ? fieldSize(idBytes) : 0);
  let bytes = startBytes;
  const sizes: number[] = [];
  for (const output of result.outputs) {
    const outputNameBytes = Buffer.byteLength(output.name);
    const datatypeBytes = Buffer.byteLength(output.datatype);
    let shapeBytes = 0;
    for (const d of output.shape) {
      if (!(Number.isSafeInteger(d) && d >= 0)) return undefined;
      shapeBytes += varintSize(d);
    }
    const header =
      fieldSize(outputNameBytes) + fieldSize(datatypeBytes) + (output.shape.length > 0 ? fieldSize(shapeBytes) : 0);
    sizes.push(outputNameBytes, datatypeBytes, shapeBytes, header);
    bytes += fieldSize(header);
  }
  return { nameBytes, versionBytes, idBytes, sizes, startBytes, bytes };
}

/** Writes the model's name, version and the id into `out` from `at`; returns where they end. */
function writeResponseStart(out: Buffer, at: number, result: V2InferResult, layout: RawResponseLayout): number {
  at = writeText(out, at, 1, result.modelName, layout.nameBytes);
  at = writeText(out, at, 2, result.modelVersion, layout.versionBytes);
  return result.id ? writeText(out, at, 3, result.id, layout.idBytes) : at;
}

/**
 * Writes output `i`'s field tag and length (`length`: its header, and its contents when it has them), then its name,
 * datatype and shape; returns where they end.
 */
function writeOutputHeader(
  out: Buffer,
  at: number,
  result: V2InferResult,
  layout: RawResponseLayout,
  i: number,
  length: number,
): number {
  const output = result.outputs[i] as V2InferResult['outputs'][number];
  const { sizes } = layout;
  out[at++] = (5 << 3) | WIRE_BYTES;
  at = writeVarint(out, at, length);
  at = writeText(out, at, 1, output.name, sizes[i * 4] as number);
  at = writeText(out, at, 2, output.datatype, sizes[i * 4 + 1] as number);
  if (output.shape.length > 0) {
    out[at++] = (3 << 3) | WIRE_BYTES;
    at = writeVarint(out, at, sizes[i * 4 + 2] as number);
    for (const d of output.shape) at = writeVarint(out, at, d);
  }
  return at;
}

/** Writes the fields that `layout.bytes` measured (the raw form's, before raw_output_contents); returns their end. */
function writeRawResponseHead(out: Buffer, at: number, result: V2InferResult, layout: RawResponseLayout): number {
  at = writeResponseStart(out, at, result, layout);
  for (let i = 0; i < result.outputs.length; i++) {
    at = writeOutputHeader(out, at, result, layout, i, layout.sizes[i * 4 + 3] as number);
  }
  return at;
}

/**
 * ModelInferResponse with raw_output_contents and no parameters (what ModelInfer answers a raw request with)
 * written into one buffer of its exact size: the same bytes as the protobufjs writer's, without its per-field
 * operations, forks and final copy. Undefined where rawResponseLayout is.
 */
function encodeRawResponse(result: V2InferResult): Buffer | undefined {
  const layout = rawResponseLayout(result);
  if (!layout) return undefined;
  const blobs = result.outputs.map((output) => rawBytes(output.tensor));
  let size = layout.bytes;
  for (const blob of blobs) size += fieldSize(blob.byteLength);
  const out = Buffer.allocUnsafe(size);
  let at = writeRawResponseHead(out, 0, result, layout);
  for (const blob of blobs) at = writeBytesField(out, at, 6, blob);
  return out;
}

/**
 * encodeModelInferResponse for a reply that holds a large tensor (request-buffers.ts, holdsLargeTensor), over turns
 * of the event loop: its chunks (responseChunks) joined into memory taken and copied a slice a turn. Written in one
 * call, a raw reply of one 24 MiB BYTES element took 190–228 ms of one turn on this project's machine, 6M floats
 * 88–108 ms (docs/performance.md, "Round 24"). A reply whose shapes the layout cannot hold (a dimension that is not
 * a non-negative safe integer) is encoded in one call, in a turn of its own.
 */
export async function encodeModelInferResponseInTurns(result: V2InferResult, raw: boolean): Promise<Buffer> {
  const chunks = await responseChunks(result, raw);
  if (chunks) return joinedInTurns(chunks);
  await setImmediate();
  return encodeModelInferResponse(result, raw);
}

/**
 * encodeModelStreamInferResponse of a result that holds a large tensor, over turns of the event loop: the
 * ModelInferResponse's chunks behind infer_response's field header, joined as encodeModelInferResponseInTurns joins
 * them (ModelStreamInfer's replies are as large as ModelInfer's, and were encoded in one call until round 26).
 */
export async function encodeModelStreamInferResponseInTurns(result: V2InferResult, raw: boolean): Promise<Buffer> {
  const chunks = await responseChunks(result, raw);
  if (!chunks) {
    await setImmediate();
    return encodeModelStreamInferResponse({ result, raw });
  }
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.byteLength;
  return joinedInTurns([fieldHeader(2, bytes), ...chunks]);
}

/**
 * A ModelInferResponse as chunks in order, the same bytes as the protobufjs writer's: its model fields and
 * parameters, then each output's header, and its data as views of the tensor where it can be (raw: rawBytesInParts;
 * typed contents: typedContentsInParts; short BYTES elements packed, integers encoded a slice a turn). Undefined
 * where rawResponseLayout is.
 */
async function responseChunks(result: V2InferResult, raw: boolean): Promise<Uint8Array[] | undefined> {
  const layout = rawResponseLayout(result);
  if (!layout) return undefined;
  const start = Buffer.allocUnsafe(layout.startBytes);
  writeResponseStart(start, 0, result, layout);
  const chunks: Uint8Array[] = [start];
  if (hasParameters(result)) {
    // A few fields at most: the protobufjs writer's bytes, as encodeModelInferResponse writes them.
    const writer = protobuf.Writer.create();
    writeParameters(writer, 4, result.parameters);
    chunks.push(writer.finish());
  }
  if (!raw) return [...chunks, ...(await typedOutputChunks(result, layout))];
  const headers = Buffer.allocUnsafe(layout.bytes - layout.startBytes);
  let at = 0;
  for (let i = 0; i < result.outputs.length; i++) {
    at = writeOutputHeader(headers, at, result, layout, i, layout.sizes[i * 4 + 3] as number);
  }
  chunks.push(headers);
  for (const output of result.outputs) {
    chunks.push(fieldHeader(6, rawByteLength(output.tensor)), ...(await rawBytesInParts(output.tensor)));
  }
  return chunks;
}

/** Each output's header and its InferTensorContents (typedContentsInParts: floats and long strings as views). */
async function typedOutputChunks(result: V2InferResult, layout: RawResponseLayout): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < result.outputs.length; i++) {
    const contents = await typedContentsInParts((result.outputs[i] as V2InferResult['outputs'][number]).tensor);
    let contentsBytes = 0;
    for (const part of contents) contentsBytes += part.byteLength;
    const headerBytes = layout.sizes[i * 4 + 3] as number;
    const length = headerBytes + fieldSize(contentsBytes);
    // The output field up to its contents: all of it but the contents themselves.
    const header = Buffer.allocUnsafe(fieldSize(length) - contentsBytes);
    let at = writeOutputHeader(header, 0, result, layout, i, length);
    header[at++] = (5 << 3) | WIRE_BYTES;
    writeVarint(header, at, contentsBytes);
    chunks.push(header, ...contents);
  }
  return chunks;
}
