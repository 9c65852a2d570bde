/**
 * The one table from TensorFlow op types to flowserve op definitions (STYLE.md "one op, one place": an imported
 * TF op maps onto the defineOp definitions in src/ops, never onto a second op table). Each entry builds the
 * node's flowserve op from its inputs and attrs and returns the node's outputs by TF output index.
 *
 * A TF type with no entry here but a flowserve definition of the same `type` (src/ops, registered with
 * defineOp) is mapped to it directly, its attrs passed under TensorFlow's own names and meanings.
 */
import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { registeredOps, type OpDef } from '../graph/op-def.js';
import { formatShape, type Dim } from '../graph/shape.js';
import { Cast, ConcatV2, constValue, ExpandDims, Reshape, ShapeOp, SplitV, Squeeze, Transpose } from '../ops/array.js';
import { constant } from '../ops/convert.js';
import { Add, MatMul, Maximum, Minimum, Mul, RealDiv, Sub } from '../ops/math.js';
import { AvgPool, BiasAdd, Conv2D, MaxPool } from '../ops/nn.js';
import { ArgMax, Max, Mean, Min, Sum } from '../ops/reduce.js';
import { Const, Identity, Placeholder } from '../ops/source.js';
import { Assign, AssignAdd, AssignSub, VariableV2 } from '../ops/variables.js';
import { DepthwiseConv2dNative } from '../ops/depthwise-conv.js';
// Every op definition registered, so TF types with a same-named definition map to it (tfOpMapping below).
import '../ops/index.js';
import type { TfAttrValue } from './tf-attrs.js';
import { fusedOpMapping } from './tf-fused-ops.js';

/** What a mapping sees of one GraphDef node. */
export interface TfNodeContext {
  graph: Graph;
  /** The node's name, used as the flowserve op's name. */
  name: string;
  type: string;
  /** The node's data inputs, resolved. */
  inputs: readonly Tensor[];
  /** One attr, converted (undefined when absent). */
  attr(name: string): TfAttrValue;
  /** The names of the node's attrs. */
  attrNames(): string[];
  /** The value of a variable the node stands for (VariableV2, VarHandleOp), by its checkpoint key. */
  variableValue(): HostTensor | undefined;
}

/** Builds the node; returns its outputs by TensorFlow output index. */
export type TfOpMapping = (ctx: TfNodeContext) => Tensor[];

function add(ctx: TfNodeContext, def: OpDef, inputs: readonly Tensor[], attrs: Record<string, unknown> = {}): Tensor[] {
  return ctx.graph.addOp({ def, inputs, attrs, name: ctx.name, reservedName: true }).outputs;
}

/** The same op, no attrs (dtypes come from the inputs). */
const same =
  (def: OpDef): TfOpMapping =>
  (ctx) =>
    add(ctx, def, ctx.inputs);

/** A constant input's values as numbers: TF passes axes, perms and dims as tensors, flowserve takes them as attrs. */
function constInts(ctx: TfNodeContext, index: number, what: string): number[] {
  const t = ctx.inputs[index];
  const value = t?.op.type === 'Const' ? (t.op.attrs.value as HostTensor) : undefined;
  if (!t || !value) {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): input ${index} (${what}) must be a constant for flowserve, got ${t ? `'${t.name}' (${t.op.type})` : 'nothing'}`,
    );
  }
  return Array.from(value.data as ArrayLike<number | bigint>, Number);
}

/** TF's NHWC [1, h, w, 1] strides/ksize → [h, w]; other data formats are refused by name. */
function hw(ctx: TfNodeContext, attr: string): [number, number] {
  const format = ctx.attr('data_format') ?? 'NHWC';
  if (format !== 'NHWC') {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): data_format ${String(format)} is not supported, only NHWC`,
    );
  }
  const v = ctx.attr(attr) as number[] | undefined;
  if (!v || v.length !== 4)
    throw new InvalidArgument(`node '${ctx.name}' (${ctx.type}): attr '${attr}' must have 4 values`);
  return [v[1] as number, v[2] as number];
}

