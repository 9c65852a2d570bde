import { InvalidArgument } from '../errors.js';
import { dtypeInfo, type DType } from '../graph/dtype.js';
import type { Operation, Tensor } from '../graph/graph.js';
import { defineOp, type GradContext, type OpDef } from '../graph/op-def.js';
import { broadcastShapes, dimsCompatible, formatShape, type Dim } from '../graph/shape.js';
import { unbroadcast } from './broadcast-grad.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { binaryOperands, graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, CPU_ONLY, GPU_F32, GPU_F32_I32, type KernelConstraints } from './kernels.js';
import { reduceSum } from './reduce.js';

/** Element types of float math (exp, log, div, softmax, …). */
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64'];
/** Element types of integer-safe arithmetic (add, sub, mul, minimum, maximum, abs, neg, comparisons). */
export const NUMERIC_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64'];
const BOOL_DTYPES: readonly DType[] = ['bool'];

function sameDType(opName: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new InvalidArgument(
      `Operation '${opName}': inputs must have the same dtype, got ${a.dtype} (${a.name}) and ${b.dtype} (${b.name})`,
    );
  }
}

/** Throws InvalidArgument naming the op when `t`'s dtype is not one of `allowed`. */
export function checkDType(opName: string, type: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): dtype ${t.dtype} of '${t.name}' is not supported; expected one of ${allowed.join(', ')}`,
    );
  }
}

/** Shape of a (batched) matrix product with transpose flags; errors name the op and both shapes. */
export function matmulShape(opName: string, a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Dim[] {
  if (a.rank < 2 || b.rank < 2) {
    throw new InvalidArgument(
      `Operation '${opName}': MatMul needs inputs of rank >= 2, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const [m, ka] = transposeA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [kb, n] = transposeB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  if (!dimsCompatible(ka ?? null, kb ?? null)) {
    throw new InvalidArgument(
      `Dimensions must be equal, but are ${ka} and ${kb} for '${opName}' (op: 'MatMul') with input shapes: ${formatShape(a.shape)}, ${formatShape(b.shape)}.`,
    );
  }
  const batch = broadcastShapes(opName, a.shape.slice(0, -2), b.shape.slice(0, -2));
  return [...batch, m ?? null, n ?? null];
}

