/**
 * DepthwiseConv2dNative (tf.nn.depthwise_conv2d): NHWC input [N, H, W, C], filter [kh, kw, C, M], output
 * [N, Ho, Wo, C·M] where output channel c·M + m is input channel c convolved with filter[:, :, c, m].
 * TensorFlow's attrs: strides and dilations ([1, s, s, 1] or [s, s]), padding SAME / VALID / EXPLICIT with
 * explicit_paddings (8 values, before/after per NHWC axis).
 *
 * float32 lowers to one grouped ONNX Conv (group = C). ONNX Runtime's CPU EP has no float64 Conv, so float64
 * lowers to a sum over the kh·kw filter taps of strided slices of the padded input times that tap's [C, M]
 * weights: exact in float64, and fine for the small depthwise windows (3×3, 5×5) models use.
 */
import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { formatShape } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { CPU_AND_GPU, GPU_F32 } from './kernels.js';
import { checkDType, FLOAT_DTYPES } from './math.js';

export type ConvPadding = 'SAME' | 'VALID' | 'EXPLICIT';

export interface DepthwiseConvAttrs {
  /** [sh, sw] or TensorFlow's NHWC [1, sh, sw, 1]. */
  strides: number[];
  padding: ConvPadding;
  /** [dh, dw] or NHWC [1, dh, dw, 1]; default 1. */
  dilations?: number[];
  /** EXPLICIT only: TensorFlow's explicit_paddings, [before, after] for N, H, W, C (8 values). */
  explicitPaddings?: number[];
  [key: string]: unknown;
}

/** One spatial axis of a dilated window op: output size and pads before/after (TensorFlow's rules). */
export interface WindowAxis {
  out: number;
  before: number;
  after: number;
}

/**
 * TensorFlow's GetWindowedOutputSizeVerbose: SAME gives ceil(in/s) with the padding split low-first, VALID
 * floor((in − k_eff)/s) + 1, EXPLICIT floor((in + before + after − k_eff)/s) + 1, where k_eff = (k − 1)·d + 1.
 */
export function dilatedWindowAxis(
  opName: string,
  size: number,
  k: number,
  stride: number,
  dilation: number,
  padding: ConvPadding,
  explicit: [number, number],
): WindowAxis {
  const kEff = (k - 1) * dilation + 1;
  if (padding === 'SAME') {
    const out = Math.ceil(size / stride);
    const total = Math.max((out - 1) * stride + kEff - size, 0);
    const before = Math.floor(total / 2);
    return { out, before, after: total - before };
  }
  const [before, after] = padding === 'EXPLICIT' ? explicit : [0, 0];
  const padded = size + before + after;
  if (padded < kEff) {
    throw new InvalidArgument(
      `Operation '${opName}': ${padding} padding needs a padded input size ${padded} >= the effective filter size ${kEff}`,
    );
  }
  return { out: Math.floor((padded - kEff) / stride) + 1, before, after };
}

/** [h, w] from TensorFlow's 4-element NHWC form or a 2-element one; errors name the op and attr. */
export function spatialPair(opName: string, what: string, value: readonly number[] | undefined, dflt: number) {
  if (value === undefined) return [dflt, dflt] as [number, number];
  let pair: number[];
  if (value.length === 2) pair = [...value];
  else if (value.length === 4) {
    if (value[0] !== 1 || value[3] !== 1) {
      throw new InvalidArgument(
        `Operation '${opName}': ${what} [${value.join(',')}] must be 1 in the batch and depth dimensions`,
      );
    }
    pair = [value[1] as number, value[2] as number];
  } else {
    throw new InvalidArgument(`Operation '${opName}': ${what} must have 2 or 4 elements, got [${value.join(',')}]`);
  }
  if (pair.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new InvalidArgument(`Operation '${opName}': ${what} [${value.join(',')}] must be positive integers`);
  }
  return pair as [number, number];
}

export interface DepthwiseGeometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  rows: WindowAxis;
  cols: WindowAxis;
}