function padding(ctx: TfNodeContext): 'SAME' | 'VALID' {
  const p = ctx.attr('padding');
  if (p !== 'SAME' && p !== 'VALID') {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): padding ${String(p)} is not supported (SAME or VALID)`,
    );
  }
  return p;
}

/** TF's NHWC `dilations` [1, h, w, 1] → [h, w]; TF itself refuses dilating the batch or depth dimension. */
function dilations(ctx: TfNodeContext): [number, number] {
  const d = ctx.attr('dilations') as number[];
  if (d.length !== 4 || d[0] !== 1 || d[3] !== 1) {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): Current implementation does not yet support dilations in the batch and depth dimensions (dilations [${d.join(', ')}])`,
    );
  }
  return hw(ctx, 'dilations');
}

const reduce =
  (def: OpDef): TfOpMapping =>
  (ctx) => {
    const x = ctx.inputs[0] as Tensor;
    const axes = [...new Set(constInts(ctx, 1, 'reduction_indices').map((a) => (a < 0 ? a + x.rank : a)))].sort();
    return add(ctx, def, [x], { axes, keepDims: ctx.attr('keep_dims') === true });
  };

/** A variable (VariableV2 or a resource VarHandleOp): a flowserve VariableV2 whose value comes from the checkpoint. */
const variable: TfOpMapping = (ctx) => {
  const value = ctx.variableValue();
  const dtype = ctx.attr('dtype') as DType;
  const shape = (ctx.attr('shape') as Dim[] | undefined) ?? value?.shape;
  if (!shape) throw new InvalidArgument(`variable '${ctx.name}' has no shape`);
  return add(ctx, VariableV2, [], { dtype, shape: value?.shape ?? shape });
};

/** TF op types that hold a variable: ref variables and resource handles (read through ReadVariableOp). */
export const TF_VARIABLE_OPS: ReadonlySet<string> = new Set(['VariableV2', 'Variable', 'VarHandleOp']);

/**
 * TF op types that update a variable, by flowserve definition. Input 0 is the variable (a ref or a resource
 * handle), input 1 the value. The ref forms return the new value; the resource forms return nothing in TF, and
 * their flowserve op's output (the new value) is only read by the importer (state.ts), never by a TF node.
 */
const VARIABLE_UPDATES: Readonly<Record<string, { def: OpDef; resource: boolean }>> = {
  Assign: { def: Assign, resource: false },
  AssignAdd: { def: AssignAdd, resource: false },
  AssignSub: { def: AssignSub, resource: false },
  AssignVariableOp: { def: Assign, resource: true },
  AssignAddVariableOp: { def: AssignAdd, resource: true },
  AssignSubVariableOp: { def: AssignSub, resource: true },
};

export const TF_VARIABLE_UPDATE_OPS: ReadonlySet<string> = new Set(Object.keys(VARIABLE_UPDATES));

const variableUpdate =
  (type: string): TfOpMapping =>
  (ctx) => {
    const { def, resource } = VARIABLE_UPDATES[type] as { def: OpDef; resource: boolean };
    // An Assign that may change the variable's shape would change the shape of the model's state input.
    if (ctx.attr('validate_shape') === false) {
      throw new InvalidArgument(
        `node '${ctx.name}' (${type}): validate_shape=false (an assign that may change the variable's shape) is not supported`,
      );
    }
    const outputs = add(ctx, def, ctx.inputs.slice(0, 2));
    return resource ? [] : outputs;
  };

