/**
 * FusedBatchNorm, FusedBatchNormV2 and FusedBatchNormV3 in inference mode (is_training = false), as frozen and
 * SavedModel inference graphs hold them: y = (x − mean) · scale / √(variance + epsilon) + offset, per channel
 * (the last axis for NHWC, axis 1 for NCHW). Lowered as one multiply and one add with per-channel factors, so a
 * float32 graph stays on ops the WebGPU EP takes (Sqrt, Div, Mul, Sub, Add, Reshape).
 *
 * Outputs as TensorFlow: y, batch_mean, batch_variance, reserve_space_1, reserve_space_2 (and reserve_space_3 for
 * V3). In inference TensorFlow returns the given mean and variance as batch_mean/batch_variance; the reserve
 * spaces are only meaningful to its gradient kernel, and here repeat the mean and variance.
 * Training mode (batch statistics) is refused by name: inference graphs do not use it.
 */
import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp, type OutputInfo } from '../graph/op-def.js';
import { formatShape, dimsCompatible } from '../graph/shape.js';
import { CPU_AND_GPU, GPU_F32 } from './kernels.js';
import { checkDType, FLOAT_DTYPES } from './math.js';

export interface FusedBatchNormAttrs {
  /** TensorFlow's default is 0.0001 (attr `epsilon`). */
  epsilon: number;
  dataFormat: 'NHWC' | 'NCHW';
  isTraining: boolean;
  [key: string]: unknown;
}

function batchNormDef(type: string, outputCount: number) {
  return defineOp<FusedBatchNormAttrs>({
    type,
    infer: (inputs, attrs, opName) => {
      const [x, scale, offset, mean, variance] = inputs as Tensor[];
      if (!x || !scale || !offset || !mean || !variance) {
        throw new InvalidArgument(`Operation '${opName}' (${type}): needs x, scale, offset, mean and variance`);
      }
      checkDType(opName, type, x, FLOAT_DTYPES);
      if (attrs.isTraining) {
        throw new InvalidArgument(
          `Operation '${opName}' (${type}): is_training=true (batch statistics) is not supported; export the model for inference`,
        );
      }
      if (attrs.dataFormat !== 'NHWC' && attrs.dataFormat !== 'NCHW') {
        throw new InvalidArgument(
          `Operation '${opName}' (${type}): data_format must be NHWC or NCHW, got ${attrs.dataFormat}`,
        );
      }
      if (!(attrs.epsilon >= 0)) {
        throw new InvalidArgument(
          `Operation '${opName}' (${type}): epsilon must be non-negative, got ${attrs.epsilon}`,
        );
      }
      if (x.rank !== 4) {
        throw new InvalidArgument(
          `Operation '${opName}' (${type}): x must be 4-dimensional, got shape ${formatShape(x.shape)}`,
        );
      }
      const channels = x.shape[attrs.dataFormat === 'NHWC' ? 3 : 1] ?? null;
      for (const [what, t] of [
        ['scale', scale],
        ['offset', offset],
        ['mean', mean],
        ['variance', variance],
      ] as const) {
        if (t.dtype !== x.dtype) {
          throw new InvalidArgument(`Operation '${opName}' (${type}): ${what} must be ${x.dtype}, got ${t.dtype}`);
        }
        if (t.rank !== 1 || !dimsCompatible(t.shape[0] ?? null, channels)) {
          throw new InvalidArgument(
            `Operation '${opName}' (${type}): ${what} must be 1-dimensional with ${channels ?? '?'} channels, got shape ${formatShape(t.shape)} for x of shape ${formatShape(x.shape)} (${attrs.dataFormat})`,
          );
        }
      }
      const stat: OutputInfo = { dtype: x.dtype, shape: [channels] };
      return [{ dtype: x.dtype, shape: x.shape }, ...Array.from({ length: outputCount - 1 }, () => stat)];
    },
    lower: ({ b, op, inputs, outputs, attrs }) => {
      const dtype = op.output.dtype;
      const [x, scale, offset, mean, variance] = inputs as [string, string, string, string, string];
      const stdInv = b.op('Div', [
        scale,
        b.op('Sqrt', [b.op('Add', [variance, b.scalar(attrs.epsilon, dtype, 'epsilon')])]),
      ]);
      const shift = b.op('Sub', [offset, b.op('Mul', [mean, stdInv])]);
      // NCHW: per-channel factors as [C, 1, 1] so they broadcast over H and W.
      const perChannel = (v: string) => (attrs.dataFormat === 'NHWC' ? v : b.op('Reshape', [v, b.int64s([-1, 1, 1])]));
      b.op('Add', [b.op('Mul', [x, perChannel(stdInv)]), perChannel(shift)], {}, outputs[0]);
      const stats = [mean, variance, mean, variance, mean];
      outputs.slice(1).forEach((name, i) => b.op('Identity', [stats[i] as string], {}, name));
    },
    typeAttrs: (op) => ({ T: op.output.dtype, U: (op.inputs[1] as Tensor).dtype }),
    kernels: CPU_AND_GPU,
    kernelConstraints: GPU_F32,
  });
}

export const FusedBatchNorm = batchNormDef('FusedBatchNorm', 5);
export const FusedBatchNormV2 = batchNormDef('FusedBatchNormV2', 5);
export const FusedBatchNormV3 = batchNormDef('FusedBatchNormV3', 6);

export interface FusedBatchNormOptions {
  epsilon?: number;
  dataFormat?: 'NHWC' | 'NCHW';
  name?: string;
}

/** Inference-mode batch normalization (tf.compat.v1.nn.fused_batch_norm with is_training=False); returns y. */
export function fusedBatchNorm(
  x: Tensor,
  scale: Tensor,
  offset: Tensor,
  mean: Tensor,
  variance: Tensor,
  options: FusedBatchNormOptions = {},
): Tensor {
  return x.graph.addOp({
    def: FusedBatchNormV3,
    inputs: [x, scale, offset, mean, variance],
    attrs: { epsilon: options.epsilon ?? 0.0001, dataFormat: options.dataFormat ?? 'NHWC', isTraining: false },
    name: options.name ?? 'FusedBatchNormV3',
  }).output;
}