export const MatMul = defineOp<{ transposeA: boolean; transposeB: boolean }>({
  type: 'MatMul',
  infer: ([a, b], { transposeA, transposeB }, opName) => {
    sameDType(opName, a as Tensor, b as Tensor);
    checkDType(opName, 'MatMul', a as Tensor, NUMERIC_DTYPES);
    return [
      { dtype: (a as Tensor).dtype, shape: matmulShape(opName, a as Tensor, b as Tensor, transposeA, transposeB) },
    ];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [a, bb] = op.inputs as [Tensor, Tensor];
    const transposed = attrs.transposeA || attrs.transposeB;
    if (transposed && a.rank === 2 && bb.rank === 2 && (a.dtype === 'float32' || a.dtype === 'float64')) {
      // Gemm takes the transpose flags directly (2-D only). Without them MatMul: ONNX Runtime fuses a following
      // bias Add into it (one Gemm), which it does not do for a Gemm without bias (docs/performance.md#engine).
      b.op(
        'Gemm',
        [inputs[0] as string, inputs[1] as string],
        { transA: attrs.transposeA ? 1 : 0, transB: attrs.transposeB ? 1 : 0 },
        outputs[0],
      );
      return;
    }
    const t = (name: string, rank: number, flag: boolean) => {
      if (!flag) return name;
      const perm = [...Array(rank).keys()];
      perm[rank - 1] = rank - 2;
      perm[rank - 2] = rank - 1;
      return b.op('Transpose', [name], { perm });
    };
    b.op(
      'MatMul',
      [t(inputs[0] as string, a.rank, attrs.transposeA), t(inputs[1] as string, bb.rank, attrs.transposeB)],
      {},
      outputs[0],
    );
  },
  grad: ({ op, grads, attrs: { transposeA: ta, transposeB: tb } }) => {
    const g = grads[0];
    if (!g) return [null, null];
    const [a, b] = op.inputs as [Tensor, Tensor];
    // TensorFlow's _MatMulGrad: one case per transpose combination, so no explicit transposes are built.
    let da: Tensor;
    let db: Tensor;
    if (!ta && !tb) {
      da = matmul(g, b, { transposeB: true });
      db = matmul(a, g, { transposeA: true });
    } else if (!ta && tb) {
      da = matmul(g, b);
      db = matmul(g, a, { transposeA: true });
    } else if (ta && !tb) {
      da = matmul(b, g, { transposeB: true });
      db = matmul(a, g);
    } else {
      da = matmul(b, g, { transposeA: true, transposeB: true });
      db = matmul(g, a, { transposeA: true, transposeB: true });
    }
    // Batch dims broadcast in the forward pass are summed back.
    return [unbroadcast(da, a.shape, op.name), unbroadcast(db, b.shape, op.name)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

export interface MatMulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  name?: string;
}

/** Matrix product (tf.matmul), batched over leading dims (numpy broadcasting), with optional transposes. */
export function matmul(a: TensorLike, b: TensorLike, options: MatMulOptions = {}): Tensor {
  const [ta, tb] = binaryOperands(a, b);
  return ta.graph.addOp({
    def: MatMul,
    inputs: [ta, tb],
    attrs: { transposeA: options.transposeA ?? false, transposeB: options.transposeB ?? false },
    name: options.name ?? 'MatMul',
  }).output;
}

type GradFn = (ctx: GradContext & { attrs: Record<string, unknown> }) => (Tensor | null)[];

export interface ElementwiseOptions {
  /** Input dtypes accepted (default: every dtype). */
  dtypes?: readonly DType[];
  grad?: GradFn;
  notDifferentiable?: boolean;
  /** Device types with a kernel (default CPU and GPU). */
  kernels?: readonly string[];
  /** What those kernels accept (default: every dtype in `dtypes`). */
  kernelConstraints?: KernelConstraints;
}

/** Kernel fields of an elementwise def; a bool result is typed by its input (T of Equal is the compared type). */
function elementwiseKernels(options: ElementwiseOptions, outputBool: boolean) {
  return {
    ...(outputBool ? { typeAttrs: (op: Operation) => ({ T: (op.inputs[0] as Tensor).dtype }) } : {}),
    kernels: options.kernels ?? CPU_AND_GPU,
    ...(options.kernelConstraints ? { kernelConstraints: options.kernelConstraints } : {}),
  };
}

/** Defines a broadcasting binary elementwise op lowered to one ONNX op of the same meaning. */
export function binaryElementwise(type: string, onnxOp: string, outputBool = false, options: ElementwiseOptions = {}) {
  return defineOp({
    type,
    infer: ([a, b], _attrs, opName) => {
      sameDType(opName, a as Tensor, b as Tensor);
      if (options.dtypes) checkDType(opName, type, a as Tensor, options.dtypes);
      return [
        {
          dtype: outputBool ? 'bool' : (a as Tensor).dtype,
          shape: broadcastShapes(opName, (a as Tensor).shape, (b as Tensor).shape),
        },
      ];
    },
    lower: ({ b, inputs, outputs }) => {
      b.op(onnxOp, [inputs[0] as string, inputs[1] as string], {}, outputs[0]);
    },
    ...(options.grad ? { grad: options.grad } : {}),
    ...(options.notDifferentiable || outputBool ? { notDifferentiable: true } : {}),
    ...elementwiseKernels(options, outputBool),
  });
}

/** Defines a unary elementwise op lowered to one ONNX op with optional attributes. */
export function unaryElementwise(
  type: string,
  onnxOp: string,
  options: ElementwiseOptions & {
    onnxAttrs?: Record<string, number>;
    outputBool?: boolean;
    /** Lowers to several ONNX nodes instead of one `onnxOp`. */
    lower?: OpDef['lower'];
  } = {},
) {
  return defineOp({
    type,
    infer: ([x], _attrs, opName) => {
      if (options.dtypes) checkDType(opName, type, x as Tensor, options.dtypes);
      return [{ dtype: options.outputBool ? 'bool' : (x as Tensor).dtype, shape: (x as Tensor).shape }];
    },
    lower:
      options.lower ??
      (({ b, inputs, outputs }) => {
        b.op(onnxOp, [inputs[0] as string], options.onnxAttrs ?? {}, outputs[0]);
      }),
    ...(options.grad ? { grad: options.grad } : {}),
    ...(options.notDifferentiable || options.outputBool ? { notDifferentiable: true } : {}),
    ...elementwiseKernels(options, options.outputBool ?? false),
  });
}

function operands(op: GradContext['op']): [Tensor, Tensor] {
  return op.inputs as [Tensor, Tensor];
}

export interface NameOption {
  name?: string;
}

function binary(def: OpDef, defaultName: string) {
  return (a: TensorLike, b: TensorLike, options: NameOption = {}): Tensor => {
    const [ta, tb] = binaryOperands(a, b);
    return ta.graph.addOp({ def, inputs: [ta, tb], name: options.name ?? defaultName }).output;
  };
}

function unary(def: OpDef, defaultName: string) {
  return (x: TensorLike, options: NameOption = {}): Tensor => {
    const t = toTensor(x, graphOf(x));
    return t.graph.addOp({ def, inputs: [t], name: options.name ?? defaultName }).output;
  };
}

// ---- binary arithmetic -------------------------------------------------------------------------------------

export const Add = binaryElementwise('Add', 'Add', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = operands(op);
    return [unbroadcast(g, a.shape, op.name), unbroadcast(g, b.shape, op.name)];
  },
});

export const Sub = binaryElementwise('Sub', 'Sub', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = operands(op);
    return [unbroadcast(g, a.shape, op.name), unbroadcast(neg(g), b.shape, op.name)];
  },
});