function explicitPads(opName: string, attrs: DepthwiseConvAttrs): [[number, number], [number, number]] {
  if (attrs.padding !== 'EXPLICIT')
    return [
      [0, 0],
      [0, 0],
    ];
  const p = attrs.explicitPaddings ?? [];
  if (p.length !== 8 || p.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new InvalidArgument(
      `Operation '${opName}': EXPLICIT padding needs explicit_paddings of 8 non-negative integers, got [${p.join(',')}]`,
    );
  }
  if (p[0] !== 0 || p[1] !== 0 || p[6] !== 0 || p[7] !== 0) {
    throw new InvalidArgument(
      `Operation '${opName}': explicit_paddings [${p.join(',')}] may only pad the height and width dimensions`,
    );
  }
  return [
    [p[2] as number, p[3] as number],
    [p[4] as number, p[5] as number],
  ];
}

function geometry(opName: string, x: Tensor, f: Tensor, attrs: DepthwiseConvAttrs): DepthwiseGeometry {
  if (!['SAME', 'VALID', 'EXPLICIT'].includes(attrs.padding)) {
    throw new InvalidArgument(`Operation '${opName}': padding must be SAME, VALID or EXPLICIT, got ${attrs.padding}`);
  }
  const [sh, sw] = spatialPair(opName, 'strides', attrs.strides, 1);
  const [dh, dw] = spatialPair(opName, 'dilations', attrs.dilations, 1);
  const [padRows, padCols] = explicitPads(opName, attrs);
  const dim = (t: Tensor, i: number, what: string): number => {
    const d = t.shape[i];
    if (d === null || d === undefined) {
      throw new InvalidArgument(
        `Operation '${opName}': the ${what} of '${t.name}' (shape ${formatShape(t.shape)}) must be known when the graph is built`,
      );
    }
    return d;
  };
  const [H, W, kh, kw] = [
    dim(x, 1, 'height'),
    dim(x, 2, 'width'),
    dim(f, 0, 'filter height'),
    dim(f, 1, 'filter width'),
  ];
  return {
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    rows: dilatedWindowAxis(opName, H, kh, sh, dh, attrs.padding, padRows),
    cols: dilatedWindowAxis(opName, W, kw, sw, dw, attrs.padding, padCols),
  };
}

function emitGroupedConv(
  b: OnnxGraphBuilder,
  x: string,
  w: string,
  g: DepthwiseGeometry,
  C: number,
  M: number,
  out: string,
) {
  // [kh, kw, C, M] → [kh, kw, 1, C·M] → OIHW [C·M, 1, kh, kw]: group c owns output channels c·M … c·M + M − 1.
  const w1 = b.op('Reshape', [w, b.int64s([g.kh, g.kw, 1, C * M])]);
  const wn = b.op('Transpose', [w1], { perm: [3, 2, 0, 1] });
  const xn = b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const yn = b.op('Conv', [xn, wn], {
    group: C,
    kernel_shape: [g.kh, g.kw],
    strides: [g.sh, g.sw],
    dilations: [g.dh, g.dw],
    pads: [g.rows.before, g.cols.before, g.rows.after, g.cols.after],
  });
  b.op('Transpose', [yn], { perm: [0, 2, 3, 1] }, out);
}