export const TF_OP_MAPPINGS: Readonly<Record<string, TfOpMapping>> = {
  ...Object.fromEntries([...TF_VARIABLE_UPDATE_OPS].map((type) => [type, variableUpdate(type)])),
  Const: (ctx) => add(ctx, Const, [], { value: ctx.attr('value') }),
  Placeholder: (ctx) => {
    const shape = ctx.attr('shape') as Dim[] | undefined;
    if (!shape) throw new InvalidArgument(`placeholder '${ctx.name}' has unknown rank; feed it through a signature`);
    return add(ctx, Placeholder, [], { dtype: ctx.attr('dtype'), shape });
  },
  // Its default is the input; a request that feeds the tensor replaces it (feeds cut the graph there).
  PlaceholderWithDefault: same(Identity),
  Identity: same(Identity),
  Snapshot: same(Identity),
  StopGradient: same(Identity),
  VariableV2: variable,
  // The pre-1.0 ref variable op of the legacy SessionBundle's graphs.
  Variable: variable,
  VarHandleOp: variable,
  // A read after an update in the same run is given the update's value by the importer (state.ts).
  ReadVariableOp: same(Identity),
  Add: same(Add),
  AddV2: same(Add),
  Sub: same(Sub),
  Mul: same(Mul),
  RealDiv: same(RealDiv),
  Maximum: same(Maximum),
  Minimum: same(Minimum),
  MatMul: (ctx) =>
    add(ctx, MatMul, ctx.inputs, {
      transposeA: ctx.attr('transpose_a') === true,
      transposeB: ctx.attr('transpose_b') === true,
    }),
  Reshape: same(Reshape),
  Cast: (ctx) => add(ctx, Cast, [ctx.inputs[0] as Tensor], { dtype: ctx.attr('DstT') }),
  Transpose: (ctx) => add(ctx, Transpose, [ctx.inputs[0] as Tensor], { perm: constInts(ctx, 1, 'perm') }),
  ConcatV2: (ctx) => {
    const values = ctx.inputs.slice(0, -1);
    const [axis] = constInts(ctx, ctx.inputs.length - 1, 'axis');
    const rank = (values[0] as Tensor).rank;
    return add(ctx, ConcatV2, values, { axis: (axis as number) < 0 ? (axis as number) + rank : axis });
  },
  ExpandDims: (ctx) => add(ctx, ExpandDims, [ctx.inputs[0] as Tensor], { axis: constInts(ctx, 1, 'dim')[0] }),
  Squeeze: (ctx) => {
    const x = ctx.inputs[0] as Tensor;
    const dims = (ctx.attr('squeeze_dims') as number[] | undefined) ?? [];
    const axes = dims.length
      ? dims.map((a) => (a < 0 ? a + x.rank : a))
      : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    return add(ctx, Squeeze, [x], { axes });
  },
  Shape: (ctx) => add(ctx, ShapeOp, [ctx.inputs[0] as Tensor], { outType: ctx.attr('out_type') ?? 'int32' }),
  Sum: reduce(Sum),
  Mean: reduce(Mean),
  Max: reduce(Max),
  Min: reduce(Min),
  ArgMax: (ctx) => {
    const x = ctx.inputs[0] as Tensor;
    const [axis] = constInts(ctx, 1, 'dimension');
    return add(ctx, ArgMax, [x], {
      axis: (axis as number) < 0 ? (axis as number) + x.rank : axis,
      outputType: ctx.attr('output_type') ?? 'int64',
    });
  },
  BiasAdd: (ctx) => {
    hw4Format(ctx);
    return add(ctx, BiasAdd, ctx.inputs);
  },
  Conv2D: (ctx) =>
    add(ctx, Conv2D, ctx.inputs, {
      strides: hw(ctx, 'strides'),
      padding: padding(ctx),
      ...(ctx.attr('dilations') ? { dilations: dilations(ctx) } : {}),
    }),
  MaxPool: (ctx) =>
    add(ctx, MaxPool, ctx.inputs, { ksize: hw(ctx, 'ksize'), strides: hw(ctx, 'strides'), padding: padding(ctx) }),
  AvgPool: (ctx) =>
    add(ctx, AvgPool, ctx.inputs, { ksize: hw(ctx, 'ksize'), strides: hw(ctx, 'strides'), padding: padding(ctx) }),
  DepthwiseConv2dNative: (ctx) => {
    hw4Format(ctx);
    const pad = ctx.attr('padding');
    return add(ctx, DepthwiseConv2dNative, ctx.inputs, {
      strides: ctx.attr('strides'),
      padding: pad,
      ...(ctx.attr('dilations') ? { dilations: ctx.attr('dilations') } : {}),
      ...(pad === 'EXPLICIT' ? { explicitPaddings: ctx.attr('explicit_paddings') } : {}),
    });
  },
  Split: (ctx) => {
    // TF's Split takes the axis first, then the value, and splits into num_split equal pieces.
    const x = ctx.inputs[1] as Tensor;
    const axis = splitAxis(ctx, constInts(ctx, 0, 'split_dim')[0] as number, x);
    const num = ctx.attr('num_split') as number;
    const dim = x.shape[axis] ?? null;
    if (dim === null || !(num > 0) || dim % num !== 0) {
      throw new InvalidArgument(
        `node '${ctx.name}' (Split): Number of ways to split should evenly divide the split dimension, but got split_dim ${axis} (size = ${dim ?? 'unknown'}) and num_split ${num}`,
      );
    }
    return add(ctx, SplitV, [x, splitSizes(ctx, Array<number>(num).fill(dim / num))], { axis, num });
  },
  SplitV: (ctx) => {
    const [x, sizes] = ctx.inputs as [Tensor, Tensor];
    const axis = splitAxis(ctx, constInts(ctx, 2, 'split_dim')[0] as number, x);
    const num = ctx.attr('num_split') as number;
    const known = constValue(sizes)?.toNumbers();
    if (!known?.includes(-1)) return add(ctx, SplitV, [x, sizes], { axis, num });
    // One size may be -1: the rest of the dimension, which must then be known.
    const dim = x.shape[axis] ?? null;
    const rest = known.reduce((a, v) => (v === -1 ? a : a + v), 0);
    if (known.filter((v) => v === -1).length > 1) {
      throw new InvalidArgument(`node '${ctx.name}' (SplitV): There can only be one -1 in the input.`);
    }
    if (dim === null || rest > dim) {
      throw new InvalidArgument(
        `node '${ctx.name}' (SplitV): Determined shape must either match input shape along split_dim exactly if fully specified, or be less than the size of the input along split_dim if not fully specified.  Got: ${rest} (dimension ${axis} of shape ${formatShape(x.shape)})`,
      );
    }
    return add(
      ctx,
      SplitV,
      [
        x,
        splitSizes(
          ctx,
          known.map((v) => (v === -1 ? dim - rest : v)),
        ),
      ],
      { axis, num },
    );
  },
  // Grappler's fused ops: the base op, then each of fused_ops through its own row (tf-fused-ops.ts).
  _FusedConv2D: fusedOpMapping('Conv2D', tfOpMapping),
  FusedDepthwiseConv2dNative: fusedOpMapping('DepthwiseConv2dNative', tfOpMapping),
  _FusedMatMul: fusedOpMapping('MatMul', tfOpMapping),
};

