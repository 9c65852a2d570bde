/**
 * The infer response (spec §3.4, §5): a JSON header with each output's `data` flattened, or, for outputs asked as
 * binary, `parameters.binary_data_size` in the header and the bytes after it in output order. With any binary
 * output the reply carries `Inference-Header-Content-Length` (the JSON's byte length) and
 * `Content-Type: application/octet-stream`, as Triton sends it and its clients read it; otherwise it is plain
 * `application/json`.
 *
 * Which outputs are binary: an output's own `binary_data` parameter, else the request's `binary_data_output`,
 * else JSON. A raw binary request (no JSON header) gets every output as binary.
 */
import { InvalidArgument } from '../../../errors.js';
import { float16Value, type DType } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { stringTensorBytes } from '../../../graph/string-bytes.js';
import { isUtf8 } from '../../../graph/utf8.js';
import { formatFloat, LONG_ELEMENT_BYTES } from '../rest/json-format.js';
import { ASSEMBLED_REPLY_BYTES, checkReplyLength, ReplyAssembler } from '../rest/reply-assembler.js';
import { rawByteLength, rawBytes, rawBytesInParts } from '../v2/raw-bytes.js';
import type { V2InferResult, V2Parameters, V2RequestedOutput } from '../v2/infer.js';

/** Elements written between two looks at the turn's time (ReplyAssembler.pause). */
const ELEMENTS_PER_PAUSE = 256;

export interface EncodedResponse {
  body: string | Buffer;
  /** Set when the body has binary outputs: the JSON header's byte length. */
  headerLength?: number;
}

function flag(parameters: V2Parameters | undefined, key: string, where: string): boolean | undefined {
  const value = parameters?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidArgument(`${where}: parameter '${key}' must be a boolean`);
  return value;
}

/** Whether output `name` goes back as binary. */
export function outputIsBinary(
  name: string,
  requestParameters: V2Parameters | undefined,
  outputs: readonly V2RequestedOutput[] | undefined,
  allBinary = false,
): boolean {
  if (allBinary) return true;
  const own = outputs?.find((o) => o.name === name);
  return (
    flag(own?.parameters, 'binary_data', `output '${name}'`) ??
    flag(requestParameters, 'binary_data_output', 'request') ??
    false
  );
}

/** Refuses, before the model runs, an FP16 output that would have to be written as JSON (as Triton does). */
export function checkJsonOutputDtype(name: string, dtype: DType): void {
  if (dtype === 'float16') {
    throw new InvalidArgument(
      `output '${name}': sending FP16 data via JSON is not supported. Please use the binary data format ` +
        `(the output parameter binary_data or the request parameter binary_data_output)`,
    );
  }
}

function elementText(tensor: HostTensor): (i: number) => string {
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'float32':
      return (i) => formatFloat((data as Float32Array)[i] as number, true);
    case 'float64':
      return (i) => formatFloat((data as Float64Array)[i] as number, false);
    case 'float16':
      return (i) => formatFloat(float16Value((data as Uint16Array)[i] as number), true);
    case 'bool':
      return (i) => ((data as Uint8Array)[i] ? 'true' : 'false');
    case 'string': {
      const elements = stringTensorBytes(tensor);
      return (i) => JSON.stringify(Buffer.from(elements[i] as Uint8Array).toString('utf8'));
    }
    default: {
      const ints = data as Int32Array | BigInt64Array;
      return (i) => String(ints[i]);
    }
  }
}

/** The tensor's elements as a flat JSON array (a small reply's: see ASSEMBLED_REPLY_BYTES). */
function flatJson(tensor: HostTensor): string {
  const write = elementText(tensor);
  const parts = new Array<string>(tensor.size);
  for (let i = 0; i < tensor.size; i++) parts[i] = write(i);
  return `[${parts.join(',')}]`;
}

/**
 * The tensor's elements as a flat JSON array, written into `reply` a slice at a time; a long UTF-8 string element
 * is escaped a slice at a time too.
 */
