/**
 * Array ops: dtype casts, shape manipulation (reshape, transpose, concat, split, slice, tile, expand_dims,
 * squeeze), indexing (gather, one_hot, where), tensor makers (fill, zeros, ones, *_like, range) and shape-of.
 * Lowerings and gradient recipes follow spec/placement-and-lowering.md §3.2 at opset 17.
 *
 * As in TensorFlow, shape-like operands (reshape's shape, fill's dims, tile's multiples, range's bounds) are
 * op inputs: plain arrays become int32 constants named under the op (`Reshape/shape`), and inference reads
 * them back when they are constants, so static shapes stay static.
 */
import { InvalidArgument } from '../errors.js';
import { dtypeInfo, fromValues, isDType, type DType } from '../graph/dtype.js';
import { getDefaultGraph, Tensor, type Graph, type Operation } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { defineOp, type OpDef, type OutputInfo } from '../graph/op-def.js';
import { formatShape, isFullyDefined, normalizeAxis, numElements, broadcastShapes, type Dim } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { constant, graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, CPU_ONLY, GPU_F32, GPU_F32_I32, gpuKernel, staticShapes } from './kernels.js';
import { Const } from './source.js';
import { unbroadcast } from './broadcast-grad.js';
import { reduceSum } from './reduce.js';

/** Largest `ends` value for ONNX Slice meaning "to the end" (Slice clamps it to the dimension). */
const SLICE_TO_END = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------------------
// Helpers

type Scalar = number | bigint | boolean | string;

/** The value of a tensor made by a Const op, or undefined when only known at run time. */
export function constValue(t: Tensor): HostTensor | undefined {
  return t.op.def === (Const as OpDef) ? (t.op.attrs.value as HostTensor) : undefined;
}

/** The integer values of a constant 1-D (or scalar) int tensor, or undefined when not constant. */
function constInts(t: Tensor): number[] | undefined {
  const v = constValue(t);
  return v ? v.toNumbers() : undefined;
}

function scalarHost(dtype: DType, value: Scalar): HostTensor {
  return new HostTensor(dtype, [], fromValues(dtype, [value]));
}

/** A scalar constant of any dtype (including string and bool) in the ONNX model. */
function scalarConst(b: OnnxGraphBuilder, dtype: DType, value: Scalar): string {
  return b.constant(scalarHost(dtype, value), 'scalar');
}

/** Casts an int32 ONNX value to int64 (ONNX shape-like inputs are int64); int64 passes through. */
function asInt64(b: OnnxGraphBuilder, name: string, dtype: DType): string {
  return dtype === 'int64' ? name : b.op('Cast', [name], { to: dtypeInfo('int64').onnx });
}

/**
 * ONNX Where, also for bool branches: ONNX Runtime 1.30 has no bool Where kernel ("Could not find an
 * implementation for Where(16)"), so bool branches go through uint8.
 */
function whereNode(b: OnnxGraphBuilder, dtype: DType, cond: string, x: string, y: string, output?: string): string {
  if (dtype !== 'bool') return b.op('Where', [cond, x, y], {}, output);
  const u8 = dtypeInfo('uint8').onnx;
  const picked = b.op('Where', [cond, b.op('Cast', [x], { to: u8 }), b.op('Cast', [y], { to: u8 })]);
  return b.op('Cast', [picked], { to: dtypeInfo('bool').onnx }, output);
}

function checkIntDType(opName: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32' && t.dtype !== 'int64') {
    throw new InvalidArgument(`Operation '${opName}': ${what} must be int32 or int64, got ${t.dtype} (${t.name})`);
  }
}

function checkDType(dtype: unknown, where: string): DType {
  if (!isDType(dtype)) throw new InvalidArgument(`${where}: unknown dtype '${String(dtype)}'`);
  return dtype;
}

/**
 * Adds an op whose extra inputs (constants made from plain values) are created under the op's own name, as
 * TensorFlow names them (`Reshape_1/shape`).
 */
function addOpWithInputs(
  graph: Graph,
  baseName: string,
  def: OpDef,
  makeInputs: () => Tensor[],
  attrs: Record<string, unknown> = {},
): Operation {
  const opName = graph.uniqueName(baseName);
  const inputs = graph.nameScope(opName, makeInputs, { reserved: true });
  return graph.addOp({ def, inputs, attrs, name: opName, reservedName: true });
}

/** An int32 shape-like operand: tensors pass through, arrays become a constant named `name`. */
function intOperand(graph: Graph, value: readonly number[] | Tensor, name: string): Tensor {
  if (value instanceof Tensor) return value;
  for (const v of value) {
    if (!Number.isInteger(v)) throw new InvalidArgument(`${name}: ${v} is not an integer`);
  }
  return constant([...value], { graph, dtype: 'int32', shape: [value.length], name });
}

/**
 * Static shape of `x` as a constant when fully known, else the run-time `shape(x)` — as int64, which the WebGPU
 * EP produces (its Shape kernel has no int32 output), so a reshape gradient stays on the GPU.
 */
function shapeOperand(x: Tensor): readonly number[] | Tensor {
  return isFullyDefined(x.shape) ? x.shape : shape(x, { outType: 'int64' });
}

function def1<A extends Record<string, unknown>>(d: OpDef<A>): OpDef<A> {
  return defineOp<A>(d);
}

// ---------------------------------------------------------------------------------------------------------
// Cast

export const Cast = def1<{ dtype: DType }>({
  type: 'Cast',
  infer: ([x], { dtype }) => [{ dtype, shape: (x as Tensor).shape }],
  lower: ({ b, inputs, outputs, attrs }) => {
    b.op('Cast', [inputs[0] as string], { to: dtypeInfo(attrs.dtype).onnx }, outputs[0]);
  },
  // TensorFlow: only float → float casts pass a gradient (cast back to the source type).
  grad: ({ op, grads, attrs }) => {
    const x = op.inputs[0] as Tensor;
    const g = grads[0];
    if (!g || !dtypeInfo(x.dtype).isFloat || !dtypeInfo(attrs.dtype).isFloat) return [null];
    return [cast(g, x.dtype)];
  },
  typeAttrs: (op) => ({ SrcT: (op.inputs[0] as Tensor).dtype, DstT: op.output.dtype }),
  kernels: CPU_AND_GPU,
  // The WebGPU EP's Cast reads no float64, int64 or string and writes no float64 or string.
  kernelConstraints: gpuKernel({
    SrcT: ['float32', 'int32', 'uint8', 'bool'],
    DstT: ['float32', 'int32', 'int64', 'uint8', 'bool'],
  }),
});

