import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { Operation, Tensor } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { defineOp, type OpDef } from '../graph/op-def.js';
import { dimsCompatible, formatShape, type Dim } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { binaryOperands, graphOf, toTensor, type TensorLike } from './convert.js';
import { CPU_AND_GPU, GPU_F32, GPU_F32_I32, gpuKernel, staticShapes } from './kernels.js';
import { checkDType, FLOAT_DTYPES } from './math.js';
import { reduceSum, scalarValue } from './reduce.js';

export type Padding = 'SAME' | 'VALID';

/** Static geometry of a 2-D window op (conv or pool) on one spatial plane, TensorFlow's padding rule. */
export interface Window2D {
  H: number;
  W: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Pads before/after each spatial axis (top, left, bottom, right). */
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  Ho: number;
  Wo: number;
  /** Dilation of the window's taps (Conv2D's `dilations`); absent = 1. kh/kw count taps, not the span. */
  dh?: number;
  dw?: number;
}

function windowAxis(opName: string, size: number, k: number, s: number, padding: Padding): [number, number, number] {
  if (padding === 'SAME') {
    // TensorFlow: out = ceil(in/s); pad_total = max((out-1)*s + k - in, 0); pad_before = floor(pad_total/2).
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + k - size, 0);
    const before = Math.floor(total / 2);
    return [out, before, total - before];
  }
  if (size < k) {
    throw new InvalidArgument(`Operation '${opName}': VALID padding needs input size ${size} >= window size ${k}`);
  }
  return [Math.floor((size - k) / s) + 1, 0, 0];
}

/** TensorFlow's output size and padding for a window op; errors name the op. */
export function windowGeometry(
  opName: string,
  H: number,
  W: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  padding: Padding,
): Window2D {
  const [Ho, pt, pb] = windowAxis(opName, H, kh, sh, padding);
  const [Wo, pl, pr] = windowAxis(opName, W, kw, sw, padding);
  return { H, W, kh, kw, sh, sw, pt, pl, pb, pr, Ho, Wo };
}

function pads(g: Window2D): number[] {
  return [g.pt, g.pl, g.pb, g.pr];
}

/** Reads a static dim or throws: window ops need known spatial sizes to compute TensorFlow's padding. */
function staticDim(opName: string, t: Tensor, axis: number, what: string): number {
  const d = t.shape[axis];
  if (d === null || d === undefined) {
    throw new InvalidArgument(
      `Operation '${opName}': the ${what} of '${t.name}' (shape ${formatShape(t.shape)}) must be known when the graph is built`,
    );
  }
  return d;
}

