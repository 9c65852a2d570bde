/**
 * A tensor's bytes in the v2 protocol's raw form, shared by gRPC's `raw_output_contents` and REST's binary data
 * extension: a numeric tensor's elements little-endian, a BYTES tensor's elements each after its length as 4 bytes
 * little-endian.
 */
import { setImmediate } from 'node:timers/promises';
import type { TypedArray } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { stringTensorBytes } from '../../../graph/string-bytes.js';

/** The length before each BYTES element. */
export const LENGTH_PREFIX_BYTES = 4;
/** rawBytesInParts: the size of a part that runs of short BYTES elements are copied into. */
const PACKED_PART_BYTES = 64 * 1024;
/** rawBytesInParts: a BYTES element at least this long is given as a view of its bytes (it fills a part alone). */
const VIEWED_ELEMENT_BYTES = PACKED_PART_BYTES - LENGTH_PREFIX_BYTES;
/** rawBytesInParts: bytes copied between two turns of the event loop. */
const SLICE_BYTES = 512 * 1024;

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

/**
 * The raw bytes of a large reply's tensor as parts, in order, for a writer that copies them a slice a turn (the REST
 * reply assembler, request-buffers.ts's joinedInTurns): a numeric tensor's data as one view; a BYTES tensor's runs of
 * short elements copied with their lengths into parts of PACKED_PART_BYTES, giving the event loop back every
 * SLICE_BYTES, and each long element as a view after a part that ends with its length. So no turn copies the whole:
 * a 24 MiB element copied with its length into fresh memory took one turn of 80–110 ms on this project's machine
 * (docs/performance.md, "Round 24").
 */
export async function rawBytesInParts(tensor: HostTensor): Promise<Uint8Array[]> {
  if (tensor.dtype !== 'string') return [rawBytes(tensor)];
  const parts: Uint8Array[] = [];
  let part: Buffer | undefined;
  let used = 0;
  let sinceTurn = 0;
  const flush = () => {
    if (part && used > 0) parts.push(part.subarray(0, used));
    part = undefined;
    used = 0;
  };
  const room = (bytes: number): Buffer => {
    if (part && used + bytes > part.byteLength) flush();
    return (part ??= Buffer.allocUnsafe(PACKED_PART_BYTES));
  };
  for (const element of stringTensorBytes(tensor)) {
    room(LENGTH_PREFIX_BYTES).writeUInt32LE(element.byteLength, used);
    used += LENGTH_PREFIX_BYTES;
    if (element.byteLength >= VIEWED_ELEMENT_BYTES) {
      flush();
      parts.push(element);
      continue;
    }
    room(element.byteLength).set(element, used);
    used += element.byteLength;
    sinceTurn += LENGTH_PREFIX_BYTES + element.byteLength;
    if (sinceTurn >= SLICE_BYTES) {
      sinceTurn = 0;
      await setImmediate();
    }
  }
  flush();
  return parts;
}