export const Mul = binaryElementwise('Mul', 'Mul', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = operands(op);
    return [unbroadcast(mul(g, b), a.shape, op.name), unbroadcast(mul(a, g), b.shape, op.name)];
  },
});

/** TensorFlow's RealDiv: float division. */
export const RealDiv = binaryElementwise('RealDiv', 'Div', false, {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = operands(op);
    // d(a/b)/db = -a/b² = -y/b.
    return [unbroadcast(div(g, b), a.shape, op.name), unbroadcast(neg(mul(g, div(op.output, b))), b.shape, op.name)];
  },
});

export const Pow = binaryElementwise('Pow', 'Pow', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [x, p] = operands(op);
    const dx = mul(g, mul(p, pow(x, sub(p, 1))));
    // As TensorFlow: log(x) is taken only where x > 0, the exponent gets 0 elsewhere.
    const positive = greater(x, 0);
    // log(where(x > 0, x, 1)) keeps the unused branch finite: x - (x - 1) = 1 where x <= 0.
    const safeX = sub(x, maskedGrad(logicalNot(positive), sub(x, 1)));
    const logX = maskedGrad(positive, log(safeX));
    const dp = mul(g, mul(op.output, logX));
    return [unbroadcast(dx, x.shape, op.name), unbroadcast(dp, p.shape, op.name)];
  },
});

/** Routes the gradient of maximum/minimum to the input that won (ties go to the first, as TensorFlow). */
function extremumGrad(firstWins: (a: Tensor, b: Tensor) => Tensor): GradFn {
  return ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [a, b] = operands(op);
    const mask = firstWins(a, b);
    return [
      unbroadcast(maskedGrad(mask, g), a.shape, op.name),
      unbroadcast(maskedGrad(logicalNot(mask), g), b.shape, op.name),
    ];
  };
}

export const Maximum = binaryElementwise('Maximum', 'Max', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: extremumGrad((a, b) => greaterEqual(a, b)),
});
export const Minimum = binaryElementwise('Minimum', 'Min', false, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
  grad: extremumGrad((a, b) => lessEqual(a, b)),
});

export const add = binary(Add, 'Add');
export const sub = binary(Sub, 'Sub');
export const mul = binary(Mul, 'Mul');
/** Float division (tf.div / tf.realdiv on floats). */
export const div = binary(RealDiv, 'RealDiv');
/** Elementwise power x^p (tf.pow); both operands share a dtype. */
export const pow = binary(Pow, 'Pow');
export const maximum = binary(Maximum, 'Maximum');
export const minimum = binary(Minimum, 'Minimum');

// ---- comparisons and logic (no gradient) -------------------------------------------------------------------

