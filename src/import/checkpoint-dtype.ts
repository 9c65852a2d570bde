/**
 * TensorFlow's DataType enum (types.proto) as stored in checkpoints, and which of them flowserve can hold.
 * The names are there so that a refused tensor's error says `DT_HALF`, not `19`.
 */
import { InvalidArgument } from '../errors.js';
import { dtypeFromTf, type DType } from '../graph/dtype.js';

const TF_DATATYPE_NAMES: readonly string[] = [
  'DT_INVALID',
  'DT_FLOAT',
  'DT_DOUBLE',
  'DT_INT32',
  'DT_UINT8',
  'DT_INT16',
  'DT_INT8',
  'DT_STRING',
  'DT_COMPLEX64',
  'DT_INT64',
  'DT_BOOL',
  'DT_QINT8',
  'DT_QUINT8',
  'DT_QINT32',
  'DT_BFLOAT16',
  'DT_QINT16',
  'DT_QUINT16',
  'DT_UINT16',
  'DT_COMPLEX128',
  'DT_HALF',
  'DT_RESOURCE',
  'DT_VARIANT',
  'DT_UINT32',
  'DT_UINT64',
];

/** `DT_FLOAT` for 1; `DT_<n>` for a code this table does not know. */
export function tfDataTypeName(code: number): string {
  return TF_DATATYPE_NAMES[code] ?? `DataType ${code}`;
}

/** The flowserve dtype of a stored tensor, or an InvalidArgument naming the tensor, its file and its dtype. */
export function checkpointDtype(code: number, tensorName: string, file: string): DType {
  const dtype = dtypeFromTf(code);
  if (dtype === undefined) {
    const supported = [1, 2, 3, 4, 7, 9, 10].map(tfDataTypeName).join(', ');
    throw new InvalidArgument(
      `${file}: tensor '${tensorName}' has dtype ${tfDataTypeName(code)}, which flowserve cannot hold ` +
        `(supported: ${supported})`,
    );
  }
  return dtype;
}
