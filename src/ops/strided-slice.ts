/**
 * StridedSlice (tf.strided_slice, the op behind Python's `x[1:, ..., ::-1, tf.newaxis, 0]`): begin, end and
 * strides are int inputs, which must be constants here, and five bit masks say how each entry of that sparse
 * spec applies. The spec is resolved as TensorFlow's ValidateStridedSliceOp does — into one dense
 * (begin, end, stride) per input axis plus where new axes go and which axes are dropped — and lowered to one
 * ONNX Slice, a Squeeze for shrink_axis_mask and an Unsqueeze for new_axis_mask.
 */
import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { formatShape, type Dim } from '../graph/shape.js';
import { constant, graphOf, toTensor, type TensorLike } from './convert.js';
import { constValue } from './array.js';
import { CPU_AND_GPU, GPU_F32 } from './kernels.js';

/** ONNX Slice clamps `ends` to the dimension: these mean "past the end" and "before index 0" (negative steps). */
const SLICE_TO_END = Number.MAX_SAFE_INTEGER;
const SLICE_BEFORE_START = Number.MIN_SAFE_INTEGER;

export interface StridedSliceAttrs {
  begin_mask?: number;
  end_mask?: number;
  ellipsis_mask?: number;
  new_axis_mask?: number;
  shrink_axis_mask?: number;
}

/** One input axis of the dense spec. */
interface DenseAxis {
  begin: number;
  end: number;
  stride: number;
  beginMasked: boolean;
  endMasked: boolean;
  shrink: boolean;
}

/** The resolved slice: one entry per input axis, and the output's axes as input axis indexes or 'new'. */
interface ResolvedSlice {
  axes: DenseAxis[];
  /** Per output axis: the input axis it comes from, or 'new' for a new_axis_mask entry. */
  outputAxes: (number | 'new')[];
}

const bit = (mask: number | undefined, i: number) => ((mask ?? 0) & (1 << i)) !== 0;

function specValues(opName: string, t: Tensor, what: string): number[] {
  if (t.dtype !== 'int32' && t.dtype !== 'int64') {
    throw new InvalidArgument(`Operation '${opName}' (StridedSlice): ${what} must be int32 or int64, got ${t.dtype}`);
  }
  if (t.rank !== 1) {
    throw new InvalidArgument(
      `Operation '${opName}' (StridedSlice): ${what} must be 1-D, got shape ${formatShape(t.shape)}`,
    );
  }
  const v = constValue(t)?.toNumbers();
  if (!v) {
    throw new InvalidArgument(
      `Operation '${opName}' (StridedSlice): ${what} must be a constant for flowserve, but '${t.name}' is computed at run time`,
    );
  }
  return v;
}

/** TensorFlow's sparse → dense spec expansion (an implicit trailing ellipsis when none is given). */
function resolve(opName: string, rank: number, spec: number[][], attrs: StridedSliceAttrs): ResolvedSlice {
  const [begin, end, strides] = spec as [number[], number[], number[]];
  if (begin.length !== end.length || begin.length !== strides.length) {
    throw new InvalidArgument(
      `Operation '${opName}' (StridedSlice): Expected begin, end, and strides to be 1D equal size tensors, but got shapes [${begin.length}], [${end.length}], and [${strides.length}] instead.`,
    );
  }
  let n = begin.length;
  // The masks are int32 bit sets (as in TensorFlow), so a spec has at most 31 entries plus the implicit ellipsis.
  if (n > 31) {
    throw new InvalidArgument(`Operation '${opName}' (StridedSlice): a slice spec has at most 31 entries, got ${n}`);
  }
  let ellipsis = attrs.ellipsis_mask ?? 0;
  if ((ellipsis & (ellipsis - 1)) !== 0) {
    throw new InvalidArgument(`Operation '${opName}' (StridedSlice): Multiple ellipses in slice spec not allowed`);
  }
  if (ellipsis === 0) {
    ellipsis = 1 << n;
    n++;
  }
  const ellipsisAt = Math.log2(ellipsis);
  let newAxesAfterEllipsis = 0;
  for (let i = ellipsisAt + 1; i < n; i++) if (bit(attrs.new_axis_mask, i)) newAxesAfterEllipsis++;

  const axes: DenseAxis[] = [];
  const outputAxes: (number | 'new' | 'shrink')[] = [];
  for (let i = 0; i < n; i++) {
    if (i === ellipsisAt) {
      const next = Math.min(rank - (n - i) + 1 + newAxesAfterEllipsis, rank);
      while (axes.length < next) {
        outputAxes.push(axes.length);
        axes.push({ begin: 0, end: 0, stride: 1, beginMasked: true, endMasked: true, shrink: false });
      }
    } else if (bit(attrs.new_axis_mask, i)) {
      outputAxes.push('new');
    } else {
      if (axes.length === rank) {
        throw new InvalidArgument(
          `Operation '${opName}' (StridedSlice): Index out of range using input dim ${axes.length}; input has only ${rank} dims`,
        );
      }
      const stride = strides[i] as number;
      if (stride === 0) {
        throw new InvalidArgument(`Operation '${opName}' (StridedSlice): strides[${i}] must be non-zero`);
      }
      const shrink = bit(attrs.shrink_axis_mask, i);
      if (shrink && stride <= 0) {
        throw new InvalidArgument(`Operation '${opName}' (StridedSlice): only stride 1 allowed on non-range indexing.`);
      }
      outputAxes.push(shrink ? 'shrink' : axes.length);
      axes.push({
        begin: begin[i] as number,
        end: end[i] as number,
        stride,
        beginMasked: bit(attrs.begin_mask, i),
        endMasked: bit(attrs.end_mask, i),
        shrink,
      });
    }
  }
  // Input axes past the spec (only when an explicit ellipsis came last and covered fewer): taken whole.
  while (axes.length < rank) {
    outputAxes.push(axes.length);
    axes.push({ begin: 0, end: 0, stride: 1, beginMasked: true, endMasked: true, shrink: false });
  }
  return { axes, outputAxes: outputAxes.filter((a): a is number | 'new' => a !== 'shrink') };
}