function checkRank(opName: string, t: Tensor, rank: number, what: string): void {
  if (t.rank !== rank) {
    throw new InvalidArgument(
      `Operation '${opName}': ${what} must be rank ${rank}, got shape ${formatShape(t.shape)} for '${t.name}'`,
    );
  }
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** HWIO (TensorFlow filter) → OIHW (ONNX weight). */
const HWIO_TO_OIHW = [3, 2, 0, 1];

// ---- im2col lowering (float64: ONNX Runtime's CPU EP has no double Conv/ConvTranspose/AveragePool) ----------

/** For each output position and window tap, the flat index into the padded plane: [1, L·KK, 1] int64. */
function patchIndices(g: Window2D): HostTensor {
  const Wp = g.W + g.pl + g.pr;
  const [dh, dw] = [g.dh ?? 1, g.dw ?? 1];
  const values: bigint[] = [];
  for (let oh = 0; oh < g.Ho; oh++) {
    for (let ow = 0; ow < g.Wo; ow++) {
      for (let i = 0; i < g.kh; i++) {
        for (let j = 0; j < g.kw; j++) values.push(BigInt((oh * g.sh + i * dh) * Wp + ow * g.sw + j * dw));
      }
    }
  }
  return new HostTensor('int64', [1, values.length, 1], BigInt64Array.from(values));
}

/** NHWC x → patches [N, L·KK, C] (zero padding), taps ordered (oh, ow, i, j). */
function emitPatches(b: OnnxGraphBuilder, x: string, g: Window2D): string {
  const Hp = g.H + g.pt + g.pb;
  const Wp = g.W + g.pl + g.pr;
  const padded = pads(g).some((p) => p > 0) ? b.op('Pad', [x, b.int64s([0, g.pt, g.pl, 0, 0, g.pb, g.pr, 0])]) : x;
  const flat = b.op('Reshape', [padded, b.int64s([0, Hp * Wp, -1])]);
  const idx = b.op('Reshape', [b.constant(patchIndices(g), 'patch_idx'), b.int64s([-1])]);
  return b.op('Gather', [flat, idx], { axis: 1 });
}

/** The adjoint of emitPatches: cols [N, L·KK, C] scatter-added into the padded plane, padding cut: NHWC. */
function emitCol2Im(b: OnnxGraphBuilder, cols: string, g: Window2D, dtype: DType, output?: string): string {
  const Hp = g.H + g.pt + g.pb;
  const Wp = g.W + g.pl + g.pr;
  const colsShape = b.op('Shape', [cols]);
  const n = b.op('Slice', [colsShape, b.int64s([0]), b.int64s([1])]);
  const c = b.op('Slice', [colsShape, b.int64s([2]), b.int64s([3])]);
  const zerosShape = b.op('Concat', [n, b.int64s([Hp * Wp]), c], { axis: 0 });
  const zeros = b.op('ConstantOfShape', [zerosShape], { value: { tensor: scalarValue(dtype, 0) } });
  const idx = b.op('Expand', [b.constant(patchIndices(g), 'patch_idx'), colsShape]);
  const plane = b.op('ScatterElements', [zeros, idx, cols], { axis: 1, reduction: 'add' });
  const nhwc = b.op('Reshape', [plane, b.int64s([0, Hp, Wp, -1])]);
  if (!pads(g).some((p) => p > 0)) return b.op('Identity', [nhwc], {}, output);
  return b.op(
    'Slice',
    [nhwc, b.int64s([g.pt, g.pl]), b.int64s([g.pt + g.H, g.pl + g.W]), b.int64s([1, 2])],
    {},
    output,
  );
}

/** Number of real (non-padding) input cells under each output window, [Ho·Wo] in row-major order. */
function windowCounts(g: Window2D): number[] {
  const counts: number[] = [];
  const valid = (o: number, s: number, p: number, k: number, size: number) => {
    let n = 0;
    for (let i = 0; i < k; i++) {
      const at = o * s + i - p;
      if (at >= 0 && at < size) n++;
    }
    return n;
  };
  for (let oh = 0; oh < g.Ho; oh++) {
    for (let ow = 0; ow < g.Wo; ow++) counts.push(valid(oh, g.sh, g.pt, g.kh, g.H) * valid(ow, g.sw, g.pl, g.kw, g.W));
  }
  return counts;
}

function inverseCounts(g: Window2D, dtype: DType, shape: readonly number[]): HostTensor {
  return HostTensor.from(
    dtype,
    windowCounts(g).map((c) => 1 / c),
    shape,
  );
}

// ---- Conv2D ------------------------------------------------------------------------------------------------

interface ConvAttrs {
  strides: [number, number];
  padding: Padding;
  /** [h, w] (TF's NHWC `dilations` without batch and depth); absent = [1, 1]. */
  dilations?: [number, number];
  [key: string]: unknown;
}

function convDilations(opName: string, attrs: ConvAttrs): [number, number] {
  const [dh, dw] = attrs.dilations ?? [1, 1];
  if (!Number.isInteger(dh) || !Number.isInteger(dw) || dh < 1 || dw < 1) {
    throw new InvalidArgument(`Operation '${opName}': dilations must be positive integers, got [${dh}, ${dw}]`);
  }
  return [dh, dw];
}

/** The window of a (dilated) convolution: padding and output size as TF computes them from the dilated span. */
function convGeometry(opName: string, x: readonly Dim[], filter: readonly Dim[], attrs: ConvAttrs): Window2D {
  const [kh, kw] = [filter[0] as number, filter[1] as number];
  const [dh, dw] = convDilations(opName, attrs);
  const g = windowGeometry(
    opName,
    x[1] as number,
    x[2] as number,
    (kh - 1) * dh + 1,
    (kw - 1) * dw + 1,
    attrs.strides[0],
    attrs.strides[1],
    attrs.padding,
  );
  return { ...g, kh, kw, dh, dw };
}

function emitConvF32(b: OnnxGraphBuilder, x: string, w: string, g: Window2D, output: string): void {
  const xn = b.op('Transpose', [x], { perm: NHWC_TO_NCHW });
  const wn = b.op('Transpose', [w], { perm: HWIO_TO_OIHW });
  const yn = b.op('Conv', [xn, wn], {
    kernel_shape: [g.kh, g.kw],
    strides: [g.sh, g.sw],
    dilations: [g.dh ?? 1, g.dw ?? 1],
    pads: pads(g),
  });
  b.op('Transpose', [yn], { perm: NCHW_TO_NHWC }, output);
}

function emitConvIm2Col(b: OnnxGraphBuilder, x: string, w: string, g: Window2D, cin: number, output: string): void {
  const L = g.Ho * g.Wo;
  const patches = b.op('Reshape', [emitPatches(b, x, g), b.int64s([0, L, g.kh * g.kw * cin])]);
  const wm = b.op('Reshape', [w, b.int64s([g.kh * g.kw * cin, -1])]);
  const y = b.op('MatMul', [patches, wm]);
  b.op('Reshape', [y, b.int64s([0, g.Ho, g.Wo, -1])], {}, output);
}

export const Conv2D = defineOp<ConvAttrs>({
  type: 'Conv2D',
  infer: ([x, filter], attrs, opName) => {
    const [t, f] = [x as Tensor, filter as Tensor];
    checkDType(opName, 'Conv2D', t, FLOAT_DTYPES);
    if (t.dtype !== f.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}': input and filter must have the same dtype, got ${t.dtype} and ${f.dtype}`,
      );
    }
    checkRank(opName, t, 4, 'input (NHWC)');
    checkRank(opName, f, 4, 'filter (HWIO)');
    staticDim(opName, t, 1, 'height');
    staticDim(opName, t, 2, 'width');
    staticDim(opName, f, 0, 'filter height');
    staticDim(opName, f, 1, 'filter width');
    staticDim(opName, f, 2, 'filter input depth');
    if (!dimsCompatible(t.shape[3] ?? null, f.shape[2] ?? null)) {
      throw new InvalidArgument(
        `Operation '${opName}' (Conv2D): input depth must equal filter input depth, got input shape ${formatShape(t.shape)} and filter shape ${formatShape(f.shape)}`,
      );
    }
    const g = convGeometry(opName, t.shape, f.shape, attrs);
    return [{ dtype: t.dtype, shape: [t.shape[0] ?? null, g.Ho, g.Wo, f.shape[3] ?? null] }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [x, f] = op.inputs as [Tensor, Tensor];
    const g = convGeometry(op.name, x.shape, f.shape, attrs);
    if (x.dtype === 'float32') emitConvF32(b, inputs[0] as string, inputs[1] as string, g, outputs[0] as string);
    else emitConvIm2Col(b, inputs[0] as string, inputs[1] as string, g, f.shape[2] as number, outputs[0] as string);
  },
  grad: ({ op, grads: [dy], attrs }) => {
    if (!dy) return [null, null];
    const [x, f] = op.inputs as [Tensor, Tensor];
    if (convDilations(op.name, attrs).some((d) => d !== 1)) {
      throw new InvalidArgument(`Operation '${op.name}': the gradient of a dilated Conv2D is not supported`);
    }
    const opts = { strides: attrs.strides, padding: attrs.padding };
    return [
      conv2dBackpropInput([x.shape[1] as number, x.shape[2] as number, f.shape[2] as number], f, dy, opts),
      conv2dBackpropFilter(x, f.shape as number[], dy, opts),
    ];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

interface BackpropInputAttrs extends ConvAttrs {
  /** [H, W, Cin] of the forward input. */
  inputSize: [number, number, number];
}

/** Conv2DBackpropInput(filter, dY): the gradient of conv2d w.r.t. its input (a transposed convolution). */
export const Conv2DBackpropInput = defineOp<BackpropInputAttrs>({
  type: 'Conv2DBackpropInput',
  infer: ([filter, dy], attrs, opName) => {
    const [f, d] = [filter as Tensor, dy as Tensor];
    checkDType(opName, 'Conv2DBackpropInput', d, FLOAT_DTYPES);
    checkRank(opName, f, 4, 'filter (HWIO)');
    checkRank(opName, d, 4, 'out_backprop (NHWC)');
    const [H, W, C] = attrs.inputSize;
    return [{ dtype: d.dtype, shape: [d.shape[0] ?? null, H, W, C] }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const [f, d] = op.inputs as [Tensor, Tensor];
    const [H, W, C] = attrs.inputSize;
    const g = convGeometry(op.name, [null, H, W, C], f.shape, attrs);
    const [w, dy] = [inputs[0] as string, inputs[1] as string];
    if (d.dtype === 'float32') {
      // ConvTranspose with output_padding restoring the forward input size exactly (spec §3.4).
      const outPad = [H - ((g.Ho - 1) * g.sh + g.kh - g.pt - g.pb), W - ((g.Wo - 1) * g.sw + g.kw - g.pl - g.pr)];
      const dyn = b.op('Transpose', [dy], { perm: NHWC_TO_NCHW });
      const wn = b.op('Transpose', [w], { perm: HWIO_TO_OIHW });
      const xn = b.op('ConvTranspose', [dyn, wn], {
        kernel_shape: [g.kh, g.kw],
        strides: [g.sh, g.sw],
        pads: pads(g),
        output_padding: outPad,
      });
      b.op('Transpose', [xn], { perm: NCHW_TO_NHWC }, outputs[0]);
      return;
    }
    const L = g.Ho * g.Wo;
    const KKC = g.kh * g.kw * C;
    const dym = b.op('Reshape', [dy, b.int64s([0, L, -1])]);
    const wt = b.op('Transpose', [b.op('Reshape', [w, b.int64s([KKC, -1])])], { perm: [1, 0] });
    const cols = b.op('Reshape', [b.op('MatMul', [dym, wt]), b.int64s([0, L * g.kh * g.kw, C])]);
    emitCol2Im(b, cols, g, d.dtype, outputs[0]);
  },
  grad: ({ op, grads: [g], attrs }) => {
    if (!g) return [null, null];
    const [f, dy] = op.inputs as [Tensor, Tensor];
    const opts = { strides: attrs.strides, padding: attrs.padding };
    return [conv2dBackpropFilter(g, f.shape as number[], dy, opts), conv2d(g, f, opts)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

interface BackpropFilterAttrs extends ConvAttrs {
  /** [kh, kw, Cin, Cout]. */
  filterSize: [number, number, number, number];
}

/** Conv2DBackpropFilter(x, dY): the gradient of conv2d w.r.t. its filter. */
export const Conv2DBackpropFilter = defineOp<BackpropFilterAttrs>({
  type: 'Conv2DBackpropFilter',
  infer: ([x, dy], attrs, opName) => {
    const [t, d] = [x as Tensor, dy as Tensor];
    checkDType(opName, 'Conv2DBackpropFilter', t, FLOAT_DTYPES);
    checkRank(opName, t, 4, 'input (NHWC)');
    checkRank(opName, d, 4, 'out_backprop (NHWC)');
    return [{ dtype: t.dtype, shape: [...attrs.filterSize] }];
  },
  lower: ({ b, op, inputs, outputs, attrs, deviceType }) => {
    const x = op.inputs[0] as Tensor;
    const [kh, kw, C] = attrs.filterSize;
    const g = convGeometry(op.name, x.shape, attrs.filterSize, attrs);
    const [xs, dy] = [inputs[0] as string, inputs[1] as string];
    if (x.dtype === 'float32' && deviceType === 'CPU') {
      emitFilterGradAsVolumeConv(b, xs, dy, g, attrs.filterSize, outputs[0] as string);
      return;
    }
    if (x.dtype === 'float32') {
      // Spec §3.4: the batch becomes the reduction channel, the forward stride the dilation; Slice drops the
      // extra tap a non-dividing stride produces.
      const xc = b.op('Transpose', [xs], { perm: [3, 0, 1, 2] });
      const dyc = b.op('Transpose', [dy], { perm: [3, 0, 1, 2] });
      const full = b.op('Conv', [xc, dyc], { dilations: [g.sh, g.sw], pads: pads(g) });
      const cut = b.op('Slice', [full, b.int64s([0, 0]), b.int64s([kh, kw]), b.int64s([2, 3])]);
      b.op('Transpose', [cut], { perm: [2, 3, 0, 1] }, outputs[0]);
      return;
    }
    const KKC = kh * kw * C;
    const patches = b.op('Reshape', [emitPatches(b, xs, g), b.int64s([-1, KKC])]);
    const dym = b.op('Reshape', [dy, b.int64s([-1, attrs.filterSize[3]])]);
    const dw = b.op('MatMul', [b.op('Transpose', [patches], { perm: [1, 0] }), dym]);
    b.op('Reshape', [dw, b.int64s([...attrs.filterSize])], {}, outputs[0]);
  },
  grad: ({ op, grads: [g], attrs }) => {
    if (!g) return [null, null];
    const [x, dy] = op.inputs as [Tensor, Tensor];
    const opts = { strides: attrs.strides, padding: attrs.padding };
    return [
      conv2dBackpropInput([x.shape[1] as number, x.shape[2] as number, x.shape[3] as number], g, dy, opts),
      conv2d(x, g, opts),
    ];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/**
 * Conv2DBackpropFilter on the CPU as one 3-D convolution: dW[kh,kw,c,o] = Σ_{n,h,w} x[n, h·sh+kh, w·sw+kw, c] ·
 * dY[n,h,w,o]. x in NCHW, viewed as one volume [1, N, C, H, W] (the batch as the channels, the input channels as a
 * depth the kernel does not span), is correlated with dY as the kernel [O, N, 1, Ho, Wo], the forward stride as
 * the dilation; the output [1, O, C, kh', kw'] is the filter, its extra taps (a non-dividing stride) sliced off.
 * The reduction is the same as the 2-D lowering below (over the batch and the output positions), but ONNX Runtime
 * runs it as one GEMM whose columns are all C·kh·kw filter taps, instead of C GEMMs of kh·kw columns each (25 for
 * the CNN's 5×5 filters, a poor shape for its kernels, whose im2col runs on one thread): on the 2 intra-op threads
 * trainMnist gives the CNN, its second filter gradient took 18.6 ms instead of 38.6 and a whole step 116 ms instead
 * of 142 (docs/performance.md, "Round 8"; on 1 thread 2–5 % of a step, "Round 6"). The sums are grouped
 * differently, so values differ from the 2-D lowering in the last bits (seeded runs stay reproducible). The x
 * transpose is the forward convolution's own (NHWC → NCHW), so ONNX Runtime computes it once.
 */
function emitFilterGradAsVolumeConv(
  b: OnnxGraphBuilder,
  x: string,
  dy: string,
  g: Window2D,
  filterSize: readonly [number, number, number, number],
  output: string,
): void {
  const [kh, kw, C, O] = filterSize;
  const volume = b.op('Reshape', [b.op('Transpose', [x], { perm: NHWC_TO_NCHW }), b.int64s([1, -1, C, g.H, g.W])]);
  const kernel = b.op('Reshape', [b.op('Transpose', [dy], { perm: [3, 0, 1, 2] }), b.int64s([O, -1, 1, g.Ho, g.Wo])]);
  const full = b.op('Conv', [volume, kernel], { dilations: [1, g.sh, g.sw], pads: [0, g.pt, g.pl, 0, g.pb, g.pr] });
  const cut = b.op('Slice', [full, b.int64s([0, 0]), b.int64s([kh, kw]), b.int64s([3, 4])]);
  const oihw = b.op('Reshape', [cut, b.int64s([O, C, kh, kw])]);
  b.op('Transpose', [oihw], { perm: [2, 3, 1, 0] }, output);
}

function normalizeWindow(opName: string, what: string, v: number | readonly number[]): [number, number] {
  let pair: number[];
  if (typeof v === 'number') pair = [v, v];
  else if (v.length === 2) pair = [...v];
  else if (v.length === 4 && v[0] === 1 && v[3] === 1) pair = [v[1] as number, v[2] as number];
  else {
    throw new InvalidArgument(
      `Operation '${opName}': ${what} must be a number, [h, w] or [1, h, w, 1] (NHWC), got [${[v].flat().join(', ')}]`,
    );
  }
  if (!pair.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new InvalidArgument(`Operation '${opName}': ${what} must be positive integers, got [${pair.join(', ')}]`);
  }
  return pair as [number, number];
}

function checkPadding(opName: string, padding: string): Padding {
  if (padding !== 'SAME' && padding !== 'VALID') {
    throw new InvalidArgument(`Operation '${opName}': padding must be 'SAME' or 'VALID', got '${padding}'`);
  }
  return padding;
}

export interface Conv2DOptions {
  /** A number, [sh, sw] or TensorFlow's NHWC [1, sh, sw, 1]; default 1. */
  strides?: number | readonly number[];
  padding: Padding;
  name?: string;
}

/** 2-D convolution (tf.nn.conv2d) of an NHWC input with an HWIO filter; padding as TensorFlow. */
export function conv2d(input: TensorLike, filter: TensorLike, options: Conv2DOptions): Tensor {
  const [x, f] = binaryOperands(input, filter);
  const name = options.name ?? 'Conv2D';
  return x.graph.addOp({
    def: Conv2D,
    inputs: [x, f],
    attrs: {
      strides: normalizeWindow(name, 'strides', options.strides ?? 1),
      padding: checkPadding(name, options.padding),
    },
    name,
  }).output;
}

/** Gradient of conv2d w.r.t. its input (tf.nn.conv2d_backprop_input); `inputSize` = [H, W, Cin]. */
export function conv2dBackpropInput(
  inputSize: readonly [number, number, number],
  filter: Tensor,
  outBackprop: Tensor,
  options: Conv2DOptions,
): Tensor {
  const name = options.name ?? 'Conv2DBackpropInput';
  return filter.graph.addOp({
    def: Conv2DBackpropInput,
    inputs: [filter, outBackprop],
    attrs: {
      strides: normalizeWindow(name, 'strides', options.strides ?? 1),
      padding: checkPadding(name, options.padding),
      inputSize: [...inputSize],
    },
    name,
  }).output;
}

/** Gradient of conv2d w.r.t. its filter (tf.nn.conv2d_backprop_filter); `filterSize` = [kh, kw, Cin, Cout]. */
export function conv2dBackpropFilter(
  input: Tensor,
  filterSize: readonly number[],
  outBackprop: Tensor,
  options: Conv2DOptions,
): Tensor {
  const name = options.name ?? 'Conv2DBackpropFilter';
  return input.graph.addOp({
    def: Conv2DBackpropFilter,
    inputs: [input, outBackprop],
    attrs: {
      strides: normalizeWindow(name, 'strides', options.strides ?? 1),
      padding: checkPadding(name, options.padding),
      filterSize: [...filterSize] as BackpropFilterAttrs['filterSize'],
    },
    name,
  }).output;
}

// ---- pooling -----------------------------------------------------------------------------------------------

interface PoolAttrs {
  ksize: [number, number];
  strides: [number, number];
  padding: Padding;
  [key: string]: unknown;
}

function poolGeometry(opName: string, H: number, W: number, attrs: PoolAttrs): Window2D {
  return windowGeometry(
    opName,
    H,
    W,
    attrs.ksize[0],
    attrs.ksize[1],
    attrs.strides[0],
    attrs.strides[1],
    attrs.padding,
  );
}

function poolInfer(type: string) {
  return ([x]: readonly Tensor[], attrs: PoolAttrs, opName: string) => {
    const t = x as Tensor;
    checkDType(opName, type, t, FLOAT_DTYPES);
    checkRank(opName, t, 4, 'input (NHWC)');
    const g = poolGeometry(opName, staticDim(opName, t, 1, 'height'), staticDim(opName, t, 2, 'width'), attrs);
    return [{ dtype: t.dtype, shape: [t.shape[0] ?? null, g.Ho, g.Wo, t.shape[3] ?? null] }];
  };
}

function poolOnnxAttrs(g: Window2D) {
  return { kernel_shape: [g.kh, g.kw], strides: [g.sh, g.sw], pads: pads(g) };
}

export const MaxPool = defineOp<PoolAttrs>({
  type: 'MaxPool',
  infer: poolInfer('MaxPool'),
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const x = op.inputs[0] as Tensor;
    const g = poolGeometry(op.name, x.shape[1] as number, x.shape[2] as number, attrs);
    // ONNX MaxPool ignores padded cells, as TensorFlow's SAME max pooling does.
    const yn = b.op('MaxPool', [b.op('Transpose', [inputs[0] as string], { perm: NHWC_TO_NCHW })], poolOnnxAttrs(g));
    b.op('Transpose', [yn], { perm: NCHW_TO_NHWC }, outputs[0]);
  },
  grad: ({ op, grads: [dy], attrs }) => {
    if (!dy) return [null];
    const x = op.inputs[0] as Tensor;
    return [x.graph.addOp({ def: MaxPoolGrad, inputs: [x, dy], attrs: { ...attrs }, name: 'MaxPoolGrad' }).output];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/**
 * MaxPoolGrad(x, dY): routes each output gradient to the input cell that won its window (spec §3.4): MaxPool's
 * Indices output (flat NCHW indices) and a ScatterElements add into zeros, or MaxUnpool where windows never overlap.
 * On the GPU (no Indices output there) only for windows that tile the input, by emitTiledMaxPoolGrad.
 */
export const MaxPoolGrad = defineOp<PoolAttrs>({
  type: 'MaxPoolGrad',
  infer: ([x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
  lower: ({ b, op, inputs, outputs, attrs, deviceType }) => {
    const x = op.inputs[0] as Tensor;
    const g = poolGeometry(op.name, x.shape[1] as number, x.shape[2] as number, attrs);
    if (deviceType === 'GPU' && x.dtype === 'float32' && windowsTile(op)) {
      emitTiledMaxPoolGrad(b, inputs[0] as string, inputs[1] as string, g, outputs[0] as string);
      return;
    }
    const xn = b.op('Transpose', [inputs[0] as string], { perm: NHWC_TO_NCHW });
    const [, indices] = b.node('MaxPool', [xn], poolOnnxAttrs(g), 2) as [string, string];
    const dyn = b.op('Transpose', [inputs[1] as string], { perm: NHWC_TO_NCHW });
    if (x.dtype === 'float32' && windowsNeverOverlap(op)) {
      // Each input cell wins at most one window, so the sum is a plain scatter into zeros: ONNX Runtime's MaxUnpool
      // (float32 only) does it in a fraction of ConstantOfShape + ScatterElements' time (CNN, batch 100: 1.5–2.0
      // against 9.6–15.9 ms at load 7; docs/performance.md "Round 7"). The Reshape stops ONNX Runtime from moving the
      // Transpose past the ReLU gradient into the bias gradient's sum, which would then add in NCHW order and change
      // the last bits of seeded runs.
      const shape = b.op('Shape', [xn]);
      const dxn = b.op('Reshape', [b.op('MaxUnpool', [dyn, indices, shape], poolOnnxAttrs(g)), shape]);
      b.op('Transpose', [dxn], { perm: NCHW_TO_NHWC }, outputs[0]);
      return;
    }
    const flatX = b.op('Reshape', [xn, b.int64s([-1])]);
    const zeros = b.op('ConstantOfShape', [b.op('Shape', [flatX])], { value: { tensor: scalarValue(x.dtype, 0) } });
    const scattered = b.op(
      'ScatterElements',
      [zeros, b.op('Reshape', [indices, b.int64s([-1])]), b.op('Reshape', [dyn, b.int64s([-1])])],
      { axis: 0, reduction: 'add' },
    );
    const dxn = b.op('Reshape', [scattered, b.op('Shape', [xn])]);
    b.op('Transpose', [dxn], { perm: NCHW_TO_NHWC }, outputs[0]);
  },
  kernels: CPU_AND_GPU,
  // The CPU lowering scatters dY at MaxPool's int64 Indices, which the WebGPU EP does not run; the GPU lowering
  // (emitTiledMaxPoolGrad) needs windows that tile the input — the usual 2×2 pool with stride 2, as in the CNN.
  kernelConstraints: gpuKernel(
    { T: ['float32'] },
    {
      description: 'windows that tile the input (ksize = strides, dividing height and width)',
      holds: windowsTile,
    },
  ),
});

/** True when no two of a pool's windows share a cell (each window at most as large as its stride). */
function windowsNeverOverlap(op: Operation): boolean {
  const { ksize, strides } = op.attrs as PoolAttrs;
  return ksize[0] <= strides[0] && ksize[1] <= strides[1];
}

/** True when a pool's windows tile its input exactly: no overlap, no padding. */
function windowsTile(op: Operation): boolean {
  const x = op.inputs[0] as Tensor;
  const { ksize, strides } = op.attrs as PoolAttrs;
  const [H, W] = [x.shape[1], x.shape[2]];
  return (
    ksize[0] === strides[0] &&
    ksize[1] === strides[1] &&
    H != null &&
    W != null &&
    H % ksize[0] === 0 &&
    W % ksize[1] === 0
  );
}

/**
 * MaxPoolGrad where the windows tile the input, from ops the WebGPU EP runs: x [N,H,W,C] is regrouped into its
 * windows [N,Ho,Wo,C,K] (K = kh·kw, row-major in the window); the gradient goes to the *first* maximum of each
 * window, as MaxPool's Indices (and TensorFlow) choose it — `first_k = is_max_k · Π_{j<k} (1 − is_max_j)`, so a
 * window of tied zeros after a ReLU passes its gradient to one cell only — then the windows are put back in place.
 */
function emitTiledMaxPoolGrad(b: OnnxGraphBuilder, x: string, dy: string, g: Window2D, output: string): void {
  const K = g.kh * g.kw;
  const blocks = b.op('Reshape', [x, b.int64s([0, g.Ho, g.kh, g.Wo, g.kw, -1])]);
  const windows = b.op('Reshape', [
    b.op('Transpose', [blocks], { perm: [0, 1, 3, 5, 2, 4] }),
    b.int64s([0, 0, 0, 0, K]),
  ]);
  const isMax = b.op('Cast', [b.op('Equal', [windows, b.op('ReduceMax', [windows], { axes: [4], keepdims: 1 })])], {
    to: 1,
  });
  const one = b.scalar(1, 'float32', 'one');
  const firsts: string[] = [];
  let notYet = '';
  for (let k = 0; k < K; k++) {
    const m = b.op('Slice', [isMax, b.int64s([k]), b.int64s([k + 1]), b.int64s([4])]);
    firsts.push(notYet ? b.op('Mul', [m, notYet]) : m);
    const rest = b.op('Sub', [one, m]);
    notYet = notYet ? b.op('Mul', [notYet, rest]) : rest;
  }
  const routed = b.op('Mul', [b.op('Concat', firsts, { axis: 4 }), b.op('Unsqueeze', [dy, b.int64s([4])])]);
  const back = b.op('Transpose', [b.op('Reshape', [routed, b.int64s([0, 0, 0, 0, g.kh, g.kw])])], {
    perm: [0, 1, 4, 2, 5, 3],
  });
  b.op('Reshape', [back, b.int64s([0, g.Ho * g.kh, g.Wo * g.kw, -1])], {}, output);
}

export const AvgPool = defineOp<PoolAttrs>({
  type: 'AvgPool',
  infer: poolInfer('AvgPool'),
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const x = op.inputs[0] as Tensor;
    const g = poolGeometry(op.name, x.shape[1] as number, x.shape[2] as number, attrs);
    if (x.dtype === 'float32') {
      // count_include_pad = 0: SAME windows average only real cells, as TensorFlow.
      const xn = b.op('Transpose', [inputs[0] as string], { perm: NHWC_TO_NCHW });
      const yn = b.op('AveragePool', [xn], { ...poolOnnxAttrs(g), count_include_pad: 0 });
      b.op('Transpose', [yn], { perm: NCHW_TO_NHWC }, outputs[0]);
      return;
    }
    const L = g.Ho * g.Wo;
    const windows = b.op('Reshape', [emitPatches(b, inputs[0] as string, g), b.int64s([0, L, g.kh * g.kw, -1])]);
    const sums = b.op('ReduceSum', [windows, b.int64s([2])], { keepdims: 0 });
    const means = b.op('Mul', [sums, b.constant(inverseCounts(g, x.dtype, [L, 1]), 'inv_counts')]);
    b.op('Reshape', [means, b.int64s([0, g.Ho, g.Wo, -1])], {}, outputs[0]);
  },
  grad: ({ op, grads: [dy], attrs }) => {
    if (!dy) return [null];
    const x = op.inputs[0] as Tensor;
    return [avgPoolGrad(dy, [x.shape[1] as number, x.shape[2] as number], attrs)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

interface AvgPoolGradAttrs extends PoolAttrs {
  /** [H, W] of the forward input. */
  inputSize: [number, number];
}

/**
 * AvgPoolGrad(dY): spreads each output gradient evenly over the real cells of its window. float32: dY ÷ window
 * count, then a ConvTranspose with a ones kernel on [N·C, 1, Ho, Wo]; float64: the im2col adjoint.
 */
export const AvgPoolGrad = defineOp<AvgPoolGradAttrs>({
  type: 'AvgPoolGrad',
  infer: ([dy], attrs) => {
    const d = dy as Tensor;
    return [
      { dtype: d.dtype, shape: [d.shape[0] ?? null, attrs.inputSize[0], attrs.inputSize[1], d.shape[3] ?? null] },
    ];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const dtype = (op.inputs[0] as Tensor).dtype;
    const [H, W] = attrs.inputSize;
    const g = poolGeometry(op.name, H, W, attrs);
    const dy = inputs[0] as string;
    if (dtype === 'float32') {
      const dyn = b.op('Transpose', [dy], { perm: NHWC_TO_NCHW });
      const scaled = b.op('Mul', [dyn, b.constant(inverseCounts(g, dtype, [g.Ho, g.Wo]), 'inv_counts')]);
      const planes = b.op('Reshape', [scaled, b.int64s([-1, 1, g.Ho, g.Wo])]);
      const ones = b.constant(HostTensor.from(dtype, Array<number>(g.kh * g.kw).fill(1), [1, 1, g.kh, g.kw]), 'ones');
      const outPad = [H - ((g.Ho - 1) * g.sh + g.kh - g.pt - g.pb), W - ((g.Wo - 1) * g.sw + g.kw - g.pl - g.pr)];
      const spread = b.op('ConvTranspose', [planes, ones], { ...poolOnnxAttrs(g), output_padding: outPad });
      const nc = b.op('Slice', [b.op('Shape', [dyn]), b.int64s([0]), b.int64s([2])]);
      const dxn = b.op('Reshape', [spread, b.op('Concat', [nc, b.int64s([H, W])], { axis: 0 })]);
      b.op('Transpose', [dxn], { perm: NCHW_TO_NHWC }, outputs[0]);
      return;
    }
    const L = g.Ho * g.Wo;
    const KK = g.kh * g.kw;
    const scaled = b.op('Mul', [
      b.op('Reshape', [dy, b.int64s([0, L, 1, -1])]),
      b.constant(inverseCounts(g, dtype, [L, 1, 1]), 'inv_counts'),
    ]);
    const spread = b.op('Expand', [scaled, b.int64s([1, 1, KK, 1])]);
    emitCol2Im(b, b.op('Reshape', [spread, b.int64s([0, L * KK, -1])]), g, dtype, outputs[0]);
  },
  grad: ({ op, grads: [g], attrs }) => {
    if (!g) return [null];
    return [
      avgPool(g, { ksize: attrs.ksize, strides: attrs.strides, padding: attrs.padding, name: `${op.name}_grad` }),
    ];
  },
  kernels: CPU_AND_GPU,
  // An unknown batch makes the planes' shape int64 arithmetic (Shape, Slice, Concat).
  kernelConstraints: gpuKernel({ T: ['float32'] }, staticShapes()),
});

function avgPoolGrad(dy: Tensor, inputSize: [number, number], attrs: PoolAttrs): Tensor {
  return dy.graph.addOp({
    def: AvgPoolGrad,
    inputs: [dy],
    attrs: { ksize: attrs.ksize, strides: attrs.strides, padding: attrs.padding, inputSize },
    name: 'AvgPoolGrad',
  }).output;
}

export interface PoolOptions {
  /** Window: a number, [kh, kw] or TensorFlow's NHWC [1, kh, kw, 1]. */
  ksize: number | readonly number[];
  /** A number, [sh, sw] or [1, sh, sw, 1]. */
  strides: number | readonly number[];
  padding: Padding;
  name?: string;
}

function pool(def: OpDef<PoolAttrs>, defaultName: string) {
  return (value: TensorLike, options: PoolOptions): Tensor => {
    const x = toTensor(value, graphOf(value));
    const name = options.name ?? defaultName;
    return x.graph.addOp({
      def: def,
      inputs: [x],
      attrs: {
        ksize: normalizeWindow(name, 'ksize', options.ksize),
        strides: normalizeWindow(name, 'strides', options.strides),
        padding: checkPadding(name, options.padding),
      },
      name,
    }).output;
  };
}

/** Max pooling over NHWC input (tf.nn.max_pool). */
export const maxPool = pool(MaxPool, 'MaxPool');
/** Average pooling over NHWC input (tf.nn.avg_pool); SAME windows average only real cells. */
export const avgPool = pool(AvgPool, 'AvgPool');

// ---- BiasAdd -----------------------------------------------------------------------------------------------

export const BiasAdd = defineOp({
  type: 'BiasAdd',
  infer: ([value, bias], _attrs, opName) => {
    const [v, b] = [value as Tensor, bias as Tensor];
    checkDType(opName, 'BiasAdd', v, ['float32', 'float64', 'int32', 'int64']);
    if (v.dtype !== b.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}': value and bias must have the same dtype, got ${v.dtype} and ${b.dtype}`,
      );
    }
    if (v.rank < 1 || b.rank !== 1 || !dimsCompatible(v.shape[v.rank - 1] ?? null, b.shape[0] ?? null)) {
      throw new InvalidArgument(
        `Operation '${opName}' (BiasAdd): bias must be 1-D and match the last dimension of value, got value shape ${formatShape(v.shape)} and bias shape ${formatShape(b.shape)}`,
      );
    }
    return [{ dtype: v.dtype, shape: v.shape }];
  },
  lower: ({ b, inputs, outputs }) => {
    b.op('Add', [inputs[0] as string, inputs[1] as string], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const rank = (op.inputs[0] as Tensor).rank;
    return [g, reduceSum(g, [...Array(rank - 1).keys()], { name: 'BiasAddGrad' })];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

/** Adds a 1-D bias along the last axis (tf.nn.bias_add, NHWC). */
export function biasAdd(value: TensorLike, bias: TensorLike, options: { name?: string } = {}): Tensor {
  const [v, b] = binaryOperands(value, bias);
  return v.graph.addOp({ def: BiasAdd, inputs: [v, b], name: options.name ?? 'BiasAdd' }).output;
}
