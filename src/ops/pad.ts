/**
 * Pad, PadV2 and MirrorPad (tf.pad): `paddings` is an int [rank, 2] input ([before, after] per axis), as in
 * TensorFlow; when it is a constant the output shape is static and the ONNX pads are a constant too, otherwise
 * they are computed at run time (Transpose → Reshape → Cast to int64).
 * MirrorPad REFLECT maps onto ONNX Pad's 'reflect'; SYMMETRIC (which repeats the edge) has no ONNX mode and is
 * built from reversed Slices and a Concat per axis, so its paddings must be constant.
 */
import { InvalidArgument } from '../errors.js';
import { dtypeInfo } from '../graph/dtype.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { formatShape, type Dim } from '../graph/shape.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { constant, graphOf, toTensor, type TensorLike } from './convert.js';
import { constValue, slice } from './array.js';
import { CPU_AND_GPU, gpuKernel } from './kernels.js';

/** The largest negative `ends` for a reversed ONNX Slice: clamped to "before index 0". */
const SLICE_BEFORE_START = Number.MIN_SAFE_INTEGER;

type MirrorMode = 'REFLECT' | 'SYMMETRIC';

/** Constant paddings as [before, after] pairs, or undefined when they are only known at run time. */
function constPaddings(paddings: Tensor): [number, number][] | undefined {
  const v = constValue(paddings)?.toNumbers();
  if (!v) return undefined;
  return Array.from({ length: v.length / 2 }, (_, i) => [v[2 * i] as number, v[2 * i + 1] as number]);
}

function checkPaddings(opName: string, type: string, x: Tensor, paddings: Tensor, mode?: MirrorMode): Dim[] {
  if (paddings.dtype !== 'int32' && paddings.dtype !== 'int64') {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): paddings must be int32 or int64, got ${paddings.dtype}`,
    );
  }
  const [rows, cols] = paddings.shape;
  if (paddings.rank !== 2 || (rows !== null && rows !== x.rank) || (cols !== null && cols !== 2)) {
    throw new InvalidArgument(
      `The first dimension of paddings must be the rank of inputs[${x.rank},2], got paddings shape ${formatShape(paddings.shape)} for '${opName}' (op: '${type}') with input shape ${formatShape(x.shape)}`,
    );
  }
  const pairs = constPaddings(paddings);
  if (!pairs) return x.shape.map(() => null);
  return x.shape.map((d, i) => {
    const [before, after] = pairs[i] as [number, number];
    if (before < 0 || after < 0) {
      throw new InvalidArgument(
        `Operation '${opName}' (${type}): paddings must be non-negative: ${before} ${after} for dimension ${i}`,
      );
    }
    if (mode && d !== null) {
      // TensorFlow: REFLECT pads at most dim − 1 (the edge is not repeated), SYMMETRIC at most dim.
      const limit = mode === 'REFLECT' ? d - 1 : d;
      if (before > limit || after > limit) {
        throw new InvalidArgument(
          `Operation '${opName}' (MirrorPad): paddings must be no greater than the dimension size${mode === 'REFLECT' ? ' minus 1' : ''}: ${before}, ${after} greater than ${limit} for dimension ${i} of input shape ${formatShape(x.shape)}`,
        );
      }
    }
    return d === null ? null : d + before + after;
  });
}

/** ONNX pads [b0 … bn, a0 … an] from TensorFlow paddings [[b0, a0], …]. */
function onnxPads(b: OnnxGraphBuilder, paddings: Tensor, name: string): string {
  const pairs = constPaddings(paddings);
  if (pairs) return b.int64s([...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])], 'pads');
  const flat = b.op('Reshape', [b.op('Transpose', [name], { perm: [1, 0] }), b.int64s([-1])]);
  return paddings.dtype === 'int64' ? flat : b.op('Cast', [flat], { to: dtypeInfo('int64').onnx });
}

/** Gradient of a constant-padding Pad: the slice of dY that lies over x. */
function padGrad(op: { inputs: readonly Tensor[]; name: string }, g: Tensor): Tensor {
  const [x, paddings] = op.inputs as [Tensor, Tensor];
  const pairs = constPaddings(paddings);
  if (!pairs) {
    throw new InvalidArgument(`Operation '${op.name}': the gradient of Pad needs constant paddings`);
  }
  const size = x.shape.map((d, i) => {
    if (d !== null) return d;
    if ((pairs[i] as [number, number])[1] === 0) return -1;
    throw new InvalidArgument(
      `Operation '${op.name}': the gradient of Pad needs a known dimension ${i} (input shape ${formatShape(x.shape)})`,
    );
  });
  return slice(
    g,
    pairs.map((p) => p[0]),
    size,
  );
}

const constantPaddings = {
  description: 'constant paddings',
  holds: (op: { inputs: readonly Tensor[] }) => constValue(op.inputs[1] as Tensor) !== undefined,
};

export const Pad = defineOp({
  type: 'Pad',
  infer: ([x, paddings], _attrs, opName) => [
    { dtype: (x as Tensor).dtype, shape: checkPaddings(opName, 'Pad', x as Tensor, paddings as Tensor) },
  ],
  lower: ({ b, op, inputs, outputs }) => {
    const pads = onnxPads(b, op.inputs[1] as Tensor, inputs[1] as string);
    b.op('Pad', [inputs[0] as string, pads], { mode: 'constant' }, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => [g ? padGrad(op, g) : null, null],
  typeAttrs: (op) => ({ T: op.output.dtype, Tpaddings: (op.inputs[1] as Tensor).dtype }),
  kernels: CPU_AND_GPU,
  // The constant-mode Pad of SliceGrad runs on the WebGPU EP with static int64 pads; run-time pads do not.
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'] }, constantPaddings),
});

/** PadV2: Pad with `constant_values` (a scalar input of x's dtype) instead of zeros. */
export const PadV2 = defineOp({
  type: 'PadV2',
  infer: ([x, paddings, value], _attrs, opName) => {
    const [t, v] = [x as Tensor, value as Tensor];
    if (v.rank !== 0 || v.dtype !== t.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}' (PadV2): constant_values must be a ${t.dtype} scalar, got ${v.dtype} of shape ${formatShape(v.shape)}`,
      );
    }
    return [{ dtype: t.dtype, shape: checkPaddings(opName, 'PadV2', t, paddings as Tensor) }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const pads = onnxPads(b, op.inputs[1] as Tensor, inputs[1] as string);
    b.op('Pad', [inputs[0] as string, pads, inputs[2] as string], { mode: 'constant' }, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => [g ? padGrad(op, g) : null, null, null],
  typeAttrs: (op) => ({ T: op.output.dtype, Tpaddings: (op.inputs[1] as Tensor).dtype }),
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'] }, constantPaddings),
});

