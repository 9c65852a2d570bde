/**
 * BatchMatMulV2 (tf.linalg.matmul on batches, numpy broadcasting of the batch dims) and BatchMatMul (the same
 * without broadcasting in TensorFlow; broadcasting equal batch dims is the same thing). Their adj_x / adj_y are
 * adjoints, which for the real dtypes flowserve has are transposes of the last two axes: the meaning of MatMul's
 * transpose flags. So these defs are MatMul under TensorFlow's names and attrs, one lowering and one gradient.
 */
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { binaryOperands, type TensorLike } from './convert.js';
import { CPU_AND_GPU, GPU_F32 } from './kernels.js';
import { MatMul } from './math.js';

export interface BatchMatMulAttrs {
  adjX: boolean;
  adjY: boolean;
  [key: string]: unknown;
}

const asMatMul = (attrs: BatchMatMulAttrs) => ({ transposeA: attrs.adjX, transposeB: attrs.adjY });

function batchMatMulDef(type: string) {
  return defineOp<BatchMatMulAttrs>({
    type,
    infer: (inputs, attrs, opName) => MatMul.infer(inputs, asMatMul(attrs), opName),
    lower: (ctx) => MatMul.lower({ ...ctx, attrs: asMatMul(ctx.attrs) }),
    grad: (ctx) => (MatMul.grad as NonNullable<typeof MatMul.grad>)({ ...ctx, attrs: asMatMul(ctx.attrs) }),
    kernels: CPU_AND_GPU,
    kernelConstraints: GPU_F32,
  });
}

export const BatchMatMulV2 = batchMatMulDef('BatchMatMulV2');
export const BatchMatMul = batchMatMulDef('BatchMatMul');

/** Batched matrix product with adjoint flags (TensorFlow's BatchMatMulV2). */
export function batchMatMul(
  x: TensorLike,
  y: TensorLike,
  options: { adjX?: boolean; adjY?: boolean; name?: string } = {},
): Tensor {
  const [a, b] = binaryOperands(x, y);
  return a.graph.addOp({
    def: BatchMatMulV2,
    inputs: [a, b],
    attrs: { adjX: options.adjX ?? false, adjY: options.adjY ?? false },
    name: options.name ?? 'BatchMatMulV2',
  }).output;
}
