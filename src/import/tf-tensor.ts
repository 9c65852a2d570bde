/**
 * TensorFlow's TensorProto, TensorShapeProto and DataType as they appear inside model files (Const values,
 * attrs, signatures), converted to flowserve's HostTensor / Shape / DType. Decoding follows tensor.cc
 * FromProtoField: non-empty tensor_content wins; otherwise the typed field, fewer values than elements repeat the
 * last one, none at all means zeros.
 */
import { InvalidArgument } from '../errors.js';
import { allocate, dtypeFromTf, dtypeInfo, tfDataTypeName, type DType, type TypedArray } from '../graph/dtype.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { utf8Bytes } from '../graph/utf8.js';
import type { Dim } from '../graph/shape.js';
import type { TensorMsg, TensorShapeMsg } from './tf-messages.js';
import { typedFieldValues } from '../graph/tensor-proto-fields.js';

/** flowserve's dtype for a TensorFlow DataType (reference types count as their base type). */
export function dtypeOfTf(code: number | undefined, what: string): DType {
  const c = (code ?? 0) > 100 ? (code as number) - 100 : (code ?? 0);
  const dtype = dtypeFromTf(c);
  if (!dtype) throw new InvalidArgument(`${what}: dtype ${tfDataTypeName(code)} is not supported by flowserve`);
  return dtype;
}

/** Static shape (null = unknown dim); undefined for unknown rank. */
export function shapeOfTf(proto: TensorShapeMsg | undefined): Dim[] | undefined {
  if (!proto || proto.unknown_rank) return undefined;
  return (proto.dim ?? []).map((d) => {
    const size = Number(d.size ?? 0);
    return size < 0 ? null : size;
  });
}

/** A TensorProto from a model file as a HostTensor; `what` names the node or attr in errors. */
export function hostTensorOfTf(proto: TensorMsg, what: string): HostTensor {
  const dtype = dtypeOfTf(proto.dtype, what);
  const shape = shapeOfTf(proto.tensor_shape);
  if (!shape || shape.some((d) => d === null))
    throw new InvalidArgument(`${what}: a constant tensor needs a known shape`);
  const dims = shape as number[];
  const n = shapeSize(dims);
  const content = proto.tensor_content;
  if (content && content.length > 0) {
    if (dtype === 'string') throw new InvalidArgument(`${what}: tensor_content is not valid for DT_STRING`);
    const expected = n * dtypeInfo(dtype).bytesPerElement;
    if (content.length !== expected) {
      throw new InvalidArgument(
        `${what}: tensor_content holds ${content.length} bytes, shape [${dims.join(',')}] of ${dtype} needs ${expected}`,
      );
    }
    const data = allocate(dtype, n) as TypedArray;
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(content);
    return new HostTensor(dtype, dims, data);
  }
  const values = typedFieldValues<unknown>(proto, dtype);
  const data = allocate(dtype, n);
  if (values.length > n) throw new InvalidArgument(`${what}: ${values.length} values for shape [${dims.join(',')}]`);
  for (let i = 0; i < n && values.length > 0; i++) {
    const v = values[Math.min(i, values.length - 1)];
    (data as unknown as unknown[])[i] = convert(dtype, v);
  }
  return new HostTensor(dtype, dims, data);
}

function convert(dtype: DType, v: unknown): unknown {
  switch (dtype) {
    case 'int64':
      return BigInt.asIntN(64, BigInt(v as string));
    case 'uint64':
      return BigInt.asUintN(64, BigInt(v as string));
    case 'bool':
      return v ? 1 : 0;
    case 'string':
      // A model file's strings are bytes (an asset name, a vocabulary entry, a serialized proto).
      return typeof v === 'string' ? utf8Bytes(v) : (v as Uint8Array);
    default:
      return v;
  }
}