function emitTapSum(
  b: OnnxGraphBuilder,
  x: string,
  w: string,
  g: DepthwiseGeometry,
  C: number,
  M: number,
  out: string,
) {
  const anyPad = [g.rows.before, g.rows.after, g.cols.before, g.cols.after].some((p) => p > 0);
  const padded = anyPad
    ? b.op('Pad', [x, b.int64s([0, g.rows.before, g.cols.before, 0, 0, g.rows.after, g.cols.after, 0])])
    : x;
  // [N, Hp, Wp, C, 1] so each tap's [C, M] weights broadcast into [N, Ho, Wo, C, M].
  const x5 = b.op('Unsqueeze', [padded, b.int64s([4])]);
  let acc: string | undefined;
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const r0 = i * g.dh;
      const c0 = j * g.dw;
      const tap = b.op('Slice', [
        x5,
        b.int64s([r0, c0]),
        b.int64s([r0 + (g.rows.out - 1) * g.sh + 1, c0 + (g.cols.out - 1) * g.sw + 1]),
        b.int64s([1, 2]),
        b.int64s([g.sh, g.sw]),
      ]);
      const weights = b.op('Slice', [w, b.int64s([i, j]), b.int64s([i + 1, j + 1]), b.int64s([0, 1])]);
      const term = b.op('Mul', [tap, b.op('Reshape', [weights, b.int64s([C, M])])]);
      acc = acc === undefined ? term : b.op('Add', [acc, term]);
    }
  }
  b.op('Reshape', [acc as string, b.int64s([0, g.rows.out, g.cols.out, C * M])], {}, out);
}

export const DepthwiseConv2dNative = defineOp<DepthwiseConvAttrs>({
  type: 'DepthwiseConv2dNative',
  infer: ([input, filter], attrs, opName) => {
    const [x, f] = [input as Tensor, filter as Tensor];
    checkDType(opName, 'DepthwiseConv2dNative', x, FLOAT_DTYPES);
    if (x.dtype !== f.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}': input and filter must have the same dtype, got ${x.dtype} and ${f.dtype}`,
      );
    }
    if (x.rank !== 4 || f.rank !== 4) {
      throw new InvalidArgument(
        `Operation '${opName}' (DepthwiseConv2dNative): input must be rank 4 (NHWC) and filter rank 4 ([kh, kw, C, M]), got shapes ${formatShape(x.shape)} and ${formatShape(f.shape)}`,
      );
    }
    const [C, fc, M] = [x.shape[3] ?? null, f.shape[2] ?? null, f.shape[3] ?? null];
    if (fc === null || M === null) {
      throw new InvalidArgument(
        `Operation '${opName}': the filter's in_channels and channel_multiplier must be known, got filter shape ${formatShape(f.shape)}`,
      );
    }
    if (C !== null && C !== fc) {
      throw new InvalidArgument(
        `Operation '${opName}' (DepthwiseConv2dNative): input depth must equal the filter's in_channels: ${C} vs ${fc}, input shape ${formatShape(x.shape)}, filter shape ${formatShape(f.shape)}`,
      );
    }
    const g = geometry(opName, x, f, attrs);
    return [{ dtype: x.dtype, shape: [x.shape[0] ?? null, g.rows.out, g.cols.out, fc * M] }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [x, f] = op.inputs as [Tensor, Tensor];
    const g = geometry(op.name, x, f, attrs);
    const [C, M] = [f.shape[2] as number, f.shape[3] as number];
    const emit = x.dtype === 'float32' ? emitGroupedConv : emitTapSum;
    emit(b, inputs[0] as string, inputs[1] as string, g, C, M, outputs[0] as string);
  },
  // float32 lowers to a grouped (dilated) Conv, which the WebGPU EP runs (kernel survey: strides, dilations, an
  // unknown batch); float64 to a sum of taps, which it does not.
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

export interface DepthwiseConv2dOptions {
  strides?: number[];
  padding?: ConvPadding;
  dilations?: number[];
  explicitPaddings?: number[];
  name?: string;
}

/** Depthwise 2-D convolution over NHWC input (tf.nn.depthwise_conv2d with one filter per input channel). */
export function depthwiseConv2d(x: Tensor, filter: Tensor, options: DepthwiseConv2dOptions = {}): Tensor {
  return x.graph.addOp({
    def: DepthwiseConv2dNative,
    inputs: [x, filter],
    attrs: {
      strides: options.strides ?? [1, 1],
      padding: options.padding ?? 'VALID',
      ...(options.dilations ? { dilations: options.dilations } : {}),
      ...(options.explicitPaddings ? { explicitPaddings: options.explicitPaddings } : {}),
    },
    name: options.name ?? 'depthwise',
  }).output;
}
