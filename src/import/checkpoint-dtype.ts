/**
 * Which of TensorFlow's DataTypes (types.proto) stored in checkpoints flowserve can hold; a refused tensor's error
 * names its dtype (`DT_HALF`, not `19`).
 */
import { InvalidArgument } from '../errors.js';
import { dtypeFromTf, tfDataTypeName, type DType } from '../graph/dtype.js';

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
