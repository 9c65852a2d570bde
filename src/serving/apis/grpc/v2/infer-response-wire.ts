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
import { hasTypedContents, longBits, rawBytes, writeTypedContents } from './tensor-contents.js';
import { WIRE_BYTES, WIRE_FIXED64, WIRE_VARINT } from './wire-reader.js';
import { fieldSize, varintSize, writeBytesField, writeVarint } from '../../shared/direct-wire.js';

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

/**
 * ModelInferResponse with raw_output_contents and no parameters (what ModelInfer answers a raw request with)
 * written into one buffer of its exact size: the same bytes as the protobufjs writer's, without its per-field
 * operations, forks and final copy. Undefined when a shape holds a dimension that is not a non-negative safe integer
 * (the writer's int64 encoding then applies).
 */
function encodeRawResponse(result: V2InferResult): Buffer | undefined {
  const nameBytes = Buffer.byteLength(result.modelName);
  const versionBytes = Buffer.byteLength(result.modelVersion);
  const idBytes = result.id ? Buffer.byteLength(result.id) : 0;
  let size = fieldSize(nameBytes) + fieldSize(versionBytes) + (result.id ? fieldSize(idBytes) : 0);
  const outputs = result.outputs;
  // Per output: its name's, datatype's, packed shape's and header's sizes, and its raw bytes.
  const sizes: number[] = [];
  const blobs: Uint8Array[] = [];
  for (const output of outputs) {
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
    const blob = rawBytes(output.tensor);
    blobs.push(blob);
    size += fieldSize(header) + fieldSize(blob.byteLength);
  }
  const out = Buffer.allocUnsafe(size);
  let at = writeText(out, 0, 1, result.modelName, nameBytes);
  at = writeText(out, at, 2, result.modelVersion, versionBytes);
  if (result.id) at = writeText(out, at, 3, result.id, idBytes);
  for (let i = 0; i < outputs.length; i++) {
    const output = outputs[i] as V2InferResult['outputs'][number];
    const outputNameBytes = sizes[i * 4] as number;
    const datatypeBytes = sizes[i * 4 + 1] as number;
    const shapeBytes = sizes[i * 4 + 2] as number;
    const header = sizes[i * 4 + 3] as number;
    out[at++] = (5 << 3) | WIRE_BYTES;
    at = writeVarint(out, at, header);
    at = writeText(out, at, 1, output.name, outputNameBytes);
    at = writeText(out, at, 2, output.datatype, datatypeBytes);
    if (output.shape.length > 0) {
      out[at++] = (3 << 3) | WIRE_BYTES;
      at = writeVarint(out, at, shapeBytes);
      for (const d of output.shape) at = writeVarint(out, at, d);
    }
  }
  for (const blob of blobs) at = writeBytesField(out, at, 6, blob);
  return out;
}
