/**
 * The types of an ONNX graph's inputs and outputs written as ONNX writes them (`tensor(float)`,
 * `seq(tensor(int64))`, `map(string,tensor(float))`, `optional(seq(tensor(float)))`, `sparse_tensor(float)`).
 * ONNX Runtime's JavaScript API only says "not a tensor"; a load error should say what the value is instead.
 */
import onnxProto from 'onnx-proto';
import { onnxElementTypeName } from './tensor-proto.js';

const { onnx } = onnxProto;

type TypeProto = InstanceType<typeof onnx.TypeProto> | onnxProto.onnx.ITypeProto;

/** Nested types are bounded: a hostile model cannot make this recurse without end. */
const MAX_TYPE_DEPTH = 16;

export function onnxTypeString(type: TypeProto | null | undefined, depth = 0): string {
  if (!type || depth > MAX_TYPE_DEPTH) return 'unknown';
  if (type.tensorType) return `tensor(${onnxElementTypeName(type.tensorType.elemType ?? 0)})`;
  if (type.sparseTensorType) return `sparse_tensor(${onnxElementTypeName(type.sparseTensorType.elemType ?? 0)})`;
  if (type.sequenceType) return `seq(${onnxTypeString(type.sequenceType.elemType, depth + 1)})`;
  if (type.optionalType) return `optional(${onnxTypeString(type.optionalType.elemType, depth + 1)})`;
  if (type.mapType) {
    const key = onnxElementTypeName(type.mapType.keyType ?? 0);
    return `map(${key},${onnxTypeString(type.mapType.valueType, depth + 1)})`;
  }
  return 'unknown';
}

/** Name → type string of every graph input and output of a serialized ModelProto. */
export function graphValueTypes(model: Uint8Array): Map<string, string> {
  const graph = onnx.ModelProto.decode(model).graph;
  const types = new Map<string, string>();
  for (const info of [...(graph?.input ?? []), ...(graph?.output ?? [])]) {
    if (info.name) types.set(info.name, onnxTypeString(info.type));
  }
  return types;
}
