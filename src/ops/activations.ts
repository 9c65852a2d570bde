/**
 * Activations and elementwise math of imported TensorFlow graphs (tf.nn.relu6, elu, selu, leaky_relu, softplus,
 * TF.js's prelu, rsqrt, erf) and the adds TensorFlow emits (AddV2, AddN). Each lowers to ONNX ops that ONNX
 * Runtime's CPU EP runs in float32 and float64 (its Elu, Selu, LeakyRelu, Softplus and PRelu kernels are
 * float32 only), and that the WebGPU EP runs in float32 wherever the kernel survey already found them claimed
 * (Where, Greater, Exp, Sub, Mul, Max, Min, Log, Abs, Neg, Add, Div, Sqrt): a float32 model stays on the GPU.
 */
import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { defineOp, type OpDef } from '../graph/op-def.js';
import { broadcastShapes, formatShape } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { where } from './array.js';
import { unbroadcast } from './broadcast-grad.js';
import { binaryOperands, graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, GPU_F32, GPU_F32_I32 } from './kernels.js';
import {
  add,
  binaryElementwise,
  checkDType,
  exp,
  FLOAT_DTYPES,
  greater,
  less,
  logicalAnd,
  maskedGrad,
  mul,
  NUMERIC_DTYPES,
  sigmoid,
  square,
  unaryElementwise,
  type NameOption,
} from './math.js';

/** TensorFlow's (and ONNX's) SELU constants, from Klambauer et al. 2017. */
export const SELU_ALPHA = 1.6732632423543772;
export const SELU_SCALE = 1.0507009873554805;

function unaryFn(def: OpDef) {
  return (x: TensorLike, options: NameOption = {}): Tensor => {
    const t = toTensor(x, graphOf(x));
    return t.graph.addOp({ def, inputs: [t], name: options.name ?? def.type }).output;
  };
}

/** where(x > 0, x, negative(x)) in x's dtype: the shape of ELU, SELU and leaky ReLU. */
function emitPiecewise(
  b: OnnxGraphBuilder,
  x: string,
  dtype: DType,
  negative: (x: string) => string,
  positiveScale: number,
  output: string,
): void {
  const positive = positiveScale === 1 ? x : b.op('Mul', [x, b.scalar(positiveScale, dtype)]);
  b.op('Where', [b.op('Greater', [x, b.scalar(0, dtype)]), positive, negative(x)], {}, output);
}

/** exp(x) − 1 (ONNX has no Expm1; the absolute error near 0 is one ulp of 1). */
function emitExpm1(b: OnnxGraphBuilder, x: string, dtype: DType): string {
  return b.op('Sub', [b.op('Exp', [x]), b.scalar(1, dtype)]);
}

/** Relu6: min(max(x, 0), 6) (tf.nn.relu6), as Max/Min rather than Clip so the WebGPU EP takes it. */
export const Relu6 = unaryElementwise('Relu6', 'Relu6', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, op, inputs, outputs }) => {
    const dtype = op.output.dtype;
    const low = b.op('Max', [inputs[0] as string, b.scalar(0, dtype)]);
    b.op('Min', [low, b.scalar(6, dtype)], {}, outputs[0]);
  },
  // TensorFlow's Relu6Grad: the gradient passes where 0 < x < 6.
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const x = op.inputs[0] as Tensor;
    return [maskedGrad(logicalAnd(greater(x, 0), less(x, 6)), g)];
  },
});

/** Elu: x for x > 0, exp(x) − 1 otherwise (tf.nn.elu). */
export const Elu = unaryElementwise('Elu', 'Elu', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, op, inputs, outputs }) => {
    const dtype = op.output.dtype;
    emitPiecewise(b, inputs[0] as string, dtype, (x) => emitExpm1(b, x, dtype), 1, outputs[0] as string);
  },
  // TensorFlow's EluGrad: g where y > 0, g·(y + 1) elsewhere.
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const y = op.output;
    return [where(greater(y, 0), g, mul(g, add(y, 1)))];
  },
});

/** Selu: scale·x for x > 0, scale·alpha·(exp(x) − 1) otherwise (tf.nn.selu). */
export const Selu = unaryElementwise('Selu', 'Selu', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, op, inputs, outputs }) => {
    const dtype = op.output.dtype;
    const negative = (x: string) => b.op('Mul', [emitExpm1(b, x, dtype), b.scalar(SELU_SCALE * SELU_ALPHA, dtype)]);
    emitPiecewise(b, inputs[0] as string, dtype, negative, SELU_SCALE, outputs[0] as string);
  },
  // TensorFlow's SeluGrad: g·scale where y > 0, g·(y + scale·alpha) elsewhere.
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const y = op.output;
    return [where(greater(y, 0), mul(g, SELU_SCALE), mul(g, add(y, SELU_SCALE * SELU_ALPHA)))];
  },
});

