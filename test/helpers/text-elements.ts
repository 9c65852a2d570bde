/** Test reading of string tensors, whose elements are bytes: nested arrays with each element decoded as UTF-8. */
import type { HostTensor, NestedArray } from '../../src/graph/host-tensor.js';

export function textArray(tensor: HostTensor | undefined): NestedArray | undefined {
  if (!tensor) return undefined;
  const walk = (v: NestedArray): NestedArray =>
    Array.isArray(v) ? v.map(walk) : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v;
  return walk(tensor.toArray());
}