async function writeFlatJson(reply: ReplyAssembler, tensor: HostTensor): Promise<void> {
  const write = elementText(tensor);
  const elements = tensor.dtype === 'string' ? stringTensorBytes(tensor) : undefined;
  reply.write('[');
  for (let i = 0; i < tensor.size; i++) {
    if (i > 0) reply.write(',');
    const bytes = elements?.[i];
    if (bytes !== undefined && bytes.byteLength >= LONG_ELEMENT_BYTES && isUtf8(bytes))
      await reply.writeJsonString(bytes);
    else reply.write(write(i));
    if (i % ELEMENTS_PER_PAUSE === 0) await reply.pause();
  }
  reply.write(']');
}

/** One output's name, datatype and shape, the start of its JSON object. */
function outputHead(output: V2InferResult['outputs'][number]): string {
  return `"name":${JSON.stringify(output.name)},"datatype":"${output.datatype}","shape":[${output.shape.join(',')}]`;
}

/** The reply's JSON header up to its outputs' objects. */
function headerStart(result: V2InferResult): string {
  const id = result.id === undefined ? '' : `,"id":${JSON.stringify(result.id)}`;
  return (
    `{"model_name":${JSON.stringify(result.modelName)},"model_version":${JSON.stringify(result.modelVersion)}` +
    `${id},"outputs":[`
  );
}

/** The reply's JSON header around the outputs' objects. */
function headerJson(result: V2InferResult, outputs: readonly string[]): string {
  return `${headerStart(result)}${outputs.join(',')}]}`;
}

/** An output sent as binary: its JSON object, which states the chunk's size. */
function binaryOutputJson(output: V2InferResult['outputs'][number], bytes: number): string {
  return `{${outputHead(output)},"parameters":{"binary_data_size":${bytes}}}`;
}

/** The JSON header and the binary chunks after it, written into one Buffer (a text header is not copied first). */
function withChunks(json: string | Buffer, chunks: readonly Buffer[], chunkBytes: number): EncodedResponse {
  const headerLength = typeof json === 'string' ? Buffer.byteLength(json, 'utf8') : json.byteLength;
  const body = Buffer.allocUnsafe(headerLength + chunkBytes);
  if (typeof json === 'string') body.write(json, 0, 'utf8');
  else body.set(json, 0);
  let at = headerLength;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return { body, headerLength };
}

/** What an all-binary reply's JSON header is written from, and the header's bytes. */
interface BinaryHeader {
  modelName: string;
  modelVersion: string;
  id: string | undefined;
  outputs: { name: string; datatype: string; shape: number[]; bytes: number }[];
  json: Buffer;
}

/**
 * The last all-binary header written: a model answers the same request with the same names, datatypes, shapes and
 * sizes, so the next reply copies its bytes instead of writing the JSON again. One entry, replaced when anything
 * it was written from differs.
 */
let lastBinaryHeader: BinaryHeader | undefined;

function sameBinaryHeader(kept: BinaryHeader, result: V2InferResult, chunks: readonly Buffer[]): boolean {
  if (kept.modelName !== result.modelName || kept.modelVersion !== result.modelVersion || kept.id !== result.id) {
    return false;
  }
  if (kept.outputs.length !== result.outputs.length) return false;
  for (let i = 0; i < chunks.length; i++) {
    const output = result.outputs[i]!;
    const seen = kept.outputs[i]!;
    if (seen.name !== output.name || seen.datatype !== output.datatype || seen.bytes !== chunks[i]!.byteLength) {
      return false;
    }
    if (seen.shape.length !== output.shape.length) return false;
    for (let d = 0; d < seen.shape.length; d++) if (seen.shape[d] !== output.shape[d]) return false;
  }
  return true;
}

/**
 * The response when every output goes back as binary (what Triton's binary clients ask for): the same bytes as
 * encodeInferResponse, without a promise, as nothing is written element by element. For a small reply (replyBound):
 * a large one is copied into its Buffer a slice at a time by encodeInferResponse.
 */
