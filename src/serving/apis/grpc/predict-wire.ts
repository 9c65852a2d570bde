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
  writeTensorProto,
  type WireTensorProto,
} from '../shared/tensor-wire.js';

const WIRE_BYTES = 2;

/** What the Predict handler returns: result tensors, not yet TensorProtos. */
export interface PredictWireResponse {
  outputs: Record<string, HostTensor>;
  model_spec: ModelSpecMsg;
  /** --enable_serialization_as_tensor_content */
  tensorContent: boolean;
}

export interface PredictWireRequest extends PredictRequestMsg {
  inputs: Record<string, WireTensorProto>;
}

let modelSpecType: protobuf.Type | undefined;

function modelSpec(): protobuf.Type {
  modelSpecType ??= protobufRoot().lookupType('tensorflow.serving.ModelSpec');
  return modelSpecType;
}

/**
 * The last response's ModelSpec, encoded: consecutive responses of one model version and signature share the bytes
 * (protobufjs's fromObject, its int64 parsing and encode cost a Predict ~1 µs each time otherwise).
 */
let lastSpec: { key: string; bytes: Uint8Array } | undefined;

export function encodedModelSpec(spec: ModelSpecMsg): Uint8Array {
  const version = spec.version === undefined || spec.version === null ? undefined : String(spec.version.value);
  // JSON keeps an absent field (null) apart from an empty one: a oneof's '' is written, an absent one is not.
  const key = JSON.stringify([
    spec.name ?? null,
    version ?? null,
    spec.version_label ?? null,
    spec.signature_name ?? null,
  ]);
  if (lastSpec?.key === key) return lastSpec.bytes;
  const type = modelSpec();
  const bytes = type.encode(type.fromObject(spec)).finish();
  lastSpec = { key, bytes };
  return bytes;
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
    if (field === 1) {
      const type = modelSpec();
      request.model_spec = type.toObject(type.decode(bytes), LOADER_OPTIONS) as ModelSpecMsg;
    } else if (field === 2) {
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
