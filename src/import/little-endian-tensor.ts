/**
 * Fixed-size tensor elements stored little-endian (checkpoints, TensorProto.tensor_content, TF.js shards) as
 * the typed array of a flowserve dtype. On a little-endian host the array is a view of the buffer it was read
 * into, so a tensor's bytes are copied once, from disk; a big-endian host swaps them in place first.
 */
import { endianness } from 'node:os';
import type { DType, TypedArray } from '../graph/dtype.js';
import { dtypeInfo, typedArrayView } from '../graph/dtype.js';

const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Views `bytes` (which must own its ArrayBuffer from byteOffset 0, or be aligned for the dtype) as `dtype`'s
 * typed array. `bytes.length` must be a multiple of the element size; callers check it against the shape.
 */
export function typedArrayFromLittleEndian(dtype: Exclude<DType, 'string'>, bytes: Uint8Array): TypedArray {
  const width = dtypeInfo(dtype).bytesPerElement;
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes); // a copy only for a misaligned view
  if (!HOST_IS_LITTLE_ENDIAN && width > 1) swapBytes(aligned, width);
  const { buffer, byteOffset } = aligned;
  const count = aligned.length / width;
  return typedArrayView(dtype, buffer, byteOffset, count);
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let at = 0; at < bytes.length; at += width) bytes.subarray(at, at + width).reverse();
}
