import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { formatShape, type Shape } from '../graph/shape.js';
import { reduceSum } from './reduce.js';

/**
 * Sums a broadcast gradient back to an operand's shape (spec §3.3, TensorFlow's BroadcastGradientArgs + Sum):
 * 1. sum the leading axes the operand does not have (keepdims 0);
 * 2. sum, keeping dims, every axis where the operand has 1 and the gradient does not (or may not: unknown);
 * no-op reductions are skipped (never a ReduceSum with empty axes). The result has the operand's rank, and
 * its dims where the operand's are known.
 *
 * Unknown dims: an operand dim of 1 facing an unknown gradient dim is summed (a sum over a size-1 axis is
 * harmless). An unknown operand dim is taken to match the gradient (the dynamic batch dim of `[None, n]`
 * operands); an operand that is unknown *and* broadcast at run time is not supported, as in tf.gradients'
 * static path — give such operands a static shape.
 */
export function unbroadcast(grad: Tensor, targetShape: Shape, opName: string): Tensor {
  const extra = grad.rank - targetShape.length;
  if (extra < 0) {
    throw new InvalidArgument(
      `Operation '${opName}': gradient of shape ${formatShape(grad.shape)} has lower rank than operand shape ${formatShape(targetShape)}`,
    );
  }
  let g = grad;
  if (extra > 0) g = reduceSum(g, [...Array(extra).keys()], { keepDims: false, name: 'Sum' });
  const axes: number[] = [];
  targetShape.forEach((d, i) => {
    if (d === 1 && g.shape[i] !== 1) axes.push(i);
  });
  if (axes.length > 0) g = reduceSum(g, axes, { keepDims: true, name: 'Sum' });
  return g;
}