export const Equal = binaryElementwise('Equal', 'Equal', true, {
  dtypes: [...NUMERIC_DTYPES, 'bool'],
  kernelConstraints: GPU_F32_I32,
});
export const Less = binaryElementwise('Less', 'Less', true, { dtypes: NUMERIC_DTYPES, kernelConstraints: GPU_F32_I32 });
export const Greater = binaryElementwise('Greater', 'Greater', true, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
});
export const LessEqual = binaryElementwise('LessEqual', 'LessOrEqual', true, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
});
export const GreaterEqual = binaryElementwise('GreaterEqual', 'GreaterOrEqual', true, {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32_I32,
});
export const LogicalAnd = binaryElementwise('LogicalAnd', 'And', true, { dtypes: BOOL_DTYPES });
export const LogicalOr = binaryElementwise('LogicalOr', 'Or', true, { dtypes: BOOL_DTYPES, kernels: CPU_ONLY });
export const LogicalNot = unaryElementwise('LogicalNot', 'Not', { dtypes: BOOL_DTYPES, outputBool: true });

export const equal = binary(Equal, 'Equal');
export const less = binary(Less, 'Less');
export const greater = binary(Greater, 'Greater');
export const lessEqual = binary(LessEqual, 'LessEqual');
export const greaterEqual = binary(GreaterEqual, 'GreaterEqual');
export const logicalAnd = binary(LogicalAnd, 'LogicalAnd');
export const logicalOr = binary(LogicalOr, 'LogicalOr');
export const logicalNot = unary(LogicalNot, 'LogicalNot');

// ---- unary math --------------------------------------------------------------------------------------------

export const Neg = unaryElementwise('Neg', 'Neg', {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ grads: [g] }) => [g ? neg(g) : null],
});
export const Sign = unaryElementwise('Sign', 'Sign', {
  dtypes: NUMERIC_DTYPES,
  kernels: CPU_ONLY,
  notDifferentiable: true,
});
export const Abs = unaryElementwise('Abs', 'Abs', {
  dtypes: NUMERIC_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? mul(g, sign(op.inputs[0] as Tensor)) : null],
});
export const Exp = unaryElementwise('Exp', 'Exp', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? mul(g, op.output) : null],
});
export const Log = unaryElementwise('Log', 'Log', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? div(g, op.inputs[0] as Tensor) : null],
});
export const Sqrt = unaryElementwise('Sqrt', 'Sqrt', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? div(g, mul(op.output, 2)) : null],
});
export const Square = defineOp({
  type: 'Square',
  infer: ([x], _attrs, opName) => {
    checkDType(opName, 'Square', x as Tensor, NUMERIC_DTYPES);
    return [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }];
  },
  lower: ({ b, inputs, outputs }) => {
    b.op('Mul', [inputs[0] as string, inputs[0] as string], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => [g ? mul(g, mul(op.inputs[0] as Tensor, 2)) : null],
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});
export const Relu = unaryElementwise('Relu', 'Relu', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? reluGrad(g, op.inputs[0] as Tensor) : null],
});
export const Sigmoid = unaryElementwise('Sigmoid', 'Sigmoid', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? mul(g, mul(op.output, sub(1, op.output))) : null],
});
export const Tanh = unaryElementwise('Tanh', 'Tanh', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  grad: ({ op, grads: [g] }) => [g ? mul(g, sub(1, square(op.output))) : null],
});
/** Softmax over the last axis (ONNX opset ≥ 13 Softmax takes one axis; no 2-D coercion). */
export const Softmax = unaryElementwise('Softmax', 'Softmax', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  onnxAttrs: { axis: -1 },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    const y = op.output;
    return [mul(y, sub(g, reduceSum(mul(g, y), -1, { keepDims: true })))];
  },
});
/**
 * log_softmax over the last axis as x − max − log Σ exp(x − max): ONNX Runtime's WebGPU EP has no LogSoftmax, and
 * this is the formula its CPU kernel computes, so both devices run it and the cross-entropies stay on the GPU.
 */
export function emitLogSoftmax(b: OnnxGraphBuilder, x: string, output?: string): string {
  const shifted = b.op('Sub', [x, b.op('ReduceMax', [x], { axes: [-1], keepdims: 1 })]);
  const sumExp = b.op('ReduceSum', [b.op('Exp', [shifted]), b.int64s([-1])], { keepdims: 1 });
  return b.op('Sub', [shifted, b.op('Log', [sumExp])], {}, output);
}