/** LeakyRelu: x for x > 0, alpha·x otherwise (tf.nn.leaky_relu; TensorFlow's attr `alpha`, default 0.2). */
export const LeakyRelu = defineOp<{ alpha: number }>({
  type: 'LeakyRelu',
  infer: ([x], { alpha }, opName) => {
    checkDType(opName, 'LeakyRelu', x as Tensor, FLOAT_DTYPES);
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
      throw new InvalidArgument(`Operation '${opName}' (LeakyRelu): alpha must be a finite number, got ${alpha}`);
    }
    return [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const dtype = op.output.dtype;
    const negative = (x: string) => b.op('Mul', [x, b.scalar(attrs.alpha, dtype)]);
    emitPiecewise(b, inputs[0] as string, dtype, negative, 1, outputs[0] as string);
  },
  grad: ({ op, grads: [g], attrs }) => {
    if (!g) return [null];
    return [where(greater(op.inputs[0] as Tensor, 0), g, mul(g, attrs.alpha))];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/** Softplus: log(1 + exp(x)) computed as max(x, 0) + log(1 + exp(−|x|)), finite for every x (tf.nn.softplus). */
export const Softplus = unaryElementwise('Softplus', 'Softplus', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, op, inputs, outputs }) => {
    const dtype = op.output.dtype;
    const x = inputs[0] as string;
    const tail = b.op('Log', [b.op('Add', [b.scalar(1, dtype), b.op('Exp', [b.op('Neg', [b.op('Abs', [x])])])])]);
    b.op('Add', [b.op('Max', [x, b.scalar(0, dtype)]), tail], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => [g ? mul(g, sigmoid(op.inputs[0] as Tensor)) : null],
});

/** Rsqrt: 1/√x (tf.math.rsqrt). */
export const Rsqrt = unaryElementwise('Rsqrt', 'Rsqrt', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, op, inputs, outputs }) => {
    b.op('Div', [b.scalar(1, op.output.dtype), b.op('Sqrt', [inputs[0] as string])], {}, outputs[0]);
  },
  // TensorFlow's RsqrtGrad: −½·g·y³.
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const y = op.output;
    return [mul(g, mul(mul(y, square(y)), -0.5))];
  },
});

/**
 * Erf (tf.math.erf), float32 only: ONNX Runtime's CPU Erf kernel is float32, and a float32 detour would silently
 * lose float64 precision.
 */
export const Erf = unaryElementwise('Erf', 'Erf', {
  dtypes: ['float32'],
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const x = op.inputs[0] as Tensor;
    return [mul(g, mul(exp(mul(square(x), -1)), 2 / Math.sqrt(Math.PI)))];
  },
  // The kernel survey's Erf case ran on the WebGPU EP, on lavapipe and on an H200 (docs/placement.md).
  kernelConstraints: GPU_F32,
});

/**
 * Prelu(x, alpha): x for x > 0, alpha·x otherwise, alpha broadcast against x (TF.js's Prelu, which its converter
 * emits for Keras PReLU layers and as a fused activation). Lowered as relu(x) + alpha·min(x, 0).
 */
/** C when x is NHWC with C known and alpha holds one value per channel ([C], [1, 1, C] or [1, 1, 1, C]). */
function perChannelAlpha(x: Tensor, alpha: Tensor): number | undefined {
  const C = x.shape[3];
  if (x.rank !== 4 || C === null || C === undefined || alpha.rank < 1 || alpha.rank > 4) return undefined;
  const perChannel = alpha.shape.every((d, i) => (i === alpha.rank - 1 ? d === C : d === 1));
  return perChannel ? C : undefined;
}

/**
 * prelu(x) = x + (1 − alpha)·relu(−x), with both products as 1×1 depthwise convolutions on NCHW: ONNX Runtime
 * runs those in its blocked (NCHWc) layout with the Relu and the residual sum fused, where a Min, Mul, Relu and
 * Add on NCHW each cost a pass plus a reorder in and out of that layout (iris: docs/performance.md).
 */
function emitPreluAsDepthwise(b: OnnxGraphBuilder, x: string, alpha: string, C: number, output: string): void {
  const xn = b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const minusOne = b.constant(HostTensor.from('float32', Array<number>(C).fill(-1), [C, 1, 1, 1]), 'minus_one');
  const depthwise = { group: C, kernel_shape: [1, 1] };
  const negRelu = b.op('Relu', [b.op('Conv', [xn, minusOne], depthwise)]);
  const scale = b.op('Reshape', [b.op('Sub', [b.scalar(1, 'float32'), alpha]), b.int64s([C, 1, 1, 1])]);
  const yn = b.op('Add', [b.op('Conv', [negRelu, scale], depthwise), xn]);
  b.op('Transpose', [yn], { perm: [0, 2, 3, 1] }, output);
}

