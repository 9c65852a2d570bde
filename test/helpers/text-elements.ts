/** Test reading of string tensors, whose elements are bytes: nested arrays with each element decoded as UTF-8. */
import type { HostTensor, NestedArray } from '../../src/graph/host-tensor.js';
import { stringTensorBytes } from '../../src/graph/string-bytes.js';

export function textArray(tensor: HostTensor | undefined): NestedArray | undefined {
  if (!tensor) return undefined;
  const walk = (v: NestedArray): NestedArray =>
    Array.isArray(v) ? v.map(walk) : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v;
  return walk(tensor.toArray());
}

/** A string tensor's elements as hex, to compare bytes whatever Uint8Array subclass (Buffer or not) holds them. */
export function hexElements(tensor: HostTensor): string[] {
  return stringTensorBytes(tensor).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'));
}