/** A split axis in [0, rank), TensorFlow's error otherwise. */
function splitAxis(ctx: TfNodeContext, axis: number, x: Tensor): number {
  if (axis < -x.rank || axis >= x.rank) {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): -input rank(-${x.rank}) <= split_dim < input rank (${x.rank}), but got ${axis}`,
    );
  }
  return axis < 0 ? axis + x.rank : axis;
}

/** The resolved size_splits of a Split/SplitV node, as an int32 constant under the node's name. */
function splitSizes(ctx: TfNodeContext, sizes: number[]): Tensor {
  return constant(sizes, { graph: ctx.graph, dtype: 'int32', shape: [sizes.length], name: `${ctx.name}/sizes` });
}

function hw4Format(ctx: TfNodeContext): void {
  const format = ctx.attr('data_format') ?? 'NHWC';
  if (format !== 'NHWC') {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): data_format ${String(format)} is not supported, only NHWC`,
    );
  }
}

/** Ops that run nothing at inference: dropped from imported graphs (their control edges do not carry data). */
export const TF_IGNORED_OPS: ReadonlySet<string> = new Set(['NoOp']);

/** The mapping for a TF op type: the table, else a flowserve definition of the same type; undefined = unsupported. */
export function tfOpMapping(type: string): TfOpMapping | undefined {
  const entry = TF_OP_MAPPINGS[type];
  if (entry) return entry;
  const def = registeredOps().get(type);
  if (!def) return undefined;
  // TF's bookkeeping attrs (`_class`, `_output_shapes`) are not the op's meaning.
  return (ctx) =>
    add(
      ctx,
      def,
      ctx.inputs,
      Object.fromEntries(ctx.attrNames().flatMap((k) => (k.startsWith('_') ? [] : [[k, ctx.attr(k)]]))),
    );
}

/** Every TF op type the importer can map (the table plus same-named flowserve definitions), sorted. */
export function supportedTfOpTypes(): string[] {
  return [...new Set([...Object.keys(TF_OP_MAPPINGS), ...registeredOps().keys()])].sort();
}
