/**
 * ResizeBilinear and ResizeNearestNeighbor (tf.compat.v1.image.resize_*): NHWC images and a constant int32
 * `size` input [new_height, new_width]. TensorFlow's align_corners / half_pixel_centers pick ONNX Resize's
 * coordinate_transformation_mode (align_corners / half_pixel / asymmetric). Nearest rounds as TensorFlow's
 * kernel does: floor of the source coordinate, except with align_corners (roundf) and half_pixel_centers
 * (floor of (x + 0.5)·scale, which is ONNX's half_pixel coordinate rounded with round_prefer_ceil).
 * ResizeBilinear always outputs float32, as in TensorFlow; ResizeNearestNeighbor keeps the input's dtype.
 */
import { InvalidArgument } from '../errors.js';
import { dtypeInfo } from '../graph/dtype.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp, type LowerContext } from '../graph/op-def.js';
import { formatShape, type Dim } from '../graph/shape.js';
import { constant, graphOf, toTensor, type TensorLike } from './convert.js';
import { constValue } from './array.js';
import { CPU_AND_GPU, CPU_ONLY, gpuKernel, staticShapes } from './kernels.js';

export interface ResizeAttrs {
  align_corners?: boolean;
  half_pixel_centers?: boolean;
}

/** The constant [height, width] of a resize op; TensorFlow's checks and messages. */
function outputSize(opName: string, type: string, images: Tensor, size: Tensor, attrs: ResizeAttrs): [number, number] {
  if (images.rank !== 4) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): input must be 4-dimensional (NHWC), got shape ${formatShape(images.shape)}`,
    );
  }
  if (size.dtype !== 'int32' || size.rank !== 1 || (size.shape[0] !== null && size.shape[0] !== 2)) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): size must be an int32 vector of 2 elements [new_height, new_width], got ${size.dtype} of shape ${formatShape(size.shape)}`,
    );
  }
  if (attrs.align_corners === true && attrs.half_pixel_centers === true) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): If half_pixel_centers is True, align_corners must be False.`,
    );
  }
  const v = constValue(size)?.toNumbers();
  if (!v) {
    throw new InvalidArgument(
      `Operation '${opName}' (${type}): size must be a constant for flowserve, but '${size.name}' is computed at run time`,
    );
  }
  const [h, w] = v as [number, number];
  if (h <= 0 || w <= 0) {
    throw new InvalidArgument(`Operation '${opName}' (${type}): output dimensions must be positive, got [${h}, ${w}]`);
  }
  return [h, w];
}

function outputShape(images: Tensor, [h, w]: [number, number]): Dim[] {
  return [images.shape[0] ?? null, h, w, images.shape[3] ?? null];
}

function coordinateMode(attrs: ResizeAttrs): string {
  if (attrs.align_corners === true) return 'align_corners';
  return attrs.half_pixel_centers === true ? 'half_pixel' : 'asymmetric';
}

/**
 * ONNX Resize on the NHWC input with sizes [N, h, w, C] (N and C read at run time, so an unknown batch works);
 * `x` is the ONNX value to resize.
 */
function emitResize(ctx: LowerContext & { attrs: ResizeAttrs }, x: string, mode: string, output: string): void {
  const { b, op, attrs } = ctx;
  const images = op.inputs[0] as Tensor;
  const [h, w] = outputSize(op.name, op.type, images, op.inputs[1] as Tensor, attrs);
  const dims = b.op('Shape', [x]);
  const pick = (i: number) => b.op('Slice', [dims, b.int64s([i]), b.int64s([i + 1])]);
  const sizes = b.op('Concat', [pick(0), b.int64s([h, w]), pick(3)], { axis: 0 });
  b.op(
    'Resize',
    [x, '', '', sizes],
    {
      mode,
      coordinate_transformation_mode: coordinateMode(attrs),
      // TensorFlow rounds half up (roundf on non-negative coordinates) where it rounds; else it floors.
      ...(mode === 'nearest'
        ? {
            nearest_mode:
              attrs.align_corners === true || attrs.half_pixel_centers === true ? 'round_prefer_ceil' : 'floor',
          }
        : {}),
    },
    output,
  );
}

/** The dtypes ONNX Runtime's CPU Resize kernel takes (float, int32, int8, uint8 among flowserve's). */
const RESIZE_DTYPES: ReadonlySet<string> = new Set(['float32', 'int32', 'uint8']);

/**
 * TensorFlow's nearest source index per output index (resize_nearest_neighbor_op.cc), in float32 as its kernel
 * computes it: floor(x·scale), roundf(x·scale) with align_corners, floor((x + 0.5)·scale) with half pixel centers.
 */
function nearestSources(inSize: number, outSize: number, attrs: ResizeAttrs): number[] {
  const align = attrs.align_corners === true;
  const half = attrs.half_pixel_centers === true;
  const scale = Math.fround(align && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize);
  return Array.from({ length: outSize }, (_, i) => {
    const v = Math.fround((half ? i + 0.5 : i) * scale);
    return Math.max(0, Math.min(align ? Math.round(v) : Math.floor(v), inSize - 1));
  });
}

export const ResizeBilinear = defineOp<ResizeAttrs>({
  type: 'ResizeBilinear',
  infer: ([images, size], attrs, opName) => {
    const t = images as Tensor;
    if (!RESIZE_DTYPES.has(t.dtype) && (t.shape[1] === null || t.shape[2] === null)) {
      throw new InvalidArgument(
        `Operation '${opName}' (ResizeNearestNeighbor): ${t.dtype} images need a known height and width, got shape ${formatShape(t.shape)}`,
      );
    }
    return [
      { dtype: 'float32', shape: outputShape(t, outputSize(opName, 'ResizeBilinear', t, size as Tensor, attrs)) },
    ];
  },
  lower: (ctx) => {
    const images = ctx.op.inputs[0] as Tensor;
    const x =
      images.dtype === 'float32'
        ? (ctx.inputs[0] as string)
        : ctx.b.op('Cast', [ctx.inputs[0] as string], { to: dtypeInfo('float32').onnx });
    emitResize(ctx, x, 'linear', ctx.outputs[0] as string);
  },
  typeAttrs: (op) => ({ T: (op.inputs[0] as Tensor).dtype }),
  kernels: CPU_ONLY,
});

export const ResizeNearestNeighbor = defineOp<ResizeAttrs>({
  type: 'ResizeNearestNeighbor',
  infer: ([images, size], attrs, opName) => {
    const t = images as Tensor;
    if (!RESIZE_DTYPES.has(t.dtype) && (t.shape[1] === null || t.shape[2] === null)) {
      throw new InvalidArgument(
        `Operation '${opName}' (ResizeNearestNeighbor): ${t.dtype} images need a known height and width, got shape ${formatShape(t.shape)}`,
      );
    }
    return [
      {
        dtype: t.dtype,
        shape: outputShape(t, outputSize(opName, 'ResizeNearestNeighbor', t, size as Tensor, attrs)),
      },
    ];
  },
  lower: (ctx) => {
    const images = ctx.op.inputs[0] as Tensor;
    const [, h, w] = images.shape;
    if (RESIZE_DTYPES.has(images.dtype) || h === null || w === null) {
      emitResize(ctx, ctx.inputs[0] as string, 'nearest', ctx.outputs[0] as string);
      return;
    }
    // ONNX Runtime's Resize has no float64/int64/bool/string kernel; nearest is a pure gather of rows and columns.
    const size = outputSize(ctx.op.name, ctx.op.type, images, ctx.op.inputs[1] as Tensor, ctx.attrs);
    const rows = ctx.b.int64s(nearestSources(h as number, size[0], ctx.attrs));
    const cols = ctx.b.int64s(nearestSources(w as number, size[1], ctx.attrs));
    const picked = ctx.b.op('Gather', [ctx.inputs[0] as string, rows], { axis: 1 });
    ctx.b.op('Gather', [picked, cols], { axis: 2 }, ctx.outputs[0]);
  },
  // Resize (float32, int32) and the two Gathers (bool) run on the WebGPU EP in every coordinate mode; with an unknown
  // dim, Resize's output size is int64 shape arithmetic, which it does not run (kernel survey).
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32', 'int32', 'bool'] }, staticShapes([0], 'a static images shape')),
});

/** tf.compat.v1.image.resize_bilinear / resize_nearest_neighbor on NHWC `images`, to [height, width]. */
export function resizeImages(
  images: TensorLike,
  size: readonly [number, number],
  options: ResizeAttrs & { method?: 'bilinear' | 'nearest'; name?: string } = {},
): Tensor {
  const t = toTensor(images, graphOf(images));
  const { method = 'bilinear', name, ...attrs } = options;
  const def = method === 'bilinear' ? ResizeBilinear : ResizeNearestNeighbor;
  const s = constant([...size], { graph: t.graph, dtype: 'int32', shape: [2], name: 'size' });
  return t.graph.addOp({ def, inputs: [t, s], attrs, name: name ?? def.type }).output;
}
