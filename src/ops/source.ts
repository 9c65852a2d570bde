import { InvalidArgument } from '../errors.js';
import { isDType, type DType } from '../graph/dtype.js';
import { getDefaultGraph, type Graph, type Operation, type Tensor } from '../graph/graph.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { defineOp } from '../graph/op-def.js';
import { normalizeShape, type Shape } from '../graph/shape.js';
import { CPU_AND_GPU, GPU_F32_I32 } from './kernels.js';

/** Const: a value baked into the graph (lowered to an ONNX initializer). */
export const Const = defineOp<{ value: HostTensor }>({
  type: 'Const',
  infer: (_inputs, { value }) => [{ dtype: value.dtype, shape: value.shape }],
  lower: ({ b, attrs, outputs }) => {
    b.op('Identity', [b.constant(attrs.value, 'value')], {}, outputs[0]);
  },
  notDifferentiable: true,
  // Any dtype: the value is an initializer and ONNX Runtime folds the Identity away.
  kernels: CPU_AND_GPU,
});

/** Placeholder: a graph input that must be fed at run time. */
export const Placeholder = defineOp<{ dtype: DType; shape: Shape }>({
  type: 'Placeholder',
  infer: (_inputs, { dtype, shape }) => [{ dtype, shape }],
  lower: ({ op }) => {
    throw new InvalidArgument(
      `You must feed a value for placeholder tensor '${op.name}' with dtype ${op.output.dtype} and shape ${JSON.stringify(op.output.shape)}`,
    );
  },
  notDifferentiable: true,
  kernels: CPU_AND_GPU,
});

/** NoOp: runs nothing; groups control dependencies (tf.no_op, tf.group). */
export const NoOp = defineOp({
  type: 'NoOp',
  infer: () => [],
  lower: () => undefined,
  noOp: true,
  kernels: CPU_AND_GPU,
});

export interface PlaceholderOptions {
  /** Static shape; `-1` or `null` for unknown dims; omitted = unknown rank is not supported, give one. */
  shape: readonly (number | null)[];
  name?: string;
  graph?: Graph;
}

/** A placeholder (tf.placeholder): `placeholder('float32', { shape: [-1, 784], name: 'x' })`. */
export function placeholder(dtype: DType, options: PlaceholderOptions): Tensor {
  if (!isDType(dtype)) throw new InvalidArgument(`placeholder: unknown dtype '${String(dtype)}'`);
  const graph = options.graph ?? getDefaultGraph();
  return graph.addOp({
    def: Placeholder,
    attrs: { dtype, shape: normalizeShape(options.shape) },
    name: options.name ?? 'Placeholder',
  }).output;
}

/** An op that does nothing but wait for its control inputs (tf.no_op). */
export function noOp(options: { name?: string; graph?: Graph } = {}): Operation {
  return (options.graph ?? getDefaultGraph()).addOp({ def: NoOp, name: options.name ?? 'NoOp' });
}

/** Groups ops: running the result runs all of them (tf.group). */
export function group(ops: readonly (Operation | Tensor)[], options: { name?: string } = {}): Operation {
  const first = ops[0];
  const graph = first ? ('graph' in first ? first.graph : getDefaultGraph()) : getDefaultGraph();
  return graph.controlDependencies(ops, () => graph.addOp({ def: NoOp, name: options.name ?? 'group_deps' }));
}

/** Identity: passes its input through (also a variable's `read` op and tf.stop_gradient's forward). */
export const Identity = defineOp({
  type: 'Identity',
  infer: ([x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, inputs, outputs }) => {
    b.op('Identity', [inputs[0] as string], {}, outputs[0]);
  },
  grad: ({ grads }) => [grads[0] ?? null],
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** StopGradient: identity forward, no gradient backward. */
export const StopGradient = defineOp({
  type: 'StopGradient',
  infer: ([x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, inputs, outputs }) => {
    b.op('Identity', [inputs[0] as string], {}, outputs[0]);
  },
  notDifferentiable: true,
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

export function identity(x: Tensor, options: { name?: string } = {}): Tensor {
  return x.graph.addOp({ def: Identity, inputs: [x], name: options.name ?? 'Identity' }).output;
}

export function stopGradient(x: Tensor, options: { name?: string } = {}): Tensor {
  return x.graph.addOp({ def: StopGradient, inputs: [x], name: options.name ?? 'StopGradient' }).output;
}
