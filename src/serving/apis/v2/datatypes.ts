/**
 * The Open Inference Protocol's tensor datatypes (spec §4) and flowserve's dtypes: one table, both directions.
 * BF16 is a Triton addition that ONNX Runtime's JavaScript API cannot hold, so it is refused by name; `STRING` is
 * read as BYTES, the name Triton's classification docs print.
 */
import { InvalidArgument } from '../../../errors.js';
import type { DType } from '../../../graph/dtype.js';

export type V2Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES'
  | 'BF16';

/** Protocol name → flowserve dtype, for every datatype flowserve serves. */
const DTYPE_OF: Readonly<Record<Exclude<V2Datatype, 'BF16'>, DType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const DATATYPE_OF: Readonly<Record<DType, V2Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** The datatypes flowserve accepts, in the spec's order, for messages. */
export const SERVED_DATATYPES: readonly V2Datatype[] = Object.keys(DTYPE_OF) as V2Datatype[];

/**
 * The flowserve dtype of a protocol datatype string; `where` names the tensor in errors ("input 'x'").
 * Throws InvalidArgument for BF16 (not supported) and for any other unknown name.
 */
export function dtypeOfV2(datatype: string, where: string): DType {
  if (datatype === 'STRING') return 'string';
  if (datatype === 'BF16') {
    throw new InvalidArgument(
      `${where}: datatype BF16 is not supported (ONNX Runtime's JavaScript API has no bfloat16 tensors); ` +
        `send FP16 or FP32`,
    );
  }
  if (Object.prototype.hasOwnProperty.call(DTYPE_OF, datatype)) {
    return DTYPE_OF[datatype as keyof typeof DTYPE_OF];
  }
  throw new InvalidArgument(
    `${where}: invalid datatype '${String(datatype).slice(0, 64)}'; expected one of ${SERVED_DATATYPES.join(', ')}`,
  );
}

/** The protocol datatype of a flowserve dtype. */
export function v2DatatypeOf(dtype: DType): V2Datatype {
  const datatype = DATATYPE_OF[dtype];
  if (!datatype) throw new TypeError(`dtype '${String(dtype)}' has no Open Inference Protocol datatype`);
  return datatype;
}