export const LogSoftmax = unaryElementwise('LogSoftmax', 'LogSoftmax', {
  dtypes: FLOAT_DTYPES,
  kernelConstraints: GPU_F32,
  lower: ({ b, inputs, outputs }) => {
    emitLogSoftmax(b, inputs[0] as string, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null];
    return [sub(g, mul(exp(op.output), reduceSum(g, -1, { keepDims: true })))];
  },
});

export const neg = unary(Neg, 'Neg');
export const sign = unary(Sign, 'Sign');
export const abs = unary(Abs, 'Abs');
export const exp = unary(Exp, 'Exp');
export const log = unary(Log, 'Log');
export const sqrt = unary(Sqrt, 'Sqrt');
export const square = unary(Square, 'Square');
export const relu = unary(Relu, 'Relu');
export const sigmoid = unary(Sigmoid, 'Sigmoid');
export const tanh = unary(Tanh, 'Tanh');
/** Softmax over the last axis (tf.nn.softmax). */
export const softmax = unary(Softmax, 'Softmax');
/** Log-softmax over the last axis (tf.nn.log_softmax). */
export const logSoftmax = unary(LogSoftmax, 'LogSoftmax');

// ---- gradient helper ---------------------------------------------------------------------------------------

/**
 * MaskedGrad(mask, g) = where(mask, g, 0), broadcasting: the gradient routing of relu6, maximum/minimum and
 * the log(x>0) guard of pow. Internal to gradients (TensorFlow builds these from Select + ZerosLike).
 */
export const MaskedGrad = defineOp({
  type: 'MaskedGrad',
  infer: ([mask, g], _attrs, opName) => {
    checkDType(opName, 'MaskedGrad', mask as Tensor, BOOL_DTYPES);
    return [
      { dtype: (g as Tensor).dtype, shape: broadcastShapes(opName, (mask as Tensor).shape, (g as Tensor).shape) },
    ];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const zero = b.scalar(0, (op.inputs[1] as Tensor).dtype, 'zero');
    b.op('Where', [inputs[0] as string, inputs[1] as string, zero], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [mask, x] = operands(op);
    return [null, unbroadcast(maskedGrad(mask, g), x.shape, op.name)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/**
 * ReluGrad(g, x) = g · (x > 0), as TensorFlow's ReluGrad kernel computes it: the mask cast to g's type and
 * multiplied, rather than a Where. ONNX Runtime's Where with a scalar zero runs element by element; Cast and Mul are
 * vectorized (CNN, 1.25 M values, 2 threads: 1.5 against 2.3 ms; docs/performance.md "Round 7"). The values differ
 * from where(x > 0, g, 0) only in the sign of zeros (−0 where g < 0 is masked) and where g is infinite or NaN, as
 * TensorFlow's do.
 */
export const ReluGrad = defineOp({
  type: 'ReluGrad',
  infer: ([g, x], _attrs, opName) => {
    checkDType(opName, 'ReluGrad', g as Tensor, FLOAT_DTYPES);
    sameDType(opName, g as Tensor, x as Tensor);
    return [{ dtype: (g as Tensor).dtype, shape: broadcastShapes(opName, (g as Tensor).shape, (x as Tensor).shape) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const dtype = (op.inputs[0] as Tensor).dtype;
    const positive = b.op('Greater', [inputs[1] as string, b.scalar(0, dtype, 'zero')]);
    b.op('Mul', [inputs[0] as string, b.op('Cast', [positive], { to: dtypeInfo(dtype).onnx })], {}, outputs[0]);
  },
  // TensorFlow's ReluGrad gradient: the same mask for g, none for x.
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [dy, x] = operands(op);
    return [unbroadcast(reluGrad(g, x), dy.shape, op.name), null];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/** g · (x > 0) (see ReluGrad). */
export function reluGrad(g: Tensor, x: Tensor, options: NameOption = {}): Tensor {
  return g.graph.addOp({ def: ReluGrad, inputs: [g, x], name: options.name ?? 'ReluGrad' }).output;
}

/** where(mask, g, 0) (see MaskedGrad). */
export function maskedGrad(mask: Tensor, g: Tensor, options: NameOption = {}): Tensor {
  return g.graph.addOp({ def: MaskedGrad, inputs: [mask, g], name: options.name ?? 'MaskedGrad' }).output;
}
