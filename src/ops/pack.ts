/**
 * Pack (tf.stack) and Unpack (tf.unstack) with TensorFlow's attrs: Pack joins N tensors of one shape along a new
 * axis in [−(R+1), R]; Unpack splits a tensor along `axis` into `num` tensors of rank R − 1 (num must equal that
 * dimension). Lowered as Unsqueeze + Concat and Split + Squeeze, the nodes ConcatV2, ExpandDims, SplitV and
 * Squeeze already lower to, so the WebGPU EP takes them for float32 and int32.
 */
import { InvalidArgument } from '../errors.js';
import { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { formatShape, normalizeAxis, type Dim } from '../graph/shape.js';
import { zerosLike } from './array.js';
import { graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, GPU_F32_I32 } from './kernels.js';

export const Pack = defineOp<{ axis: number }>({
  type: 'Pack',
  infer: (values, { axis }, opName) => {
    const first = values[0];
    if (!first) throw new InvalidArgument(`Operation '${opName}' (Pack): needs at least one value`);
    const shape: Dim[] = [...first.shape];
    for (const v of values) {
      if (v.dtype !== first.dtype) {
        throw new InvalidArgument(
          `Operation '${opName}' (Pack): all values must have the same dtype, got ${first.dtype} (${first.name}) and ${v.dtype} (${v.name})`,
        );
      }
      const mismatch =
        v.rank !== first.rank || v.shape.some((d, i) => d !== null && shape[i] !== null && d !== shape[i]);
      if (mismatch) {
        throw new InvalidArgument(
          `Shapes of all inputs must match: values[0].shape = ${formatShape(first.shape)} != ${v.name}.shape = ${formatShape(v.shape)} for '${opName}' (op: 'Pack')`,
        );
      }
      v.shape.forEach((d, i) => {
        if (shape[i] === null) shape[i] = d;
      });
    }
    const ax = normalizeAxis(opName, axis, first.rank + 1);
    shape.splice(ax, 0, values.length);
    return [{ dtype: first.dtype, shape }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const ax = normalizeAxis(op.name, attrs.axis, (op.inputs[0] as Tensor).rank + 1);
    const axes = b.int64s([ax]);
    const parts = inputs.map((name) => b.op('Unsqueeze', [name, axes]));
    b.op('Concat', parts, { axis: ax }, outputs[0]);
  },
  grad: ({ op, grads: [g], attrs }) => {
    if (!g) return op.inputs.map(() => null);
    return unstack(g, attrs.axis);
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

export const Unpack = defineOp<{ num: number; axis: number }>({
  type: 'Unpack',
  infer: ([value], { num, axis }, opName) => {
    const t = value as Tensor;
    const ax = normalizeAxis(opName, axis, t.rank);
    const d = t.shape[ax] ?? null;
    if (!Number.isInteger(num) || num < 0 || (d !== null && d !== num)) {
      throw new InvalidArgument(
        `Operation '${opName}' (Unpack): num ${num} must equal dimension ${ax} of input shape ${formatShape(t.shape)}`,
      );
    }
    const shape = t.shape.filter((_, i) => i !== ax);
    return Array.from({ length: num }, () => ({ dtype: t.dtype, shape }));
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const ax = normalizeAxis(op.name, attrs.axis, (op.inputs[0] as Tensor).rank);
    const axes = b.int64s([ax]);
    if (attrs.num === 1) {
      b.op('Squeeze', [inputs[0] as string, axes], {}, outputs[0]);
      return;
    }
    const pieces = b.node('Split', [inputs[0] as string], { axis: ax }, attrs.num);
    pieces.forEach((piece, i) => b.op('Squeeze', [piece, axes], {}, outputs[i]));
  },
  grad: ({ op, grads, attrs }) => {
    if (grads.every((g) => g === null)) return [null];
    const parts = grads.map((g, i) => g ?? zerosLike(op.outputs[i] as Tensor));
    return [stack(parts, attrs.axis)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Stacks tensors of one shape along a new `axis` (tf.stack). */
export function stack(values: readonly TensorLike[], axis = 0, options: { name?: string } = {}): Tensor {
  const graph = graphOf(...values);
  const dtype = values.find((v): v is Tensor => v instanceof Tensor)?.dtype;
  const tensors = values.map((v) => toTensor(v, graph, dtype));
  return graph.addOp({ def: Pack, inputs: tensors, attrs: { axis }, name: options.name ?? 'stack' }).output;
}

/** Splits `x` along `axis` into its slices, dropping that axis (tf.unstack); the dimension must be known. */
export function unstack(x: Tensor, axis = 0, options: { name?: string } = {}): Tensor[] {
  const ax = normalizeAxis(options.name ?? 'unstack', axis, x.rank);
  const num = x.shape[ax];
  if (num === null || num === undefined) {
    throw new InvalidArgument(`unstack: dimension ${ax} of '${x.name}' (shape ${formatShape(x.shape)}) must be known`);
  }
  return x.graph.addOp({ def: Unpack, inputs: [x], attrs: { num, axis }, name: options.name ?? 'unstack' }).outputs;
}
