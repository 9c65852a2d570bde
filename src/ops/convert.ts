import { isDType, type DType } from '../graph/dtype.js';
import { getDefaultGraph, Tensor, type Graph } from '../graph/graph.js';
import { HostTensor, type NestedArray } from '../graph/host-tensor.js';
import { Const } from './source.js';

/** Anything an op accepts where a tensor is expected: a symbolic tensor, a host tensor or plain values. */
export type TensorLike = Tensor | HostTensor | NestedArray;

export interface ConstantOptions {
  dtype?: DType;
  /** The shape to give the values; a single value fills the whole shape (as tf.constant). */
  shape?: readonly number[];
  name?: string;
  graph?: Graph;
}

function inferDType(values: NestedArray): DType {
  let v: NestedArray = values;
  while (Array.isArray(v)) v = v[0] as NestedArray;
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string' || v instanceof Uint8Array) return 'string';
  if (typeof v === 'bigint') return 'int64';
  return 'float32';
}

/** A constant op holding `value` (tf.constant): `constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' })`. */
export function constant(value: HostTensor | NestedArray, options: ConstantOptions = {}): Tensor {
  const graph = options.graph ?? getDefaultGraph();
  let host: HostTensor;
  if (value instanceof HostTensor) {
    host = options.dtype && options.dtype !== value.dtype ? HostTensor.from(options.dtype, value.toArray()) : value;
  } else {
    const dtype = options.dtype ?? inferDType(value);
    if (!isDType(dtype)) throw new TypeError(`unknown dtype '${String(dtype)}'`);
    host = HostTensor.from(dtype, value);
    if (options.shape) {
      const size = options.shape.reduce((a, b) => a * b, 1);
      if (host.size === 1 && size !== 1) {
        host = HostTensor.from(dtype, Array<NestedArray>(size).fill(host.get(0)), options.shape);
      } else if (host.size !== size) {
        throw new RangeError(
          `constant '${options.name ?? 'Const'}': ${host.size} values cannot fill shape [${options.shape.join(', ')}] (${size} elements)`,
        );
      } else host = new HostTensor(dtype, options.shape, host.data);
    }
  }
  return graph.addOp({ def: Const, attrs: { value: host }, name: options.name ?? 'Const' }).output;
}

/**
 * Converts a TensorLike to a tensor of `graph`: tensors pass through; plain values become constants
 * with the dtype of the tensor they meet (`mul(x, 2)` makes a float32 2 when x is float32).
 */
export function toTensor(value: TensorLike, graph: Graph, dtype?: DType, name = 'Const'): Tensor {
  if (value instanceof Tensor) return value;
  return constant(value, { graph, dtype: value instanceof HostTensor ? value.dtype : dtype, name });
}

/** Finds the graph of the first symbolic tensor among the arguments, else the default graph. */
export function graphOf(...values: unknown[]): Graph {
  for (const v of values) if (v instanceof Tensor) return v.graph;
  return getDefaultGraph();
}

/** Converts two operands of a binary op, giving plain values the dtype of the symbolic one. */
export function binaryOperands(a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  const graph = graphOf(a, b);
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : undefined;
  return [toTensor(a, graph, dtype), toTensor(b, graph, dtype)];
}
