/**
 * Grappler's fused ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`, `_FusedMatMul`), as TF.js graph models and
 * optimized GraphDefs hold them, imported as the ops they were fused from: the base op, then the `fused_ops`
 * in order, each through its own row of the one TF op table (tf-ops.ts). So a fused node computes exactly what
 * its unfused nodes did, and a newly mapped activation works fused too.
 *
 * `fused_ops` is [extra, activation?] and `args` (the inputs after the first two, `num_args` of them) feed them
 * in order:
 * - extra: `BiasAdd` (1 arg: bias) or, for the convolutions, `FusedBatchNorm` (4 args: scale, offset, mean,
 *   variance; attr `epsilon`), as TensorFlow's _FusedConv2D kernel has it (TF.js refuses that one);
 * - activation: `Relu`, `Relu6`, `Elu`, `LeakyRelu` (attr `leakyrelu_alpha`), `Sigmoid`, `Tanh`, or `Prelu`
 *   (1 more arg: alpha), the set tfjs-core's fused_util applyActivation knows plus Tanh.
 * Anything else is refused naming the node and the combination.
 */
import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { FusedBatchNormV3 } from '../ops/batch-norm.js';
import type { TfAttrValue } from './tf-attrs.js';
import type { TfNodeContext, TfOpMapping } from './tf-ops.js';

/** fused_ops entries applied after the base op, by how many args each takes. */
const EXTRA_ARGS: Readonly<Record<string, number>> = { BiasAdd: 1, FusedBatchNorm: 4 };
const ACTIVATION_ARGS: Readonly<Record<string, number>> = {
  Relu: 0,
  Relu6: 0,
  Elu: 0,
  LeakyRelu: 0,
  Sigmoid: 0,
  Tanh: 0,
  Prelu: 1,
};
/** Attrs only the fused node has; the base op is built without them. */
const FUSED_ONLY_ATTRS = new Set(['fused_ops', 'num_args', 'epsilon', 'leakyrelu_alpha']);
/** TensorFlow's default LeakyRelu alpha (also _FusedConv2D's leakyrelu_alpha default). */
const DEFAULT_LEAKY_RELU_ALPHA = 0.2;
const DEFAULT_EPSILON = 0.0001;

interface FusedPlan {
  extra: string;
  activation: string | undefined;
}

function plan(ctx: TfNodeContext, baseType: string): FusedPlan {
  const ops = (ctx.attr('fused_ops') as string[] | undefined) ?? [];
  const refuse = (): never => {
    throw new InvalidArgument(
      `node '${ctx.name}' (${ctx.type}): fused_ops [${ops.join(', ')}] is not supported; supported: ` +
        `${Object.keys(EXTRA_ARGS)
          .filter((e) => baseType !== 'MatMul' || e === 'BiasAdd')
          .join(' or ')}, then an optional ${Object.keys(ACTIVATION_ARGS).join(', ')}`,
    );
  };
  let rest = [...ops];
  let extra: string | undefined;
  if (rest[0] !== undefined && rest[0] in EXTRA_ARGS) {
    extra = rest[0];
    if (extra === 'FusedBatchNorm' && baseType === 'MatMul') refuse();
    rest = rest.slice(1);
  }
  const activation = rest[0];
  if (activation !== undefined && !(activation in ACTIVATION_ARGS)) refuse();
  // As TensorFlow's kernels: an activation always follows a BiasAdd or FusedBatchNorm (TF.js reads a lone
  // activation as the extra op and silently skips it).
  if (rest.length > 1 || extra === undefined) return refuse();
  return { extra, activation };
}

/** A context for one of the unfused ops: its own name, inputs and attrs, the rest of the node's context shared. */
function partContext(
  ctx: TfNodeContext,
  type: string,
  name: string,
  inputs: readonly Tensor[],
  attrs: Record<string, TfAttrValue>,
): TfNodeContext {
  return { ...ctx, type, name, inputs, attr: (key) => attrs[key], attrNames: () => Object.keys(attrs) };
}

/**
 * The mapping of a fused op over `baseType` (Conv2D, DepthwiseConv2dNative or MatMul); `lookup` is the TF op
 * table's lookup, passed in so this module needs nothing of tf-ops.ts at load time.
 */
export function fusedOpMapping(baseType: string, lookup: (type: string) => TfOpMapping | undefined): TfOpMapping {
  return (ctx) => {
    const { extra, activation } = plan(ctx, baseType);
    const [x, w, ...args] = ctx.inputs;
    const declared = ctx.attr('num_args');
    const needed = (EXTRA_ARGS[extra] as number) + (activation ? (ACTIVATION_ARGS[activation] as number) : 0);
    if (!x || !w || args.length !== needed || (declared !== undefined && declared !== args.length)) {
      throw new InvalidArgument(
        `node '${ctx.name}' (${ctx.type}): fused_ops [${[extra, activation].filter(Boolean).join(', ')}] needs 2 + ${needed} inputs, ` +
          `got ${ctx.inputs.length} (num_args ${String(declared)})`,
      );
    }
    const dtypeAttr = { T: ctx.attr('T') };
    const steps: string[] = [baseType, extra, ...(activation ? [activation] : [])];
    // The last step takes the node's own name, so what reads the node reads its result.
    const nameOf = (step: string) =>
      step === steps[steps.length - 1] ? ctx.name : ctx.graph.uniqueName(`${ctx.name}/${step}`);
    const run = (type: string, inputs: readonly Tensor[], attrs: Record<string, TfAttrValue>): Tensor => {
      const mapping = lookup(type);
      if (!mapping) throw new InvalidArgument(`node '${ctx.name}' (${ctx.type}): no mapping for its fused ${type}`);
      return mapping(partContext(ctx, type, nameOf(type), inputs, attrs))[0] as Tensor;
    };
    const baseAttrs = Object.fromEntries(
      ctx
        .attrNames()
        .filter((k) => !FUSED_ONLY_ATTRS.has(k))
        .map((k) => [k, ctx.attr(k)]),
    );
    let y = run(baseType, [x, w], baseAttrs);
    const extraArgs = args.slice(0, EXTRA_ARGS[extra]);
    const activationArgs = args.slice(EXTRA_ARGS[extra]);
    if (extra === 'BiasAdd') {
      y = run('BiasAdd', [y, ...extraArgs], { ...dtypeAttr, data_format: ctx.attr('data_format') });
    } else {
      const format = ctx.attr('data_format') ?? 'NHWC';
      y = ctx.graph.addOp({
        def: FusedBatchNormV3,
        inputs: [y, ...extraArgs],
        attrs: {
          epsilon: (ctx.attr('epsilon') as number | undefined) ?? DEFAULT_EPSILON,
          dataFormat: format,
          isTraining: false,
        },
        name: nameOf('FusedBatchNorm'),
        reservedName: true,
      }).outputs[0] as Tensor;
    }
    if (activation === 'Prelu') y = run('Prelu', [y, ...activationArgs], dtypeAttr);
    else if (activation === 'LeakyRelu') {
      y = run('LeakyRelu', [y], {
        ...dtypeAttr,
        alpha: (ctx.attr('leakyrelu_alpha') as number | undefined) ?? DEFAULT_LEAKY_RELU_ALPHA,
      });
    } else if (activation) y = run(activation, [y], dtypeAttr);
    return [y];
  };
}
