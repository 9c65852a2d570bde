/**
 * Worker tensors ⇄ ONNX Runtime tensors, in the worker. String elements arrive packed (protocol.ts) and become ONNX
 * Runtime's strings here, off the main thread (ort-strings.ts); string outputs go back packed the same way.
 */
import * as ort from 'onnxruntime-node';
import type { DType, TypedArray } from '../../graph/dtype.js';
import { bytesOfOrtStrings, ortStringsOf } from '../../runtime/ort-strings.js';
import { isPackedStrings, packStrings, unpackStrings, type WireTensor } from './protocol.js';

export function ortTensorOfWire(t: WireTensor): ort.Tensor {
  if (isPackedStrings(t.data)) return new ort.Tensor('string', ortStringsOf(unpackStrings(t.data)), t.shape);
  return new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);
}

export function wireTensorOfOrt(t: ort.Tensor, dtype: DType): WireTensor {
  const data = dtype === 'string' ? packStrings(bytesOfOrtStrings(t.data as string[])) : (t.data as TypedArray);
  return { dtype, shape: [...t.dims], data };
}