export const Prelu = defineOp({
  type: 'Prelu',
  infer: ([x, alpha], _attrs, opName) => {
    const [t, a] = [x as Tensor, alpha as Tensor];
    checkDType(opName, 'Prelu', t, FLOAT_DTYPES);
    if (a.dtype !== t.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}' (Prelu): x and alpha must have the same dtype, got ${t.dtype} and ${a.dtype}`,
      );
    }
    const shape = broadcastShapes(opName, t.shape, a.shape);
    if (shape.length !== t.rank) {
      throw new InvalidArgument(
        `Operation '${opName}' (Prelu): alpha of shape ${formatShape(a.shape)} must broadcast to x's shape ${formatShape(t.shape)}`,
      );
    }
    return [{ dtype: t.dtype, shape }];
  },
  lower: ({ b, op, inputs, outputs, deviceType }) => {
    const dtype = op.output.dtype;
    const [x, alpha] = inputs as [string, string];
    const channels = perChannelAlpha(op.inputs[0] as Tensor, op.inputs[1] as Tensor);
    if (deviceType === 'CPU' && dtype === 'float32' && channels !== undefined) {
      emitPreluAsDepthwise(b, x, alpha, channels, outputs[0] as string);
      return;
    }
    const negative = b.op('Mul', [alpha, b.op('Min', [x, b.scalar(0, dtype)])]);
    b.op('Add', [b.op('Relu', [x]), negative], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [x, alpha] = op.inputs as [Tensor, Tensor];
    const positive = greater(x, 0);
    const zero = mul(g, 0);
    return [where(positive, g, mul(g, alpha)), unbroadcast(where(positive, zero, mul(g, x)), alpha.shape, op.name)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/** AddV2: TensorFlow 2's elementwise add (Add without string concatenation); the same meaning as Add here. */
export const AddV2 = binaryElementwise('AddV2', 'Add', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = op.inputs as [Tensor, Tensor];
    return [unbroadcast(g, a.shape, op.name), unbroadcast(g, b.shape, op.name)];
  },
});

/** AddN: the sum of N tensors of one shape and dtype (tf.math.add_n; no broadcasting, as TensorFlow). */
export const AddN = defineOp({
  type: 'AddN',
  infer: (values, _attrs, opName) => {
    const first = values[0];
    if (!first) throw new InvalidArgument(`Operation '${opName}' (AddN): needs at least one input`);
    checkDType(opName, 'AddN', first, NUMERIC_DTYPES);
    const shape = [...first.shape];
    for (const v of values.slice(1)) {
      if (v.dtype !== first.dtype) {
        throw new InvalidArgument(
          `Operation '${opName}' (AddN): all inputs must have the same dtype, got ${first.dtype} (${first.name}) and ${v.dtype} (${v.name})`,
        );
      }
      const mismatch =
        v.rank !== shape.length || v.shape.some((d, i) => d !== null && shape[i] !== null && d !== shape[i]);
      if (mismatch) {
        throw new InvalidArgument(
          `Shapes must be equal rank and all dimensions equal, but are ${formatShape(first.shape)} and ${formatShape(v.shape)} for '${opName}' (op: 'AddN')`,
        );
      }
      v.shape.forEach((d, i) => {
        if (shape[i] === null) shape[i] = d;
      });
    }
    return [{ dtype: first.dtype, shape }];
  },
  lower: ({ b, inputs, outputs }) => {
    if (inputs.length === 1) {
      b.op('Identity', [inputs[0] as string], {}, outputs[0]);
      return;
    }
    // A chain of Adds: ONNX Sum would do, but Add is what the WebGPU EP is known to take.
    let acc = inputs[0] as string;
    inputs.slice(1).forEach((name, i) => {
      acc = b.op('Add', [acc, name], {}, i === inputs.length - 2 ? outputs[0] : undefined);
    });
  },
  grad: ({ op, grads: [g] }) => op.inputs.map(() => g ?? null),
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

export const relu6 = unaryFn(Relu6);
export const elu = unaryFn(Elu);
export const selu = unaryFn(Selu);
export const softplus = unaryFn(Softplus);
export const rsqrt = unaryFn(Rsqrt);
export const erf = unaryFn(Erf);

/** Leaky ReLU (tf.nn.leaky_relu): x for x > 0, alpha·x otherwise. */
export function leakyRelu(x: TensorLike, alpha = 0.2, options: NameOption = {}): Tensor {
  const t = toTensor(x, graphOf(x));
  return t.graph.addOp({ def: LeakyRelu, inputs: [t], attrs: { alpha }, name: options.name ?? 'LeakyRelu' }).output;
}

/** Parametric ReLU (TF.js tf.prelu): x for x > 0, alpha·x otherwise, alpha broadcast against x. */
export function prelu(x: TensorLike, alpha: TensorLike, options: NameOption = {}): Tensor {
  const [t, a] = binaryOperands(x, alpha);
  return t.graph.addOp({ def: Prelu, inputs: [t, a], name: options.name ?? 'Prelu' }).output;
}

/** TensorFlow 2's add (tf.math.add emits AddV2). */
export function addV2(a: TensorLike, b: TensorLike, options: NameOption = {}): Tensor {
  const [ta, tb] = binaryOperands(a, b);
  return ta.graph.addOp({ def: AddV2, inputs: [ta, tb], name: options.name ?? 'AddV2' }).output;
}

/** Sum of tensors of one shape (tf.math.add_n). */
export function addN(values: readonly Tensor[], options: NameOption = {}): Tensor {
  const graph = graphOf(...values);
  return graph.addOp({ def: AddN, inputs: [...values], name: options.name ?? 'AddN' }).output;
}
