/**
 * A tensor's bytes in the v2 protocol's raw form, shared by gRPC's `raw_output_contents` and REST's binary data
 * extension: a numeric tensor's elements little-endian, a BYTES tensor's elements each after its length as 4 bytes
 * little-endian.
 */
import type { TypedArray } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { stringTensorBytes } from '../../../graph/string-bytes.js';
import { prefixedInParts, type ElementPrefix } from '../../request-buffers.js';

/** The length before each BYTES element. */
export const LENGTH_PREFIX_BYTES = 4;

/** The bytes rawBytes gives `tensor`, counted without writing them. */
export function rawByteLength(tensor: HostTensor): number {
  if (tensor.dtype !== 'string') return tensor.byteLength();
  let bytes = 0;
  for (const element of stringTensorBytes(tensor)) bytes += LENGTH_PREFIX_BYTES + element.byteLength;
  return bytes;
}

/** The raw bytes as one buffer: a view of a numeric tensor's data, or a BYTES tensor's elements copied after their lengths. */
export function rawBytes(tensor: HostTensor): Buffer {
  if (tensor.dtype !== 'string') {
    const data = tensor.data as TypedArray;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  const out = Buffer.allocUnsafe(rawByteLength(tensor));
  let at = 0;
  for (const element of stringTensorBytes(tensor)) {
    out.writeUInt32LE(element.byteLength, at);
    out.set(element, at + LENGTH_PREFIX_BYTES);
    at += LENGTH_PREFIX_BYTES + element.byteLength;
  }
  return out;
}

/** A BYTES element's raw prefix: its length, 4 bytes little-endian. */
const LENGTH_PREFIX: ElementPrefix = {
  bytes: () => LENGTH_PREFIX_BYTES,
  write: (out, at, length) => out.writeUInt32LE(length, at),
};

/**
 * The raw bytes of a large reply's tensor as parts, in order, for a writer that copies them a slice a turn (the REST
 * reply assembler, joinedInTurns): a numeric tensor's data as one view, a BYTES tensor's elements after their lengths
 * as prefixedInParts gives them (request-buffers.ts: long elements as views, no whole copied in one turn).
 */
export async function rawBytesInParts(tensor: HostTensor): Promise<Uint8Array[]> {
  if (tensor.dtype !== 'string') return [rawBytes(tensor)];
  return prefixedInParts(stringTensorBytes(tensor), LENGTH_PREFIX);
}
