/**
 * Which TensorProto field (tensorflow/core/framework/tensor.proto) holds the values of each dtype when they are not
 * in `tensor_content`: one table for every reader and writer of TensorProtos (serving's wire codec and message
 * converter, the importer's model-file tensors and checkpoint entries).
 */
import type { DType } from './dtype.js';

export interface TensorProtoValueField {
  /** Field number on the wire. */
  number: number;
  /** Field name in decoded messages (protobufjs keeps the proto's snake_case names). */
  name: string;
}

export const TENSOR_PROTO_VALUE_FIELD: Readonly<Record<DType, TensorProtoValueField>> = {
  float32: { number: 5, name: 'float_val' },
  float64: { number: 6, name: 'double_val' },
  int32: { number: 7, name: 'int_val' },
  uint8: { number: 7, name: 'int_val' },
  int8: { number: 7, name: 'int_val' },
  int16: { number: 7, name: 'int_val' },
  uint16: { number: 7, name: 'int_val' },
  string: { number: 8, name: 'string_val' },
  int64: { number: 10, name: 'int64_val' },
  bool: { number: 11, name: 'bool_val' },
  float16: { number: 13, name: 'half_val' }, // bit patterns, as int32
  uint32: { number: 16, name: 'uint32_val' },
  uint64: { number: 17, name: 'uint64_val' },
};

/** The values a decoded TensorProto message gives in its dtype's typed field (empty when absent). */
export function typedFieldValues<T>(proto: object, dtype: DType): ArrayLike<T> {
  return ((proto as Record<string, unknown>)[TENSOR_PROTO_VALUE_FIELD[dtype].name] as ArrayLike<T> | undefined) ?? [];
}
