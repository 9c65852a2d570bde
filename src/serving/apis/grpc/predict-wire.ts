/**
 * PredictionService/Predict's own (de)serializers, installed on the gRPC service in place of the generic ones:
 * the request's tensors are read by tensor-wire (header now, values after admission), the response's tensors are
 * written from the result's typed arrays. Everything else (ModelSpec) goes through protobufjs as before.
 * PredictRequest: 1 model_spec, 2 inputs (map<string, TensorProto>: entry 1 key, 2 value), 3 output_filter.
 * PredictResponse: 1 outputs (map), 2 model_spec.
 */
import protobuf from 'protobufjs';
import type { HostTensor } from '../../../graph/host-tensor.js';
import type { ModelSpecMsg, PredictRequestMsg } from '../shared/proto-types.js';
import { LOADER_OPTIONS, protobufRoot } from '../shared/protos.js';
import {
  encodeStringTensorProto,
  readTensorProto,
  tensorProtoChunks,
  writeTensorProto,
  type WireTensorProto,
} from '../shared/tensor-wire.js';
import { fieldSize } from '../shared/direct-wire.js';
import { joinedInTurns } from '../../request-buffers.js';

const WIRE_BYTES = 2;

/** What the Predict handler returns: result tensors, not yet TensorProtos. */
export interface PredictWireResponse {
  outputs: Record<string, HostTensor>;
  model_spec: ModelSpecMsg;
  /** --enable_serialization_as_tensor_content */
  tensorContent: boolean;
  /** The response already encoded (encodePredictResponseInTurns, for a large reply): sent as it is. */
  encoded?: Buffer;
}

export interface PredictWireRequest extends PredictRequestMsg {
  inputs: Record<string, WireTensorProto>;
}

let modelSpecType: protobuf.Type | undefined;

function modelSpec(): protobuf.Type {
  modelSpecType ??= protobufRoot().lookupType('tensorflow.serving.ModelSpec');
  return modelSpecType;
}

/** The fields of a ModelSpec that its encoding depends on; null = absent (a oneof's '' is written, an absent one not). */
interface SpecFields {
  name: string | null;
  version: string | null;
  label: string | null;
  signature: string | null;
}

function specFields(spec: ModelSpecMsg): SpecFields {
  const version = spec.version === undefined || spec.version === null ? null : String(spec.version.value);
  return {
    name: spec.name ?? null,
    version,
    label: spec.version_label ?? null,
    signature: spec.signature_name ?? null,
  };
}

/**
 * The last response's ModelSpec, encoded: consecutive responses of one model version and signature share the bytes
 * (protobufjs's fromObject, its int64 parsing and encode cost a Predict ~1 µs each time otherwise). The fields are
 * compared one by one: a JSON key cost about as much again (docs/performance.md, "Round 20").
 */
let lastSpec: (SpecFields & { bytes: Uint8Array }) | undefined;

export function encodedModelSpec(spec: ModelSpecMsg): Uint8Array {
  const fields = specFields(spec);
  if (
    lastSpec &&
    lastSpec.name === fields.name &&
    lastSpec.version === fields.version &&
    lastSpec.label === fields.label &&
    lastSpec.signature === fields.signature
  ) {
    return lastSpec.bytes;
  }
  const type = modelSpec();
  const bytes = type.encode(type.fromObject(spec)).finish();
  lastSpec = { ...fields, bytes };
  return bytes;
}

/**
 * The last request's ModelSpec, decoded: a client's consecutive requests carry the same bytes, and protobufjs's
 * decode and toObject cost each request otherwise. Every request given the same bytes shares one frozen object.
 */
let lastRequestSpec: { bytes: Uint8Array; spec: ModelSpecMsg } | undefined;

export function decodeModelSpec(bytes: Uint8Array): ModelSpecMsg {
  const last = lastRequestSpec;
  if (last && last.bytes.length === bytes.length && Buffer.compare(last.bytes, bytes) === 0) return last.spec;
  const type = modelSpec();
  const spec = type.toObject(type.decode(bytes), LOADER_OPTIONS) as ModelSpecMsg;
  if (spec.version) Object.freeze(spec.version);
  Object.freeze(spec);
  // A copy: `bytes` is a view into the request's buffer, which is not this cache's to keep.
  lastRequestSpec = { bytes: Uint8Array.prototype.slice.call(bytes), spec };
  return spec;
}

export function decodePredictRequest(buffer: Buffer): PredictWireRequest {
  const reader = protobuf.Reader.create(buffer);
  const request: PredictWireRequest = { inputs: {} };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType !== WIRE_BYTES || field < 1 || field > 3) {
      reader.skipType(wireType);
      continue;
    }
    const bytes = reader.bytes();
    if (field === 1) request.model_spec = decodeModelSpec(bytes);
    else if (field === 2) {
      const [key, value] = readMapEntry(bytes);
      request.inputs[key] = value;
    } else {
      (request.output_filter ??= []).push(protobuf.util.utf8.read(bytes, 0, bytes.length));
    }
  }
  return request;
}

function readMapEntry(bytes: Uint8Array): [string, WireTensorProto] {
  const reader = protobuf.Reader.create(bytes);
  let key = '';
  let value: WireTensorProto | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === ((1 << 3) | WIRE_BYTES)) key = reader.string();
    else if (tag === ((2 << 3) | WIRE_BYTES)) {
      const body = reader.bytes();
      value = readTensorProto(body);
    } else reader.skipType(tag & 7);
  }
  // A map entry without a value holds the default message: an empty TensorProto.
  return [key, value ?? readTensorProto(new Uint8Array(0))];
}

export function encodePredictResponse(response: PredictWireResponse): Buffer {
  if (response.encoded) return response.encoded;
  const writer = protobuf.Writer.create();
  for (const [alias, tensor] of Object.entries(response.outputs)) {
    writer.uint32((1 << 3) | WIRE_BYTES).fork();
    writer.uint32((1 << 3) | WIRE_BYTES).string(alias);
    if (tensor.dtype === 'string') writer.uint32((2 << 3) | WIRE_BYTES).bytes(encodeStringTensorProto(tensor));
    else {
      writer.uint32((2 << 3) | WIRE_BYTES).fork();
      writeTensorProto(writer, tensor, response.tensorContent);
      writer.ldelim();
    }
    writer.ldelim();
  }
  writer.uint32((2 << 3) | WIRE_BYTES).bytes(encodedModelSpec(response.model_spec));
  const bytes = writer.finish();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * What encodePredictResponse gives, for a reply with large tensors: its small fields written, its large payloads
 * views of the tensors (tensorProtoChunks), then copied once into memory taken a slice a turn (joinedInTurns).
 */
export async function encodePredictResponseInTurns(response: PredictWireResponse): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let writer = protobuf.Writer.create();
  for (const [alias, tensor] of Object.entries(response.outputs)) {
    const proto = tensorProtoChunks(tensor, response.tensorContent);
    let protoBytes = 0;
    for (const chunk of proto) protoBytes += chunk.byteLength;
    const entryBytes = fieldSize(Buffer.byteLength(alias)) + fieldSize(protoBytes);
    writer.uint32((1 << 3) | WIRE_BYTES).uint32(entryBytes);
    writer.uint32((1 << 3) | WIRE_BYTES).string(alias);
    writer.uint32((2 << 3) | WIRE_BYTES).uint32(protoBytes);
    chunks.push(writer.finish(), ...proto);
    writer = protobuf.Writer.create();
  }
  writer.uint32((2 << 3) | WIRE_BYTES).bytes(encodedModelSpec(response.model_spec));
  chunks.push(writer.finish());
  return joinedInTurns(chunks);
}