/** Mirrors `before`/`after` cells of one axis; SYMMETRIC includes the edge cell, REFLECT skips it. */
function emitSymmetricAxis(b: OnnxGraphBuilder, x: string, axis: number, before: number, after: number): string {
  const parts: string[] = [];
  const reversed = (start: number, end: number) =>
    b.op('Slice', [x, b.int64s([start]), b.int64s([end]), b.int64s([axis]), b.int64s([-1])]);
  // x[before-1 … 0] and x[dim-1 … dim-after], read backwards.
  if (before > 0) parts.push(reversed(before - 1, SLICE_BEFORE_START));
  parts.push(x);
  if (after > 0) parts.push(reversed(-1, -1 - after));
  return parts.length === 1 ? x : b.op('Concat', parts, { axis });
}

/** MirrorPad's GPU kernel: REFLECT mode only. */
const reflectMode = {
  description: 'mode REFLECT',
  holds: (op: { attrs: Readonly<Record<string, unknown>> }) => op.attrs.mode === 'REFLECT',
};

export const MirrorPad = defineOp<{ mode: MirrorMode }>({
  type: 'MirrorPad',
  infer: ([x, paddings], { mode }, opName) => {
    if (mode !== 'REFLECT' && mode !== 'SYMMETRIC') {
      throw new InvalidArgument(`Operation '${opName}' (MirrorPad): mode must be REFLECT or SYMMETRIC, got ${mode}`);
    }
    const p = paddings as Tensor;
    if (mode === 'SYMMETRIC' && !constValue(p)) {
      throw new InvalidArgument(
        `Operation '${opName}' (MirrorPad): SYMMETRIC mode needs constant paddings, but '${p.name}' is computed at run time`,
      );
    }
    return [{ dtype: (x as Tensor).dtype, shape: checkPaddings(opName, 'MirrorPad', x as Tensor, p, mode) }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const paddings = op.inputs[1] as Tensor;
    if (attrs.mode === 'REFLECT') {
      b.op('Pad', [inputs[0] as string, onnxPads(b, paddings, inputs[1] as string)], { mode: 'reflect' }, outputs[0]);
      return;
    }
    let y = inputs[0] as string;
    (constPaddings(paddings) ?? []).forEach(([before, after], axis) => {
      y = emitSymmetricAxis(b, y, axis, before, after);
    });
    b.op('Identity', [y], {}, outputs[0]);
  },
  typeAttrs: (op) => ({ T: op.output.dtype, Tpaddings: (op.inputs[1] as Tensor).dtype }),
  // REFLECT is one ONNX Pad (reflect mode), which the WebGPU EP runs in float32 and int32, paddings fed or not.
  // SYMMETRIC's reversed Slices (start -1, step -1) gave other numbers than the CPU EP there (kernel survey, on
  // lavapipe and on an H200): CPU only.
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32'] }, reflectMode),
});

/** A paddings operand: tensors pass through, [[before, after], …] becomes an int32 constant. */
function paddingsOperand(x: Tensor, paddings: readonly (readonly number[])[] | Tensor): Tensor {
  if (!Array.isArray(paddings)) return paddings as Tensor;
  const rows = paddings as readonly (readonly number[])[];
  return constant(
    rows.map((r) => [...r]),
    { graph: x.graph, dtype: 'int32', name: 'paddings' },
  );
}

export interface PadOptions {
  /** 'CONSTANT' (default), 'REFLECT' or 'SYMMETRIC', as tf.pad's mode. */
  mode?: 'CONSTANT' | MirrorMode;
  /** The fill value of CONSTANT mode (default 0). */
  constantValue?: number;
  name?: string;
}

/** Pads `x` with [before, after] cells per axis (tf.pad). */
export function pad(
  x: TensorLike,
  paddings: readonly (readonly number[])[] | Tensor,
  options: PadOptions = {},
): Tensor {
  const t = toTensor(x, graphOf(x));
  const p = paddingsOperand(t, paddings);
  const mode = options.mode ?? 'CONSTANT';
  if (mode !== 'CONSTANT') {
    return t.graph.addOp({ def: MirrorPad, inputs: [t, p], attrs: { mode }, name: options.name ?? 'MirrorPad' }).output;
  }
  if (options.constantValue === undefined || options.constantValue === 0) {
    return t.graph.addOp({ def: Pad, inputs: [t, p], name: options.name ?? 'Pad' }).output;
  }
  const value = constant(options.constantValue, { graph: t.graph, dtype: t.dtype, name: 'constant_values' });
  return t.graph.addOp({ def: PadV2, inputs: [t, p, value], name: options.name ?? 'PadV2' }).output;
}