/** Begin and end of one axis of known size, canonicalised and clamped as TensorFlow does; and its length. */
function canonical(a: DenseAxis, dim: number, opName: string, axis: number): { begin: number; size: number } {
  if (a.shrink) {
    const at = a.begin < 0 ? dim + a.begin : a.begin;
    if (at < 0 || at >= dim) {
      throw new InvalidArgument(
        `Operation '${opName}' (StridedSlice): slice index ${a.begin} of dimension ${axis} out of bounds.`,
      );
    }
    return { begin: at, size: 1 };
  }
  const [lo, hi] = a.stride > 0 ? [0, dim] : [-1, dim - 1];
  const place = (x: number, masked: boolean, isEnd: boolean) => {
    if (masked) return a.stride > 0 !== isEnd ? lo : hi;
    const fwd = x < 0 ? dim + x : x;
    return Math.min(Math.max(fwd, lo), hi);
  };
  const begin = place(a.begin, a.beginMasked, false);
  const end = place(a.end, a.endMasked, true);
  const length = end - begin;
  if (length === 0 || length < 0 !== a.stride < 0) return { begin, size: 0 };
  return { begin, size: Math.ceil(length / a.stride) };
}

function processedDims(opName: string, x: Tensor, r: ResolvedSlice): Dim[] {
  return r.axes.map((a, i) => {
    const d = x.shape[i] ?? null;
    if (d === null) return a.shrink ? 1 : null;
    return canonical(a, d, opName, i).size;
  });
}

export const StridedSlice = defineOp<StridedSliceAttrs>({
  type: 'StridedSlice',
  infer: ([x, begin, end, strides], attrs, opName) => {
    const t = x as Tensor;
    const spec = [begin, end, strides].map((s, i) =>
      specValues(opName, s as Tensor, ['begin', 'end', 'strides'][i] as string),
    );
    const r = resolve(opName, t.rank, spec, attrs);
    const dims = processedDims(opName, t, r);
    return [{ dtype: t.dtype, shape: r.outputAxes.map((a) => (a === 'new' ? 1 : (dims[a] as Dim))) }];
  },
  lower: ({ b, op, inputs, outputs, attrs }) => {
    const x = op.inputs[0] as Tensor;
    const spec = op.inputs.slice(1).map((s) => constValue(s)?.toNumbers() ?? []);
    const r = resolve(op.name, x.rank, spec, attrs);
    const starts: number[] = [];
    const ends: number[] = [];
    const steps: number[] = [];
    r.axes.forEach((a, i) => {
      const d = x.shape[i] ?? null;
      if (d !== null) {
        // Known size: exact start and end, so ONNX's own clamping (which differs from TF's) never applies.
        const { begin, size } = canonical(a, d, op.name, i);
        const stride = a.shrink ? 1 : a.stride;
        const end = begin + size * stride;
        starts.push(size === 0 ? 0 : begin);
        ends.push(size === 0 ? 0 : end < 0 ? SLICE_BEFORE_START : end);
        steps.push(size === 0 ? 1 : stride);
        return;
      }
      if (a.shrink) {
        starts.push(a.begin);
        ends.push(a.begin === -1 ? SLICE_TO_END : a.begin + 1);
        steps.push(1);
        return;
      }
      const forward = a.stride > 0;
      starts.push(a.beginMasked ? (forward ? 0 : SLICE_TO_END) : a.begin);
      ends.push(a.endMasked ? (forward ? SLICE_TO_END : SLICE_BEFORE_START) : a.end);
      steps.push(a.stride);
    });
    const axes = r.axes.map((_, i) => i);
    let y = b.op('Slice', [inputs[0] as string, b.int64s(starts), b.int64s(ends), b.int64s(axes), b.int64s(steps)]);
    const shrunk = r.axes.flatMap((a, i) => (a.shrink ? [i] : []));
    if (shrunk.length) y = b.op('Squeeze', [y, b.int64s(shrunk)]);
    const added = r.outputAxes.flatMap((a, i) => (a === 'new' ? [i] : []));
    if (added.length) y = b.op('Unsqueeze', [y, b.int64s(added)]);
    b.op('Identity', [y], {}, outputs[0]);
  },
  typeAttrs: (op) => ({ T: op.output.dtype, Index: (op.inputs[1] as Tensor).dtype }),
  // One Slice (with Squeeze/Unsqueeze for the masks): the WebGPU EP runs it in float32, negative strides and unknown
  // dims included (kernel survey); its Slice has no int32 kernel.
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

/** tf.strided_slice: `begin`, `end` and `strides` as arrays (int32 constants) and TensorFlow's five masks. */
export function stridedSlice(
  x: TensorLike,
  begin: readonly number[],
  end: readonly number[],
  strides: readonly number[],
  masks: StridedSliceAttrs & { name?: string } = {},
): Tensor {
  const t = toTensor(x, graphOf(x));
  const { name, ...attrs } = masks;
  const spec = [begin, end, strides].map((v, i) =>
    constant([...v], {
      graph: t.graph,
      dtype: 'int32',
      shape: [v.length],
      name: ['begin', 'end', 'strides'][i] as string,
    }),
  );
  return t.graph.addOp({ def: StridedSlice, inputs: [t, ...spec], attrs, name: name ?? 'StridedSlice' }).output;
}
