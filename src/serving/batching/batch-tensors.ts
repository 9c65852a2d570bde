/** Row (dim 0) operations on host tensors that batching needs: concatenate, slice, pad. */
import { allocate, type StringData, type TensorData, type TypedArray } from '../../graph/dtype.js';
import { HostTensor, shapeSize } from '../../graph/host-tensor.js';

function copyInto(target: TensorData, source: TensorData, offset: number): void {
  if (Array.isArray(target)) {
    const strings = source as StringData;
    for (let i = 0; i < strings.length; i++) target[offset + i] = strings[i] as Uint8Array;
  } else {
    (target as Float32Array).set(source as Float32Array, offset);
  }
}

/** Concatenates tensors of equal dtype and inner shape along dim 0 into a fresh buffer. */
export function concatRows(tensors: readonly HostTensor[]): HostTensor {
  const first = tensors[0];
  if (!first) throw new RangeError('concatRows needs at least one tensor');
  const inner = first.shape.slice(1);
  const rows = tensors.reduce((n, t) => n + (t.shape[0] ?? 0), 0);
  const data = allocate(first.dtype, rows * shapeSize(inner));
  let offset = 0;
  for (const t of tensors) {
    copyInto(data, t.data, offset);
    offset += t.size;
  }
  return new HostTensor(first.dtype, [rows, ...inner], data);
}

/** Rows [start, start + count) as a tensor owning its own buffer (so it can be transferred). */
export function sliceRows(tensor: HostTensor, start: number, count: number): HostTensor {
  const inner = tensor.shape.slice(1);
  const rowSize = shapeSize(inner);
  const data = Array.isArray(tensor.data)
    ? tensor.data.slice(start * rowSize, (start + count) * rowSize)
    : (tensor.data as TypedArray).slice(start * rowSize, (start + count) * rowSize);
  return new HostTensor(tensor.dtype, [count, ...inner], data);
}

/**
 * Rows [start, start + count) sharing `tensor`'s buffer (typed arrays; a string tensor's row array is copied, its
 * strings shared): how a batch's outputs are split, since nothing writes to them or moves their buffers afterwards.
 */
export function rowsView(tensor: HostTensor, start: number, count: number): HostTensor {
  const inner = tensor.shape.slice(1);
  if (start === 0 && count === tensor.shape[0]) return tensor;
  const rowSize = shapeSize(inner);
  const data = Array.isArray(tensor.data)
    ? tensor.data.slice(start * rowSize, (start + count) * rowSize)
    : (tensor.data as TypedArray).subarray(start * rowSize, (start + count) * rowSize);
  return new HostTensor(tensor.dtype, [count, ...inner], data);
}

/** Pads to `rows` rows by repeating the first row (TF Serving pads with copies of the first example). */
export function padRows(tensor: HostTensor, rows: number): HostTensor {
  const have = tensor.shape[0] ?? 0;
  if (have >= rows) return tensor;
  const inner = tensor.shape.slice(1);
  const rowSize = shapeSize(inner);
  const data = allocate(tensor.dtype, rows * rowSize);
  copyInto(data, tensor.data, 0);
  const firstRow = Array.isArray(tensor.data)
    ? tensor.data.slice(0, rowSize)
    : (tensor.data as TypedArray).subarray(0, rowSize);
  for (let r = have; r < rows; r++) copyInto(data, firstRow, r * rowSize);
  return new HostTensor(tensor.dtype, [rows, ...inner], data);
}