export function encodeBinaryInferResponse(result: V2InferResult, maxBytes = Infinity): EncodedResponse {
  const chunks: Buffer[] = [];
  let chunkBytes = 0;
  for (const output of result.outputs) {
    const bytes = rawBytes(output.tensor);
    chunks.push(bytes);
    chunkBytes += bytes.byteLength;
  }
  checkReplyLength(chunkBytes, maxBytes);
  let header = lastBinaryHeader;
  if (!header || !sameBinaryHeader(header, result, chunks)) {
    const outputs = result.outputs.map((output, i) => binaryOutputJson(output, chunks[i]!.byteLength));
    header = {
      modelName: result.modelName,
      modelVersion: result.modelVersion,
      id: result.id,
      outputs: result.outputs.map((output, i) => ({
        name: output.name,
        datatype: output.datatype,
        shape: [...output.shape],
        bytes: chunks[i]!.byteLength,
      })),
      json: Buffer.from(headerJson(result, outputs), 'utf8'),
    };
    lastBinaryHeader = header;
  }
  return withChunks(header.json, chunks, chunkBytes);
}

/**
 * A bound on the reply's size, good enough to choose how to write it: JSON numbers at their longest, string elements
 * at their bytes and quotes, binary outputs at their bytes.
 */
export function replyBound(result: V2InferResult, isBinary: (name: string) => boolean): number {
  let bytes = 256;
  for (const output of result.outputs) {
    const { tensor } = output;
    if (tensor.dtype === 'string') bytes += tensor.size * 3 + tensor.byteLength();
    else bytes += isBinary(output.name) ? tensor.byteLength() : tensor.size * 25;
    if (bytes >= ASSEMBLED_REPLY_BYTES) break;
  }
  return bytes;
}

/** A reply written as one string, and its binary chunks (a small reply). */
function encodeSmall(result: V2InferResult, isBinary: (name: string) => boolean, maxBytes: number): EncodedResponse {
  const chunks: Buffer[] = [];
  const outputs: string[] = [];
  let chunkBytes = 0;
  for (const output of result.outputs) {
    if (isBinary(output.name)) {
      const bytes = rawBytes(output.tensor);
      chunks.push(bytes);
      chunkBytes += bytes.byteLength;
      outputs.push(binaryOutputJson(output, bytes.byteLength));
    } else {
      checkJsonOutputDtype(output.name, output.tensor.dtype);
      outputs.push(`{${outputHead(output)},"data":${flatJson(output.tensor)}}`);
    }
  }
  const json = headerJson(result, outputs);
  checkReplyLength(Buffer.byteLength(json, 'utf8') + chunkBytes, maxBytes);
  if (chunks.length === 0) return { body: json };
  return withChunks(json, chunks, chunkBytes);
}

/** A large reply, assembled a slice at a time (../rest/reply-assembler.ts). */
async function encodeAssembled(
  result: V2InferResult,
  isBinary: (name: string) => boolean,
  maxBytes: number,
): Promise<EncodedResponse> {
  const reply = new ReplyAssembler(maxBytes);
  const binaries: HostTensor[] = [];
  reply.write(headerStart(result));
  for (const [i, output] of result.outputs.entries()) {
    if (i > 0) reply.write(',');
    if (isBinary(output.name)) {
      binaries.push(output.tensor);
      reply.write(binaryOutputJson(output, rawByteLength(output.tensor)));
    } else {
      checkJsonOutputDtype(output.name, output.tensor.dtype);
      reply.write(`{${outputHead(output)},"data":`);
      await writeFlatJson(reply, output.tensor);
      reply.write('}');
    }
    await reply.pause();
  }
  reply.write(']}');
  if (binaries.length === 0) return { body: await reply.toBuffer() };
  const headerLength = reply.byteLength;
  for (const tensor of binaries) {
    // A BYTES output's long elements are written as they are, never copied whole in one turn.
    for (const part of await rawBytesInParts(tensor)) reply.writeBytes(part);
    await reply.pause();
  }
  return { body: await reply.toBuffer(), headerLength };
}

/**
 * The response, JSON header and binary chunks, of at most `maxBytes` (--max_response_bytes). A large one is written
 * a slice at a time, so that no turn of the event loop holds it for long.
 */
export async function encodeInferResponse(
  result: V2InferResult,
  isBinary: (name: string) => boolean,
  maxBytes = Infinity,
): Promise<EncodedResponse> {
  return replyBound(result, isBinary) < ASSEMBLED_REPLY_BYTES
    ? encodeSmall(result, isBinary, maxBytes)
    : encodeAssembled(result, isBinary, maxBytes);
}
