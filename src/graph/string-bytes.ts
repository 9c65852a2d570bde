/**
 * The one way to move between a string tensor's elements and their bytes. TensorFlow's and the Open Inference
 * Protocol's strings are byte strings; code that reads or builds string tensors from wire bytes goes through these
 * two functions, so the storage of string elements can change in one place.
 */
import { HostTensor } from './host-tensor.js';

/** The bytes of each element of a string tensor. */
export function stringTensorBytes(tensor: HostTensor): Uint8Array[] {
  if (tensor.dtype !== 'string')
    throw new TypeError(`stringTensorBytes: a ${tensor.dtype} tensor has no string elements`);
  return (tensor.data as string[]).map((s) => Buffer.from(s, 'utf8'));
}

/** A string tensor of `shape` whose elements are `elements`' bytes. */
export function stringTensorFromBytes(shape: readonly number[], elements: readonly Uint8Array[]): HostTensor {
  return new HostTensor(
    'string',
    shape,
    elements.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')),
  );
}
