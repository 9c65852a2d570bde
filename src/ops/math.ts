import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { broadcastShapes, dimsCompatible, formatShape, type Dim } from '../graph/shape.js';
import { binaryOperands, type TensorLike } from './convert.js';
import { CPU_AND_GPU } from './kernels.js';

function sameDType(opName: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new InvalidArgument(
      `Operation '${opName}': inputs must have the same dtype, got ${a.dtype} (${a.name}) and ${b.dtype} (${b.name})`,
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
    return [
      { dtype: (a as Tensor).dtype, shape: matmulShape(opName, a as Tensor, b as Tensor, transposeA, transposeB) },
    ];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [a, bb] = op.inputs as [Tensor, Tensor];
    if (a.rank === 2 && bb.rank === 2) {
      // Gemm takes the transpose flags directly (2-D only).
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
  kernels: CPU_AND_GPU,
});

export interface MatMulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  name?: string;
}

/** Matrix product (tf.matmul), batched over leading dims, with optional transposes. */
export function matmul(a: TensorLike, b: TensorLike, options: MatMulOptions = {}): Tensor {
  const [ta, tb] = binaryOperands(a, b);
  return ta.graph.addOp({
    def: MatMul,
    inputs: [ta, tb],
    attrs: { transposeA: options.transposeA ?? false, transposeB: options.transposeB ?? false },
    name: options.name ?? 'MatMul',
  }).output;
}

/** Defines a broadcasting binary elementwise op lowered to one ONNX op of the same meaning. */
export function binaryElementwise(type: string, onnxOp: string, outputBool = false) {
  return defineOp({
    type,
    infer: ([a, b], _attrs, opName) => {
      sameDType(opName, a as Tensor, b as Tensor);
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
    kernels: CPU_AND_GPU,
  });
}

export const Add = binaryElementwise('Add', 'Add');

export function add(a: TensorLike, b: TensorLike, options: { name?: string } = {}): Tensor {
  const [ta, tb] = binaryOperands(a, b);
  return ta.graph.addOp({ def: Add, inputs: [ta, tb], name: options.name ?? 'Add' }).output;
}