/** Converts `x` to `dtype` (tf.cast); float → int truncates toward zero, anything nonzero → true. */
export function cast(x: TensorLike, dtype: DType, options: { name?: string } = {}): Tensor {
  const t = toTensor(x, graphOf(x));
  checkDType(dtype, 'cast');
  return t.graph.addOp({ def: Cast, inputs: [t], attrs: { dtype }, name: options.name ?? 'Cast' }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Reshape

/** Output shape of a reshape given the requested dims (one may be -1); errors name the op and both shapes. */
function reshapeShape(opName: string, x: Tensor, requested: readonly number[]): Dim[] {
  const where = `for '${opName}' (op: 'Reshape') with input shapes: ${formatShape(x.shape)}, [${requested.length}]`;
  let inferred = -1;
  let known = 1;
  requested.forEach((d, i) => {
    if (d === -1) {
      if (inferred >= 0)
        throw new InvalidArgument(
          `Cannot infer multiple unknown dimensions in shape [${requested.join(',')}] ${where}.`,
        );
      inferred = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new InvalidArgument(`Size ${i} must be non-negative, not ${d} ${where}.`);
    } else known *= d;
  });
  const total = numElements(x.shape);
  if (inferred < 0) {
    if (total !== null && total !== known) {
      throw new InvalidArgument(
        `Cannot reshape a tensor with ${total} elements to shape [${requested.join(',')}] (${known} elements) ${where}.`,
      );
    }
    return [...requested];
  }
  const out: Dim[] = [...requested];
  if (total === null) out[inferred] = null;
  else if (known === 0 ? total !== 0 : total % known !== 0) {
    throw new InvalidArgument(
      `Cannot reshape a tensor with ${total} elements to shape [${requested.join(',')}]: the element count is not divisible by ${known} ${where}.`,
    );
  } else out[inferred] = known === 0 ? 0 : total / known;
  return out;
}

export const Reshape = def1({
  type: 'Reshape',
  infer: ([x, s], _attrs, opName) => {
    const tensor = x as Tensor;
    const shapeT = s as Tensor;
    checkIntDType(opName, 'shape', shapeT);
    if (shapeT.rank !== 1) {
      throw new InvalidArgument(
        `Operation '${opName}': shape must be a vector, got shape ${formatShape(shapeT.shape)} for input ${formatShape(tensor.shape)}`,
      );
    }
    const requested = constInts(shapeT);
    if (requested) return [{ dtype: tensor.dtype, shape: reshapeShape(opName, tensor, requested) }];
    const rank = shapeT.shape[0];
    if (rank === null || rank === undefined) {
      throw new InvalidArgument(`Operation '${opName}': the length of the shape operand must be known`);
    }
    return [{ dtype: tensor.dtype, shape: Array<Dim>(rank).fill(null) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const shapeT = op.inputs[1] as Tensor;
    // TensorFlow reads 0 as a zero-sized dimension; ONNX needs allowzero=1 for that (0 means "copy" otherwise).
    // allowzero=1 forbids mixing 0 and -1, which TensorFlow cannot resolve either.
    const requested = constInts(shapeT);
    const allowzero = requested ? (requested.includes(0) ? 1 : undefined) : 1;
    b.op('Reshape', [inputs[0] as string, asInt64(b, inputs[1] as string, shapeT.dtype)], { allowzero }, outputs[0]);
  },
  grad: ({ op, grads }) => {
    const x = op.inputs[0] as Tensor;
    const g = grads[0];
    return [g ? reshape(g, shapeOperand(x)) : null, null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32', 'uint8', 'bool'] }),
});

/** Gives `x` a new shape with the same elements (tf.reshape); one dim may be -1 (inferred). */
export function reshape(x: Tensor, shape: readonly number[] | Tensor, options: { name?: string } = {}): Tensor {
  return addOpWithInputs(x.graph, options.name ?? 'Reshape', Reshape, () => [x, intOperand(x.graph, shape, 'shape')])
    .output;
}

// ---------------------------------------------------------------------------------------------------------
// Transpose

export const Transpose = def1<{ perm: number[] }>({
  type: 'Transpose',
  infer: ([x], { perm }, opName) => {
    const t = x as Tensor;
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== t.rank || sorted.some((p, i) => p !== i)) {
      throw new InvalidArgument(
        `Operation '${opName}': perm [${perm.join(',')}] is not a permutation of the ${t.rank} axes of shape ${formatShape(t.shape)}`,
      );
    }
    return [{ dtype: t.dtype, shape: perm.map((p) => t.shape[p] ?? null) }];
  },
  lower: ({ b, inputs, outputs, attrs }) => {
    b.op('Transpose', [inputs[0] as string], { perm: attrs.perm }, outputs[0]);
  },
  grad: ({ grads, attrs }) => {
    const g = grads[0];
    if (!g) return [null];
    const inverse = Array<number>(attrs.perm.length);
    attrs.perm.forEach((p, i) => (inverse[p] = i));
    return [transpose(g, inverse)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Permutes the axes of `x` (tf.transpose); `perm` defaults to reversing them. Negative axes count from the end. */
export function transpose(x: Tensor, perm?: readonly number[], options: { name?: string } = {}): Tensor {
  const p = perm ? perm.map((a) => (a < 0 ? a + x.rank : a)) : [...Array(x.rank).keys()].reverse();
  return x.graph.addOp({ def: Transpose, inputs: [x], attrs: { perm: p }, name: options.name ?? 'transpose' }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Concat and split

/**
 * A def's axis: its `axis` attr when flowserve's own helpers built the op, else TensorFlow's form, a constant
 * scalar int input at `index` (ConcatV2's last input, ExpandDims' second), as an imported graph has it.
 */
export function axisOperand(opName: string, attrAxis: number | undefined, t: Tensor | undefined): number {
  if (attrAxis !== undefined) return attrAxis;
  if (!t) throw new InvalidArgument(`Operation '${opName}': needs an axis attr or an axis input`);
  checkIntDType(opName, 'axis', t);
  const v = constInts(t);
  if (!v || v.length !== 1 || t.rank > 1) {
    throw new InvalidArgument(
      `Operation '${opName}': axis '${t.name}' must be a constant scalar when the graph is built, got shape ${formatShape(t.shape)}`,
    );
  }
  return v[0] as number;
}

/** ConcatV2's values and axis, from the attr or from TensorFlow's trailing axis input. */
function concatOperands<T>(opName: string, items: readonly T[], tensors: readonly Tensor[], attrAxis?: number) {
  if (attrAxis !== undefined) return { values: items, axis: attrAxis };
  return { values: items.slice(0, -1), axis: axisOperand(opName, undefined, tensors[tensors.length - 1]) };
}

export const ConcatV2 = def1<{ axis?: number }>({
  type: 'ConcatV2',
  infer: (inputs, attrs, opName) => {
    const { values, axis } = concatOperands(opName, inputs, inputs, attrs.axis);
    const first = values[0];
    if (!first) throw new InvalidArgument(`Operation '${opName}': concat needs at least one tensor`);
    const shapes = values.map((v) => formatShape(v.shape)).join(', ');
    const where = `for '${opName}' (op: 'ConcatV2') with input shapes: ${shapes}`;
    for (const v of values) {
      if (v.dtype !== first.dtype) {
        throw new InvalidArgument(
          `Operation '${opName}': all inputs must have the same dtype, got ${first.dtype} (${first.name}) and ${v.dtype} (${v.name})`,
        );
      }
      if (v.rank !== first.rank) {
        throw new InvalidArgument(`Shape must be rank ${first.rank} but is rank ${v.rank} ${where}.`);
      }
    }
    const ax = normalizeAxis(opName, axis, first.rank);
    const out: Dim[] = [...first.shape];
    for (const v of values.slice(1)) {
      v.shape.forEach((d, i) => {
        const o = out[i] ?? null;
        if (i === ax) out[i] = o === null || d === null ? null : o + d;
        else if (o !== null && d !== null && o !== d) {
          throw new InvalidArgument(
            `Dimension ${i} in both shapes must be equal, but are ${o} and ${d}. Shapes are ${formatShape(first.shape)} and ${formatShape(v.shape)}. ${where}.`,
          );
        } else if (o === null) out[i] = d;
      });
    }
    return [{ dtype: first.dtype, shape: out }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const { values, axis } = concatOperands(op.name, inputs, op.inputs, attrs.axis);
    const rank = (op.inputs[0] as Tensor).rank;
    b.op('Concat', [...values], { axis: axis < 0 ? axis + rank : axis }, outputs[0]);
  },
  // The incoming gradient is split back into pieces the size of each input along the axis.
  grad: ({ op, grads, attrs }) => {
    const g = grads[0];
    const { values, axis } = concatOperands(op.name, op.inputs, op.inputs, attrs.axis);
    const axisInput = attrs.axis === undefined ? [null] : [];
    if (!g) return op.inputs.map(() => null);
    if (values.length === 1) return [g, ...axisInput];
    const rank = (op.inputs[0] as Tensor).rank;
    const ax = axis < 0 ? axis + rank : axis;
    const sizes = values.map((t) => t.shape[ax] ?? null);
    const sizeOperand = sizes.every((d): d is number => d !== null)
      ? sizes
      : concat(
          values.map((t) => gather(shape(t), [ax])),
          0,
        );
    return [...split(g, sizeOperand, ax), ...axisInput];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Joins tensors along `axis` (tf.concat); all must share dtype, rank and every other dimension. */
export function concat(values: readonly TensorLike[], axis: number, options: { name?: string } = {}): Tensor {
  const graph = graphOf(...values);
  const dtype = values.find((v): v is Tensor => v instanceof Tensor)?.dtype;
  const tensors = values.map((v) => toTensor(v, graph, dtype));
  return graph.addOp({ def: ConcatV2, inputs: tensors, attrs: { axis }, name: options.name ?? 'concat' }).output;
}

export const SplitV = def1<{ axis: number; num: number }>({
  type: 'SplitV',
  infer: ([x, sizes], { axis, num }, opName) => {
    const t = x as Tensor;
    const s = sizes as Tensor;
    checkIntDType(opName, 'size_splits', s);
    const ax = normalizeAxis(opName, axis, t.rank);
    const known = constInts(s);
    const dim = t.shape[ax] ?? null;
    if (known) {
      if (known.length !== num)
        throw new InvalidArgument(`Operation '${opName}': ${known.length} sizes for ${num} outputs`);
      const total = known.reduce((a, v) => a + v, 0);
      if (known.some((v) => v < 0) || (dim !== null && total !== dim)) {
        throw new InvalidArgument(
          `Operation '${opName}': sizes [${known.join(',')}] must be non-negative and sum to dimension ${ax} of shape ${formatShape(t.shape)}`,
        );
      }
    }
    return Array.from({ length: num }, (_, i) => ({
      dtype: t.dtype,
      shape: t.shape.map((d, j) => (j === ax ? (known?.[i] ?? null) : d)),
    }));
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const x = op.inputs[0] as Tensor;
    const ax = attrs.axis < 0 ? attrs.axis + x.rank : attrs.axis;
    b.node(
      'Split',
      [inputs[0] as string, asInt64(b, inputs[1] as string, (op.inputs[1] as Tensor).dtype)],
      { axis: ax },
      outputs,
    );
  },
  grad: ({ op, grads, attrs }) => {
    if (grads.every((g) => g === null)) return [null, null];
    const pieces = grads.map((g, i) => g ?? zerosLike(op.outputs[i] as Tensor));
    return [concat(pieces, attrs.axis), null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/**
 * Splits `x` along `axis` (tf.split): into `numOrSizes` equal pieces, or pieces of the given sizes (an array or
 * a 1-D int tensor).
 */
export function split(
  x: Tensor,
  numOrSizes: number | readonly number[] | Tensor,
  axis = 0,
  options: { name?: string } = {},
): Tensor[] {
  let sizes: readonly number[] | Tensor;
  let num: number;
  if (typeof numOrSizes === 'number') {
    const ax = normalizeAxis(options.name ?? 'split', axis, x.rank);
    const dim = x.shape[ax] ?? null;
    if (dim === null || dim % numOrSizes !== 0) {
      throw new InvalidArgument(
        `split: dimension ${ax} of shape ${formatShape(x.shape)} must be known and divisible by ${numOrSizes}`,
      );
    }
    sizes = Array<number>(numOrSizes).fill(dim / numOrSizes);
    num = numOrSizes;
  } else if (numOrSizes instanceof Tensor) {
    const n = numOrSizes.shape[0];
    if (numOrSizes.rank !== 1 || n === null || n === undefined) {
      throw new InvalidArgument(`split: size tensor '${numOrSizes.name}' must be a vector of known length`);
    }
    sizes = numOrSizes;
    num = n;
  } else {
    sizes = numOrSizes;
    num = numOrSizes.length;
  }
  return addOpWithInputs(
    x.graph,
    options.name ?? 'split',
    SplitV,
    () => [x, intOperand(x.graph, sizes, 'size_splits')],
    {
      axis,
      num,
    },
  ).outputs;
}

// ---------------------------------------------------------------------------------------------------------
// Slice

function sliceShape(opName: string, x: Tensor, begin: readonly number[], size: readonly number[]): Dim[] {
  const detail = `for '${opName}' (op: 'Slice') with input shape ${formatShape(x.shape)}, begin [${begin.join(',')}] and size [${size.join(',')}]`;
  if (begin.length !== x.rank || size.length !== x.rank) {
    throw new InvalidArgument(
      `Operation '${opName}': begin and size must have ${x.rank} entries, one per axis, ${detail}`,
    );
  }
  return x.shape.map((d, i) => {
    const b = begin[i] as number;
    const s = size[i] as number;
    if (!Number.isInteger(b) || !Number.isInteger(s))
      throw new InvalidArgument(`Operation '${opName}': begin and size must be integers ${detail}`);
    if (b < 0 || (d !== null && b > d)) {
      throw new InvalidArgument(`Expected begin[${i}] in [0, ${d ?? '?'}], but got ${b} ${detail}.`);
    }
    if (s === -1) return d === null ? null : d - b;
    if (s < 0 || (d !== null && b + s > d)) {
      throw new InvalidArgument(`Expected size[${i}] in [0, ${d === null ? '?' : d - b}], but got ${s} ${detail}.`);
    }
    return s;
  });
}

export const Slice = def1<{ begin: number[]; size: number[] }>({
  type: 'Slice',
  infer: ([x], { begin, size }, opName) => {
    const t = x as Tensor;
    return [{ dtype: t.dtype, shape: sliceShape(opName, t, begin, size) }];
  },
  lower: ({ b, inputs, outputs, attrs }) => {
    const ends = attrs.size.map((s, i) => (s === -1 ? SLICE_TO_END : (attrs.begin[i] as number) + s));
    const axes = attrs.begin.map((_, i) => i);
    b.op('Slice', [inputs[0] as string, b.int64s(attrs.begin), b.int64s(ends), b.int64s(axes)], {}, outputs[0]);
  },
  grad: ({ op, grads, attrs }) => {
    const g = grads[0];
    if (!g) return [null];
    return [
      op.graph.addOp({
        def: SliceGrad,
        inputs: [g, op.inputs[0] as Tensor],
        attrs: { begin: attrs.begin },
        name: 'Pad',
      }).output,
    ];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/**
 * Gradient of Slice: pads dY back to x's shape with zeros (ONNX Pad, pads = begin before and
 * shape(x) − begin − shape(dY) after, computed at run time so unknown dims work).
 */
export const SliceGrad = def1<{ begin: number[] }>({
  type: 'SliceGrad',
  infer: ([, x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [dy, x] = op.inputs as [Tensor, Tensor];
    let after: string;
    if (isFullyDefined(x.shape) && isFullyDefined(dy.shape)) {
      const xs = x.shape;
      const ds = dy.shape;
      after = b.int64s(xs.map((d, i) => d - (attrs.begin[i] as number) - (ds[i] as number)));
    } else {
      const begin = b.int64s(attrs.begin);
      after = b.op('Sub', [
        b.op('Sub', [b.op('Shape', [inputs[1] as string]), begin]),
        b.op('Shape', [inputs[0] as string]),
      ]);
    }
    const pads = b.op('Concat', [b.int64s(attrs.begin), after], { axis: 0 });
    b.op('Pad', [inputs[0] as string, pads, scalarConst(b, dy.dtype, 0)], {}, outputs[0]);
  },
  grad: ({ op, grads, attrs }) => {
    const g = grads[0];
    const dy = op.inputs[0] as Tensor;
    if (!g) return [null, null];
    return [
      slice(
        g,
        attrs.begin,
        dy.shape.map((d) => d ?? -1),
      ),
      null,
    ];
  },
  kernels: CPU_AND_GPU,
  // Unknown dims make the pads int64 arithmetic (Shape, Sub, Concat), which the WebGPU EP does not run.
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'] }, staticShapes()),
});

/**
 * Extracts `size[i]` elements from `begin[i]` on each axis (tf.slice); a size of -1 takes the rest of the axis.
 * Out-of-range begin/size are build-time errors when the dimension is known.
 */
export function slice(
  x: Tensor,
  begin: readonly number[],
  size: readonly number[],
  options: { name?: string } = {},
): Tensor {
  return x.graph.addOp({
    def: Slice,
    inputs: [x],
    attrs: { begin: [...begin], size: [...size] },
    name: options.name ?? 'Slice',
  }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Gather

export const GatherV2 = def1<{ axis: number }>({
  type: 'GatherV2',
  infer: ([params, indices], { axis }, opName) => {
    const p = params as Tensor;
    const idx = indices as Tensor;
    checkIntDType(opName, 'indices', idx);
    const ax = normalizeAxis(opName, axis, p.rank);
    return [{ dtype: p.dtype, shape: [...p.shape.slice(0, ax), ...idx.shape, ...p.shape.slice(ax + 1)] }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const rank = (op.inputs[0] as Tensor).rank;
    b.op(
      'Gather',
      [inputs[0] as string, inputs[1] as string],
      { axis: attrs.axis < 0 ? attrs.axis + rank : attrs.axis },
      outputs[0],
    );
  },
  grad: ({ op, grads, attrs }) => {
    const g = grads[0];
    if (!g) return [null, null];
    const [params, indices] = op.inputs as [Tensor, Tensor];
    const axis = attrs.axis < 0 ? attrs.axis + params.rank : attrs.axis;
    return [
      op.graph.addOp({ def: GatherGrad, inputs: [params, indices, g], attrs: { axis }, name: 'GatherGrad' }).output,
      null,
    ];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32', 'uint8', 'bool'] }),
});

/**
 * Gradient of Gather with respect to params: dY scattered with addition into zeros of params' shape (repeated
 * indices accumulate). Axis 0 uses ScatterND(reduction='add') on Unsqueeze(indices, -1); other axes reshape dY to
 * P[:axis] + [n] + P[axis+1:], broadcast the indices to it and use ScatterElements(reduction='add').
 * Input 0 (params) is only read for its shape.
 */
export const GatherGrad = def1<{ axis: number }>({
  type: 'GatherGrad',
  infer: ([params]) => [{ dtype: (params as Tensor).dtype, shape: (params as Tensor).shape }],
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [params, indices, dy] = op.inputs as [Tensor, Tensor, Tensor];
    const [pName, iName, dName] = inputs as [string, string, string];
    const pShape = b.op('Shape', [pName]);
    const zeros = b.op('Expand', [scalarConst(b, dy.dtype, 0), pShape]);
    const idx = asInt64(b, iName, indices.dtype);
    const axis = attrs.axis;
    if (axis === 0) {
      const idx2 = b.op('Unsqueeze', [idx, b.int64s([-1])]);
      b.op('ScatterND', [zeros, idx2, dName], { reduction: 'add' }, outputs[0]);
      return;
    }
    const rank = params.rank;
    const parts = [b.op('Slice', [pShape, b.int64s([0]), b.int64s([axis])]), b.int64s([-1])];
    if (axis + 1 < rank) parts.push(b.op('Slice', [pShape, b.int64s([axis + 1]), b.int64s([rank])]));
    const dy2 = b.op('Reshape', [dName, b.op('Concat', parts, { axis: 0 })]);
    const idxShape = Array.from({ length: rank }, (_, i) => (i === axis ? -1 : 1));
    const idx2 = b.op('Expand', [b.op('Reshape', [idx, b.int64s(idxShape)]), b.op('Shape', [dy2])]);
    b.op('ScatterElements', [zeros, idx2, dy2], { axis, reduction: 'add' }, outputs[0]);
  },
  grad: ({ op, grads, attrs }) => {
    const g = grads[0];
    return [null, null, g ? gather(g, op.inputs[1] as Tensor, attrs.axis) : null];
  },
  // Float scatter-add is a likely WebGPU gap (spec §3.4), and the index arithmetic is int64.
  kernels: CPU_ONLY,
});

/** Gathers slices of `params` along `axis` at `indices` (tf.gather); indices must be int32 or int64. */
export function gather(params: TensorLike, indices: TensorLike, axis = 0, options: { name?: string } = {}): Tensor {
  const graph = graphOf(params, indices);
  const p = toTensor(params, graph);
  const i = toTensor(indices, graph, 'int32');
  return graph.addOp({ def: GatherV2, inputs: [p, i], attrs: { axis }, name: options.name ?? 'GatherV2' }).output;
}

// ---------------------------------------------------------------------------------------------------------
// OneHot

export const OneHot = def1<{ depth: number; axis: number; dtype: DType; onValue: Scalar; offValue: Scalar }>({
  type: 'OneHot',
  infer: ([indices], { depth, axis, dtype }, opName) => {
    const idx = indices as Tensor;
    checkIntDType(opName, 'indices', idx);
    if (!Number.isInteger(depth) || depth < 0)
      throw new InvalidArgument(`Operation '${opName}': depth must be a non-negative integer, got ${depth}`);
    const ax = axis === -1 ? idx.rank : axis;
    if (ax < 0 || ax > idx.rank) {
      throw new InvalidArgument(`Operation '${opName}': axis ${axis} is out of range for indices of rank ${idx.rank}`);
    }
    const shape: Dim[] = [...idx.shape];
    shape.splice(ax, 0, depth);
    return [{ dtype, shape }];
  },
  // Equal(indices, range(depth)) then Where(on, off): unlike ONNX OneHot (which wraps negative indices and has
  // a fixed set of type combinations in ONNX Runtime), out-of-range indices give an all-off row, as TensorFlow.
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const idx = op.inputs[0] as Tensor;
    const ax = attrs.axis === -1 ? idx.rank : attrs.axis;
    const idx32 =
      idx.dtype === 'int32'
        ? (inputs[0] as string)
        : b.op('Cast', [inputs[0] as string], { to: dtypeInfo('int32').onnx });
    const expanded = b.op('Unsqueeze', [idx32, b.int64s([ax])]);
    const r = b.op('Range', [
      scalarConst(b, 'int32', 0),
      scalarConst(b, 'int32', attrs.depth),
      scalarConst(b, 'int32', 1),
    ]);
    const rangeShape = [attrs.depth, ...Array<number>(idx.rank - ax).fill(1)];
    const mask = b.op('Equal', [expanded, b.op('Reshape', [r, b.int64s(rangeShape)])]);
    const on = scalarConst(b, attrs.dtype, attrs.onValue);
    whereNode(b, attrs.dtype, mask, on, scalarConst(b, attrs.dtype, attrs.offValue), outputs[0]);
  },
  notDifferentiable: true,
  typeAttrs: (op) => ({ T: op.output.dtype, TI: (op.inputs[0] as Tensor).dtype }),
  kernels: CPU_AND_GPU,
  // int64 indices are cast to int32 first, and the WebGPU EP's Cast reads no int64.
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'], TI: ['int32'] }),
});

export interface OneHotOptions {
  onValue?: Scalar;
  offValue?: Scalar;
  /** Where the new axis goes; -1 (default) appends it. */
  axis?: number;
  dtype?: DType;
  name?: string;
}

/** One-hot encoding (tf.one_hot): out-of-range (and negative) indices give rows of `offValue`. */
export function oneHot(indices: TensorLike, depth: number, options: OneHotOptions = {}): Tensor {
  const graph = graphOf(indices);
  const idx = toTensor(indices, graph, 'int32');
  const dtype = checkDType(options.dtype ?? 'float32', 'oneHot');
  return graph.addOp({
    def: OneHot,
    inputs: [idx],
    attrs: {
      depth,
      axis: options.axis ?? -1,
      dtype,
      onValue: options.onValue ?? (dtype === 'bool' ? true : 1),
      offValue: options.offValue ?? (dtype === 'bool' ? false : 0),
    },
    name: options.name ?? 'one_hot',
  }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Fill, zeros, ones, *_like

function dimsShape(opName: string, dims: Tensor): Dim[] {
  checkIntDType(opName, 'dims', dims);
  if (dims.rank !== 1)
    throw new InvalidArgument(`Operation '${opName}': dims must be a vector, got shape ${formatShape(dims.shape)}`);
  const known = constInts(dims);
  if (known) {
    if (known.some((d) => d < 0 || !Number.isInteger(d))) {
      throw new InvalidArgument(`Operation '${opName}': dims [${known.join(',')}] must be non-negative integers`);
    }
    return known;
  }
  const n = dims.shape[0];
  if (n === null || n === undefined)
    throw new InvalidArgument(`Operation '${opName}': the length of dims must be known`);
  return Array<Dim>(n).fill(null);
}

export const Fill = def1({
  type: 'Fill',
  infer: ([dims, value], _attrs, opName) => {
    const v = value as Tensor;
    if (v.rank !== 0)
      throw new InvalidArgument(`Operation '${opName}': value must be a scalar, got shape ${formatShape(v.shape)}`);
    return [{ dtype: v.dtype, shape: dimsShape(opName, dims as Tensor) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    b.op(
      'Expand',
      [inputs[1] as string, asInt64(b, inputs[0] as string, (op.inputs[0] as Tensor).dtype)],
      {},
      outputs[0],
    );
  },
  // TensorFlow's FillGrad: the value's gradient is the sum of dY.
  grad: ({ grads, op }) => {
    const g = grads[0];
    if (!g || !dtypeInfo((op.inputs[1] as Tensor).dtype).isFloat) return [null, null];
    return [null, reduceSum(g)];
  },
  kernels: CPU_AND_GPU,
  // uint8: the WebGPU EP claims Expand but fails at run time.
  kernelConstraints: gpuKernel({ T: ['float32', 'int32', 'bool'] }),
});

export interface MakerOptions {
  name?: string;
  /** Graph to add the op to when no operand is a tensor; defaults to the default graph. */
  graph?: Graph;
}

/** A tensor of shape `shape` filled with `value` (tf.fill); `value` may be a scalar tensor. */
export function fill(
  shape: readonly number[] | Tensor,
  value: Scalar | Tensor,
  options: MakerOptions & { dtype?: DType } = {},
): Tensor {
  const graph =
    value instanceof Tensor
      ? value.graph
      : shape instanceof Tensor
        ? shape.graph
        : (options.graph ?? getDefaultGraph());
  return addOpWithInputs(graph, options.name ?? 'Fill', Fill, () => {
    const dims = intOperand(graph, shape, 'dims');
    const v =
      value instanceof Tensor
        ? value
        : constant(value, {
            graph,
            dtype: options.dtype ?? (typeof value === 'number' ? 'float32' : undefined),
            name: 'value',
          });
    return [dims, options.dtype && v.dtype !== options.dtype ? cast(v, options.dtype) : v];
  }).output;
}

function zeroOf(dtype: DType): Scalar {
  return dtype === 'string' ? '' : dtype === 'bool' ? false : dtype === 'int64' ? 0n : 0;
}

function oneOf(dtype: DType): Scalar {
  if (dtype === 'string') throw new InvalidArgument('ones: there is no "one" of dtype string');
  return dtype === 'bool' ? true : dtype === 'int64' ? 1n : 1;
}

/** A tensor of zeros (tf.zeros); `''` for strings, false for bools. */
export function zeros(shape: readonly number[] | Tensor, dtype: DType = 'float32', options: MakerOptions = {}): Tensor {
  return fill(shape, zeroOf(checkDType(dtype, 'zeros')), { ...options, dtype, name: options.name ?? 'zeros' });
}

/** A tensor of ones (tf.ones); true for bools. */
export function ones(shape: readonly number[] | Tensor, dtype: DType = 'float32', options: MakerOptions = {}): Tensor {
  return fill(shape, oneOf(checkDType(dtype, 'ones')), { ...options, dtype, name: options.name ?? 'ones' });
}

function likeDef(type: string, valueOf: (dtype: DType) => Scalar) {
  return def1({
    type,
    infer: ([x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
    lower: ({ b, op, inputs, outputs }) => {
      const x = op.inputs[0] as Tensor;
      // A shape known when the graph is built is a constant: ONNX Runtime then folds the whole op into a constant
      // (the gradient's seed, ones like a scalar loss, costs no node per step).
      const shape = x.shape.every((d) => d !== null)
        ? b.int64s(x.shape as number[], 'shape')
        : b.op('Shape', [inputs[0] as string]);
      b.op('Expand', [scalarConst(b, x.dtype, valueOf(x.dtype)), shape], {}, outputs[0]);
    },
    notDifferentiable: true,
    kernels: CPU_AND_GPU,
    kernelConstraints: GPU_F32_I32,
  });
}

export const ZerosLike = likeDef('ZerosLike', zeroOf);
export const OnesLike = likeDef('OnesLike', oneOf);

/** Zeros with the shape of `x` (tf.zeros_like); `dtype` other than x's casts the result. */
export function zerosLike(x: Tensor, options: { dtype?: DType; name?: string } = {}): Tensor {
  const name = options.name ?? 'zeros_like';
  if (options.dtype && options.dtype !== x.dtype)
    return zeros(shapeOperand(x), options.dtype, { name, graph: x.graph });
  return x.graph.addOp({ def: ZerosLike, inputs: [x], name }).output;
}

/** Ones with the shape of `x` (tf.ones_like). */
export function onesLike(x: Tensor, options: { dtype?: DType; name?: string } = {}): Tensor {
  const name = options.name ?? 'ones_like';
  if (options.dtype && options.dtype !== x.dtype) return ones(shapeOperand(x), options.dtype, { name, graph: x.graph });
  return x.graph.addOp({ def: OnesLike, inputs: [x], name }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Range

export const Range = def1<{ dtype: DType }>({
  type: 'Range',
  infer: ([start, limit, delta], { dtype }, opName) => {
    const ins = [start, limit, delta] as Tensor[];
    for (const t of ins) {
      if (t.rank !== 0)
        throw new InvalidArgument(
          `Operation '${opName}': start, limit and delta must be scalars, got ${t.name} of shape ${formatShape(t.shape)}`,
        );
    }
    const [s, l, d] = ins.map((t) => constValue(t)?.toNumbers()[0]);
    if (d === 0) throw new InvalidArgument(`Operation '${opName}': Requires delta != 0: 0`);
    if (s === undefined || l === undefined || d === undefined) return [{ dtype, shape: [null] }];
    if ((d > 0 && s > l) || (d < 0 && s < l)) {
      throw new InvalidArgument(
        `Operation '${opName}': Requires start ${d > 0 ? '<=' : '>='} limit when delta ${d > 0 ? '>' : '<'} 0: ${s}/${l}`,
      );
    }
    return [{ dtype, shape: [Math.ceil(Math.abs((l - s) / d))] }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    // ONNX Runtime's Range has no uint8 kernel: compute in int32 and cast.
    const inDtype = (op.inputs[0] as Tensor).dtype;
    if (inDtype === attrs.dtype) {
      b.op('Range', [...inputs], {}, outputs[0]);
      return;
    }
    b.op('Cast', [b.op('Range', [...inputs])], { to: dtypeInfo(attrs.dtype).onnx }, outputs[0]);
  },
  notDifferentiable: true,
  typeAttrs: (op) => ({ Tidx: op.output.dtype }),
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ Tidx: ['float32', 'int32', 'uint8'] }),
});

/**
 * A sequence from `start` (inclusive) to `limit` (exclusive) in steps of `delta` (tf.range); with one bound,
 * `range(n)` counts 0 … n-1. The dtype defaults to int32 for integer bounds, float32 otherwise.
 */
export function range(
  start: number | Tensor,
  limit?: number | Tensor,
  delta: number | Tensor = 1,
  options: MakerOptions & { dtype?: DType } = {},
): Tensor {
  const [s, l] = limit === undefined ? [0, start] : [start, limit];
  const bounds = [s, l, delta];
  const first = bounds.find((v): v is Tensor => v instanceof Tensor);
  const graph = first?.graph ?? options.graph ?? getDefaultGraph();
  const dtype = options.dtype ?? first?.dtype ?? (bounds.every((v) => Number.isInteger(v)) ? 'int32' : 'float32');
  checkDType(dtype, 'range');
  if (dtype === 'bool' || dtype === 'string') throw new InvalidArgument(`range: dtype ${dtype} is not numeric`);
  const computeDtype: DType = dtype === 'uint8' ? 'int32' : dtype;
  const names = ['start', 'limit', 'delta'];
  return addOpWithInputs(
    graph,
    options.name ?? 'range',
    Range,
    () =>
      bounds.map((v, i) => {
        if (!(v instanceof Tensor)) return constant(v, { graph, dtype: computeDtype, name: names[i] });
        return v.dtype === computeDtype ? v : cast(v, computeDtype);
      }),
    { dtype },
  ).output;
}

// ---------------------------------------------------------------------------------------------------------
// ExpandDims, Squeeze, Shape

export const ExpandDims = def1<{ axis?: number }>({
  type: 'ExpandDims',
  infer: ([x, axisInput], attrs, opName) => {
    const t = x as Tensor;
    const ax = normalizeAxis(opName, axisOperand(opName, attrs.axis, axisInput), t.rank + 1);
    const shape: Dim[] = [...t.shape];
    shape.splice(ax, 0, 1);
    return [{ dtype: t.dtype, shape }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const rank = (op.inputs[0] as Tensor).rank + 1;
    const axis = axisOperand(op.name, attrs.axis, op.inputs[1]);
    b.op('Unsqueeze', [inputs[0] as string, b.int64s([axis < 0 ? axis + rank : axis])], {}, outputs[0]);
  },
  grad: ({ op, grads }) => {
    const g = grads[0];
    const axisInput = op.inputs.length > 1 ? [null] : [];
    return [g ? reshape(g, shapeOperand(op.inputs[0] as Tensor)) : null, ...axisInput];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32', 'bool'] }),
});

/** Inserts a dimension of size 1 at `axis` (tf.expand_dims); axis in [-rank-1, rank]. */
export function expandDims(x: Tensor, axis: number, options: { name?: string } = {}): Tensor {
  return x.graph.addOp({ def: ExpandDims, inputs: [x], attrs: { axis }, name: options.name ?? 'ExpandDims' }).output;
}

export const Squeeze = def1<{ axes: number[] }>({
  type: 'Squeeze',
  infer: ([x], { axes }, opName) => {
    const t = x as Tensor;
    const norm = new Set(axes.map((a) => normalizeAxis(opName, a, t.rank)));
    for (const a of norm) {
      const d = t.shape[a] ?? null;
      if (d !== null && d !== 1) {
        throw new InvalidArgument(
          `Can not squeeze dim[${a}], expected a dimension of 1, got ${d} for '${opName}' (op: 'Squeeze') with input shapes: ${formatShape(t.shape)}.`,
        );
      }
    }
    return [{ dtype: t.dtype, shape: t.shape.filter((_, i) => !norm.has(i)) }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const rank = (op.inputs[0] as Tensor).rank;
    const axes = attrs.axes.map((a) => (a < 0 ? a + rank : a));
    if (axes.length === 0) b.op('Identity', [inputs[0] as string], {}, outputs[0]);
    else b.op('Squeeze', [inputs[0] as string, b.int64s(axes)], {}, outputs[0]);
  },
  grad: ({ op, grads }) => {
    const g = grads[0];
    return [g ? reshape(g, shapeOperand(op.inputs[0] as Tensor)) : null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/**
 * Removes dimensions of size 1 (tf.squeeze): those in `axis`, or by default every dimension statically known
 * to be 1 (unknown dimensions are kept, so the static shape stays exact).
 */
export function squeeze(x: Tensor, axis?: readonly number[], options: { name?: string } = {}): Tensor {
  const axes = axis ? [...axis] : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  return x.graph.addOp({ def: Squeeze, inputs: [x], attrs: { axes }, name: options.name ?? 'Squeeze' }).output;
}

export const ShapeOp = def1<{ outType: DType }>({
  type: 'Shape',
  infer: ([x], { outType }) => [{ dtype: outType, shape: [(x as Tensor).rank] }],
  lower: ({ b, inputs, outputs, attrs }) => {
    if (attrs.outType === 'int64') b.op('Shape', [inputs[0] as string], {}, outputs[0]);
    else b.op('Cast', [b.op('Shape', [inputs[0] as string])], { to: dtypeInfo(attrs.outType).onnx }, outputs[0]);
  },
  notDifferentiable: true,
  typeAttrs: (op) => ({ T: (op.inputs[0] as Tensor).dtype, out_type: op.output.dtype }),
  kernels: CPU_AND_GPU,
  // out_type int32 casts the int64 shape, and the WebGPU EP's Cast reads no int64.
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'], out_type: ['int64'] }),
});

/** The run-time shape of `x` as a 1-D int32 (default) or int64 tensor (tf.shape). */
export function shape(x: Tensor, options: { outType?: 'int32' | 'int64'; name?: string } = {}): Tensor {
  return x.graph.addOp({
    def: ShapeOp,
    inputs: [x],
    attrs: { outType: options.outType ?? 'int32' },
    name: options.name ?? 'Shape',
  }).output;
}

// ---------------------------------------------------------------------------------------------------------
// Tile

export const Tile = def1({
  type: 'Tile',
  infer: ([x, multiples], _attrs, opName) => {
    const t = x as Tensor;
    const m = multiples as Tensor;
    checkIntDType(opName, 'multiples', m);
    if (m.rank !== 1 || (m.shape[0] !== null && m.shape[0] !== t.rank)) {
      throw new InvalidArgument(
        `Operation '${opName}': multiples must be a vector of length ${t.rank} for input shape ${formatShape(t.shape)}, got shape ${formatShape(m.shape)}`,
      );
    }
    const known = constInts(m);
    if (known?.some((v) => v < 0))
      throw new InvalidArgument(`Operation '${opName}': multiples [${known.join(',')}] must be non-negative`);
    return [{ dtype: t.dtype, shape: t.shape.map((d, i) => (d === null || !known ? null : d * (known[i] as number))) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    b.op(
      'Tile',
      [inputs[0] as string, asInt64(b, inputs[1] as string, (op.inputs[1] as Tensor).dtype)],
      {},
      outputs[0],
    );
  },
  grad: ({ op, grads }) => {
    const g = grads[0];
    if (!g) return [null, null];
    const [x, multiples] = op.inputs as [Tensor, Tensor];
    return [op.graph.addOp({ def: TileGrad, inputs: [g, x, multiples], name: 'TileGrad' }).output, null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/**
 * Gradient of Tile (TensorFlow's TileGrad): reshape dY to [m0, d0, m1, d1, …] and sum over the multiple axes.
 * The interleaved shape is built at run time from Shape(x) and the multiples, so unknown dims work.
 */
export const TileGrad = def1({
  type: 'TileGrad',
  infer: ([, x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, op, inputs, outputs }) => {
    const [, x, multiples] = op.inputs as [Tensor, Tensor, Tensor];
    const [dy, xName, mName] = inputs as [string, string, string];
    const m = b.op('Unsqueeze', [asInt64(b, mName, multiples.dtype), b.int64s([1])]);
    const d = b.op('Unsqueeze', [b.op('Shape', [xName]), b.int64s([1])]);
    const interleaved = b.op('Reshape', [b.op('Concat', [m, d], { axis: 1 }), b.int64s([-1])]);
    const axes = Array.from({ length: x.rank }, (_, i) => 2 * i);
    const reshaped = b.op('Reshape', [dy, interleaved]);
    if (axes.length === 0) b.op('Identity', [reshaped], {}, outputs[0]);
    else b.op('ReduceSum', [reshaped, b.int64s(axes)], { keepdims: 0 }, outputs[0]);
  },
  grad: ({ op, grads }) => {
    const g = grads[0];
    return [g ? tile(g, op.inputs[2] as Tensor) : null, null, null];
  },
  kernels: CPU_AND_GPU,
  // x's run-time shape (unknown dims) or fed multiples make the interleaved shape int64 arithmetic.
  kernelConstraints: gpuKernel(
    { T: ['float32', 'int32'] },
    {
      description: 'a static x shape and constant multiples',
      holds: (op) => isFullyDefined((op.inputs[1] as Tensor).shape) && constValue(op.inputs[2] as Tensor) !== undefined,
    },
  ),
});

/** Repeats `x` `multiples[i]` times along each axis (tf.tile). */
export function tile(x: Tensor, multiples: readonly number[] | Tensor, options: { name?: string } = {}): Tensor {
  return addOpWithInputs(x.graph, options.name ?? 'Tile', Tile, () => [x, intOperand(x.graph, multiples, 'multiples')])
    .output;
}

// ---------------------------------------------------------------------------------------------------------
// Where / select

export const SelectV2 = def1({
  type: 'SelectV2',
  infer: ([cond, a, b], _attrs, opName): OutputInfo[] => {
    const [c, x, y] = [cond, a, b] as [Tensor, Tensor, Tensor];
    if (c.dtype !== 'bool')
      throw new InvalidArgument(`Operation '${opName}': condition must be bool, got ${c.dtype} (${c.name})`);
    if (x.dtype !== y.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}': both branches must have the same dtype, got ${x.dtype} (${x.name}) and ${y.dtype} (${y.name})`,
      );
    }
    return [{ dtype: x.dtype, shape: broadcastShapes(opName, broadcastShapes(opName, c.shape, x.shape), y.shape) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const [cond, x, y] = inputs as [string, string, string];
    whereNode(b, op.output.dtype, cond, x, y, outputs[0]);
  },
  grad: ({ op, grads }) => {
    const g = grads[0];
    if (!g) return [null, null, null];
    const [cond, a, b] = op.inputs as [Tensor, Tensor, Tensor];
    const zero = zerosLike(g);
    return [
      null,
      unbroadcast(where(cond, g, zero), a.shape, op.name),
      unbroadcast(where(cond, zero, g), b.shape, op.name),
    ];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Elementwise choice (tf.where with three arguments, broadcasting as tf.where_v2): `cond ? a : b`. */
export function where(cond: TensorLike, a: TensorLike, b: TensorLike, options: { name?: string } = {}): Tensor {
  const graph = graphOf(cond, a, b);
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : undefined;
  const inputs = [toTensor(cond, graph, 'bool'), toTensor(a, graph, dtype), toTensor(b, graph, dtype)];
  return graph.addOp({ def: SelectV2, inputs, name: options.name ?? 'SelectV2' }).output;
}

/** tf.select (TensorFlow 1.x's name for where). */
export const select = where;
