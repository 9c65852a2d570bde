import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { defineOp, type GradContext, type OpDef } from '../graph/op-def.js';
import { formatShape, normalizeAxis, type Dim } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, GPU_F32_I32, gpuKernel } from './kernels.js';

const REDUCE_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64'];

export interface ReduceAttrs {
  /** Normalised (non-negative), sorted, unique axes; may be empty (no reduction). */
  axes: number[];
  keepDims: boolean;
  [key: string]: unknown;
}

export interface ReduceOptions {
  keepDims?: boolean;
  name?: string;
}

/** Normalises `axes` (undefined = all axes) against a rank; errors name the op. */
export function normalizeAxes(opName: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normalizeAxis(opName, a, rank)))].sort((x, y) => x - y);
}

/** Static shape after reducing `axes` (kept as 1s when keepDims). */
export function reducedShape(shape: readonly Dim[], axes: readonly number[], keepDims: boolean): Dim[] {
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

function checkReduceDType(opName: string, type: string, x: Tensor): void {
  if (!REDUCE_DTYPES.includes(x.dtype)) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): dtype ${x.dtype} of '${x.name}' is not supported; expected one of ${REDUCE_DTYPES.join(', ')}`,
    );
  }
}

function checkAxes(opName: string, x: Tensor, axes: readonly number[]): void {
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= x.rank) {
      throw new InvalidArgument(
        `Operation '${opName}': reduction axis ${a} is out of range for input of shape ${formatShape(x.shape)}`,
      );
    }
  }
}

/**
 * Emits an ONNX reduction at opset 17: ReduceSum takes its axes as an input, the others as an attribute. An
 * empty axis list means "no reduction" and becomes Identity (never ReduceSum with empty axes, which reduces all).
 */
function emitReduce(
  b: OnnxGraphBuilder,
  onnxOp: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceProd',
  input: string,
  axes: readonly number[],
  keepDims: boolean,
  output?: string,
): string {
  if (axes.length === 0) return b.op('Identity', [input], {}, output);
  const keepdims = keepDims ? 1 : 0;
  if (onnxOp === 'ReduceSum') return b.op('ReduceSum', [input, b.int64s(axes, 'axes')], { keepdims }, output);
  return b.op(onnxOp, [input], { axes: [...axes], keepdims }, output);
}

/**
 * The axes of a reduction: the `axes` attr when flowserve's own helpers built it, else TensorFlow's form, a
 * constant `reduction_indices` input (scalar or vector, negative axes allowed), as an imported graph has it.
 */
export function reductionAxes(opName: string, inputs: readonly Tensor[], attrs: Partial<ReduceAttrs>): number[] {
  const x = inputs[0] as Tensor;
  if (attrs.axes !== undefined) return attrs.axes;
  const indices = inputs[1];
  if (!indices) {
    throw new InvalidArgument(`Operation '${opName}': a reduction needs an axes attr or a reduction_indices input`);
  }
  if ((indices.dtype !== 'int32' && indices.dtype !== 'int64') || indices.rank > 1) {
    throw new InvalidArgument(
      `Operation '${opName}': reduction_indices must be an int32 or int64 scalar or vector, got ${indices.dtype} of shape ${formatShape(indices.shape)}`,
    );
  }
  const value = constHostValue(indices);
  if (!value) {
    throw new InvalidArgument(
      `Operation '${opName}': reduction_indices '${indices.name}' must be a constant when the graph is built`,
    );
  }
  return normalizeAxes(opName, value.toNumbers(), x.rank);
}

/** The value of a Const-made tensor (the Const op keeps it as its `value` attr). */
function constHostValue(t: Tensor): HostTensor | undefined {
  return t.op.type === 'Const' ? (t.op.attrs.value as HostTensor | undefined) : undefined;
}

function reduceDef(
  type: string,
  onnxOp: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceProd',
  gradKind: 'sum' | 'mean' | 'extremum' | 'none',
) {
  return defineOp<ReduceAttrs>({
    type,
    infer: (inputs, attrs, opName) => {
      const t = inputs[0] as Tensor;
      checkReduceDType(opName, type, t);
      const axes = reductionAxes(opName, inputs, attrs);
      checkAxes(opName, t, axes);
      return [{ dtype: t.dtype, shape: reducedShape(t.shape, axes, attrs.keepDims) }];
    },
    lower: ({ b, op, inputs, outputs, attrs }) => {
      const axes = reductionAxes(op.name, op.inputs, attrs);
      emitReduce(b, onnxOp, inputs[0] as string, axes, attrs.keepDims, outputs[0]);
    },
    ...(gradKind === 'none'
      ? {}
      : {
          grad: ({ op, grads: [g], attrs }: GradContext & { attrs: ReduceAttrs }) => {
            const extra = op.inputs.slice(1).map(() => null);
            if (!g) return [null, ...extra];
            const x = op.inputs[0] as Tensor;
            const axes = reductionAxes(op.name, op.inputs, attrs);
            if (gradKind === 'extremum') return [extremumGrad(g, x, op.output, axes, attrs.keepDims), ...extra];
            return [broadcastReduced(g, x, axes, attrs.keepDims, { mean: gradKind === 'mean' }), ...extra];
          },
        }),
    typeAttrs: (op) => ({
      T: (op.inputs[0] as Tensor).dtype,
      ...(op.inputs[1] ? { Tidx: (op.inputs[1] as Tensor).dtype } : {}),
    }),
    kernels: CPU_AND_GPU,
    kernelConstraints: GPU_F32_I32,
  });
}

/** tf.reduce_sum (op type Sum). */
export const Sum = reduceDef('Sum', 'ReduceSum', 'sum');
/** tf.reduce_mean (op type Mean). */
export const Mean = reduceDef('Mean', 'ReduceMean', 'mean');
/** tf.reduce_max (op type Max). */
export const Max = reduceDef('Max', 'ReduceMax', 'extremum');
/** tf.reduce_min (op type Min). */
export const Min = reduceDef('Min', 'ReduceMin', 'extremum');
/**
 * tf.reduce_prod (op type Prod). No gradient yet (TensorFlow's needs cumulative products to handle zeros). The
 * WebGPU EP runs ReduceProd in float32 and int32 (kernel survey: one axis, all axes, keepDims).
 */
export const Prod = reduceDef('Prod', 'ReduceProd', 'none');

function reducer(def: OpDef<ReduceAttrs>, defaultName: string) {
  return (x: TensorLike, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor => {
    const t = toTensor(x, graphOf(x));
    const name = options.name ?? defaultName;
    return t.graph.addOp({
      def: def,
      inputs: [t],
      attrs: { axes: normalizeAxes(name, axes, t.rank), keepDims: options.keepDims ?? false },
      name,
    }).output;
  };
}

/** Sum over `axes` (all when undefined), tf.reduce_sum. */
export const reduceSum = reducer(Sum, 'Sum');
/** Mean over `axes` (all when undefined), tf.reduce_mean. */
export const reduceMean = reducer(Mean, 'Mean');
/** Maximum over `axes` (all when undefined), tf.reduce_max. */
export const reduceMax = reducer(Max, 'Max');
/** Minimum over `axes` (all when undefined), tf.reduce_min. */
export const reduceMin = reducer(Min, 'Min');
/** Product over `axes` (all when undefined), tf.reduce_prod. */
export const reduceProd = reducer(Prod, 'Prod');

// ---- ArgMax ------------------------------------------------------------------------------------------------

export const ArgMax = defineOp<{ axis: number; outputType: 'int32' | 'int64' }>({
  type: 'ArgMax',
  infer: ([x], { axis, outputType }, opName) => {
    const t = x as Tensor;
    checkReduceDType(opName, 'ArgMax', t);
    checkAxes(opName, t, [axis]);
    return [{ dtype: outputType, shape: reducedShape(t.shape, [axis], false) }];
  },
  lower: ({ b, inputs, outputs, attrs }) => {
    if (attrs.outputType === 'int64') {
      b.op('ArgMax', [inputs[0] as string], { axis: attrs.axis, keepdims: 0 }, outputs[0]);
    } else {
      const i64 = b.op('ArgMax', [inputs[0] as string], { axis: attrs.axis, keepdims: 0 });
      b.op('Cast', [i64], { to: 6 }, outputs[0]);
    }
  },
  notDifferentiable: true,
  typeAttrs: (op) => ({ T: (op.inputs[0] as Tensor).dtype, output_type: op.output.dtype }),
  // The WebGPU EP's ArgMax writes int64; output_type int32 adds a Cast of it, which the WebGPU EP does not read.
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'], output_type: ['int64'] }),
});

/** Index of the largest value along `axis` (tf.argmax); int64 by default, as TensorFlow's output_type. */
export function argMax(
  x: TensorLike,
  axis: number,
  options: { outputType?: 'int32' | 'int64'; name?: string } = {},
): Tensor {
  const t = toTensor(x, graphOf(x));
  const name = options.name ?? 'ArgMax';
  return t.graph.addOp({
    def: ArgMax,
    inputs: [t],
    attrs: { axis: normalizeAxis(name, axis, t.rank), outputType: options.outputType ?? 'int64' },
    name,
  }).output;
}

// ---- gradient helpers --------------------------------------------------------------------------------------

interface ReductionGradAttrs extends ReduceAttrs {
  mean: boolean;
}

function unsqueezeReduced(b: OnnxGraphBuilder, name: string, axes: readonly number[], keepDims: boolean): string {
  return keepDims || axes.length === 0 ? name : b.op('Unsqueeze', [name, b.int64s(axes, 'axes')]);
}

/**
 * ReductionGrad(dY, x): broadcasts the gradient of a sum (or mean) over `axes` back to x's shape, dividing by
 * the reduced element count for a mean. The count is static when the reduced dims are known, otherwise read
 * from x's run-time shape (Shape → Gather → ReduceProd → Cast), so unknown batch dims work.
 */
export const ReductionGrad = defineOp<ReductionGradAttrs>({
  type: 'ReductionGrad',
  infer: ([g, x]) => [{ dtype: (g as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const x = op.inputs[1] as Tensor;
    const dtype = (op.inputs[0] as Tensor).dtype;
    // dY of a reduction over every axis is a scalar, which Expand broadcasts as it is.
    const gk =
      attrs.axes.length === x.rank
        ? (inputs[0] as string)
        : unsqueezeReduced(b, inputs[0] as string, attrs.axes, attrs.keepDims);
    const shapeX = b.op('Shape', [inputs[1] as string]);
    if (!attrs.mean) {
      b.op('Expand', [gk, shapeX], {}, outputs[0]);
      return;
    }
    const dims = attrs.axes.map((a) => x.shape[a] ?? null);
    let count: string;
    if (dims.every((d) => d !== null)) {
      count = b.scalar(
        (dims as number[]).reduce((p, d) => p * d, 1),
        dtype,
        'count',
      );
    } else {
      // Counted in T, not from the int64 shape (Gather, ReduceProd, Cast), which the WebGPU EP does not run: the
      // sum over the reduced axes of a ones tensor shaped like x (keepdims, so it broadcasts in the Div).
      const ones = b.op('Expand', [b.scalar(1, dtype, 'one'), shapeX]);
      count = b.op('ReduceSum', [ones, b.int64s(attrs.axes, 'axes')], { keepdims: 1 });
    }
    // Divided before the broadcast: the same quotient, computed once per reduced value instead of once per element.
    b.op('Expand', [b.op('Div', [gk, count]), shapeX], {}, outputs[0]);
  },
  grad: ({ grads: [g], attrs }) => {
    if (!g) return [null, null];
    const reduce = attrs.mean ? reduceMean : reduceSum;
    return [reduce(g, attrs.axes, { keepDims: attrs.keepDims }), null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Gradient of reduce_sum / reduce_mean: `dY` broadcast back to `x`'s shape (÷ count for a mean). */
export function broadcastReduced(
  dY: Tensor,
  x: Tensor,
  axes: readonly number[],
  keepDims: boolean,
  options: { mean?: boolean; name?: string } = {},
): Tensor {
  return dY.graph.addOp({
    def: ReductionGrad,
    inputs: [dY, x],
    attrs: { axes: [...axes], keepDims, mean: options.mean ?? false },
    name: options.name ?? (options.mean ? 'MeanGrad' : 'SumGrad'),
  }).output;
}

/**
 * ExtremumGrad(dY, x, y): gradient of reduce_max / reduce_min. mask = Equal(x, y broadcast); the gradient is
 * split evenly among tied extrema (TensorFlow's _MinOrMaxGrad divides by the tie count).
 */
export const ExtremumGrad = defineOp<ReduceAttrs>({
  type: 'ExtremumGrad',
  infer: ([g, x]) => [{ dtype: (g as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const dtype = (op.inputs[0] as Tensor).dtype;
    const to = dtype === 'float64' ? 11 : dtype === 'float32' ? 1 : dtype === 'int32' ? 6 : 7;
    const yk = unsqueezeReduced(b, inputs[2] as string, attrs.axes, attrs.keepDims);
    const gk = unsqueezeReduced(b, inputs[0] as string, attrs.axes, attrs.keepDims);
    const mask = b.op('Cast', [b.op('Equal', [inputs[1] as string, yk])], { to });
    const ties = emitReduce(b, 'ReduceSum', mask, attrs.axes, true);
    b.op('Mul', [mask, b.op('Div', [gk, ties])], {}, outputs[0]);
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

function extremumGrad(g: Tensor, x: Tensor, y: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  return g.graph.addOp({
    def: ExtremumGrad,
    inputs: [g, x, y],
    attrs: { axes: [...axes], keepDims },
    name: 'ExtremumGrad',
  }).output;
}

/** A scalar HostTensor of `dtype` (for ConstantOfShape values). */
export function scalarValue(dtype: DType, value: number): HostTensor {
  return HostTensor.from(dtype, [value], [1]);
}
