/**
 * Compares outputs with the golden ones as ONNX's backend test runner does (onnx/backend/test/runner:
 * numpy's assert_allclose with rtol 1e-3, atol 1e-7; NaN equals NaN; integers, bools and strings exactly).
 */
import { float16Value, isBigIntDType } from '../../src/graph/dtype.js';
import type { HostTensor } from '../../src/graph/host-tensor.js';
import { stringTensorBytes } from '../../src/graph/string-bytes.js';

export const RTOL = 1e-3;
export const ATOL = 1e-7;

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

function numberAt(tensor: HostTensor, i: number): number {
  const v = (tensor.data as ArrayLike<number | bigint>)[i] as number | bigint;
  if (tensor.dtype === 'float16') return float16Value(v as number);
  return Number(v);
}

/** Undefined when `actual` matches `expected`, else what differs (first mismatch, with the tensor's name). */
export function compareTensor(name: string, expected: HostTensor, actual: HostTensor | undefined): string | undefined {
  if (!actual) return `output '${name}' missing`;
  if (actual.dtype !== expected.dtype) return `output '${name}' is ${actual.dtype}, expected ${expected.dtype}`;
  if (!sameShape(actual.shape, expected.shape)) {
    return `output '${name}' has shape [${actual.shape}], expected [${expected.shape}]`;
  }
  if (expected.dtype === 'string') {
    const a = stringTensorBytes(actual);
    const e = stringTensorBytes(expected);
    const at = e.findIndex((bytes, i) => Buffer.compare(Buffer.from(bytes), Buffer.from(a[i] as Uint8Array)) !== 0);
    return at < 0 ? undefined : `output '${name}' element ${at} differs`;
  }
  if (isBigIntDType(expected.dtype)) {
    const a = actual.data as ArrayLike<bigint>;
    const e = expected.data as ArrayLike<bigint>;
    for (let i = 0; i < e.length; i++) {
      if (a[i] !== e[i]) return `output '${name}' element ${i} is ${a[i]}, expected ${e[i]}`;
    }
    return undefined;
  }
  for (let i = 0; i < expected.size; i++) {
    const e = numberAt(expected, i);
    const a = numberAt(actual, i);
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue; // equal infinities
    if (!(Math.abs(a - e) <= ATOL + RTOL * Math.abs(e))) {
      return `output '${name}' element ${i} is ${a}, expected ${e} (rtol ${RTOL}, atol ${ATOL})`;
    }
  }
  return undefined;
}
