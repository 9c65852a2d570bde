/**
 * The one way to move between a string tensor's elements and their bytes. TensorFlow's and the Open Inference
 * Protocol's strings are byte strings, and a string tensor stores each element's bytes (dtype.ts StringData), so
 * both directions are zero-copy: the elements are the arrays themselves. Callers must not write into them: an
 * element may be a view of a request's bytes, shared by other tensors.
 */
import { HostTensor } from './host-tensor.js';

/** The bytes of each element of a string tensor (the tensor's own arrays, not copies). */
export function stringTensorBytes(tensor: HostTensor): Uint8Array[] {
  if (tensor.dtype !== 'string')
    throw new TypeError(`stringTensorBytes: a ${tensor.dtype} tensor has no string elements`);
  return tensor.data as Uint8Array[];
}

/** A string tensor of `shape` whose elements are `elements` (taken as they are, not copied). */
export function stringTensorFromBytes(shape: readonly number[], elements: readonly Uint8Array[]): HostTensor {
  return new HostTensor('string', shape, elements as Uint8Array[]);
}
