/**
 * Random tensor ops: random_uniform, random_normal and truncated_normal, with TensorFlow 1.x's seeding rules.
 *
 * Seeds (tf.get_seed): with a graph-level seed (`graph.randomSeed`) every random op is reproducible — an op
 * without its own seed takes the next per-graph op seed, so the same program builds the same seeds; with only an
 * op seed the graph seed defaults to 87654321; with neither the op is nondeterministic. The pair becomes the
 * ONNX `seed` attribute (a float, so it is folded into an integer below 2^24, exact in float32). ONNX Runtime
 * seeds the op's generator when it creates the kernel, so a new session restarts the sequence and each run of
 * one session draws the next values — TensorFlow's behaviour (same seeds → same sequence per session).
 * Unseeded ops are lowered with a fresh random seed (see seedAttr).
 */
import { InvalidArgument } from '../errors.js';
import { dtypeInfo, type DType } from '../graph/dtype.js';
import { getDefaultGraph, Tensor, type Graph } from '../graph/graph.js';
import { defineOp, type LowerContext, type OpDef } from '../graph/op-def.js';
import { formatShape, type Dim } from '../graph/shape.js';
import type { AttrValue, OnnxGraphBuilder } from '../onnx/builder.js';
import { constValue } from './array.js';
import { constant } from './convert.js';
import { CPU_ONLY } from './kernels.js';

/** TensorFlow's DEFAULT_GRAPH_SEED (python/framework/random_seed.py), used when only the op seed is set. */
export const DEFAULT_GRAPH_SEED = 87654321;

/** How many normal draws truncated_normal takes per element before clipping (see TruncatedNormal). */
const TRUNCATED_NORMAL_DRAWS = 8;

interface RandomAttrs {
  dtype: DType;
  /** Graph-level and op-level seed (TF's `seed`, `seed2`); both undefined = nondeterministic. */
  seed?: number;
  seed2?: number;
  [key: string]: unknown;
}

/** Folds the (graph, op) seed pair, plus a stream index, into an integer seed exact in float32. */
function ortSeed(seed: number, seed2: number, stream: number): number {
  let h = Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(seed2 | 0, 0x85ebca77) ^ Math.imul(stream + 1, 0xc2b2ae3d);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) & 0xffffff;
}

/**
 * The ONNX `seed` attribute. Unseeded ops get a fresh random seed each time they are lowered (once per session
 * and signature): ONNX Runtime 1.30 gives a node without `seed` the same fixed sequence in every session
 * (checked in test/ops/random.test.ts), whereas TensorFlow's unseeded ops differ from session to session.
 */
function seedAttr(attrs: RandomAttrs, stream = 0): { f: number } {
  if (attrs.seed === undefined || attrs.seed2 === undefined) return { f: Math.floor(Math.random() * 0x1000000) };
  return { f: ortSeed(attrs.seed, attrs.seed2, stream) };
}

/**
 * Emits one random ONNX node of the op's output shape: `RandomX` with a static `shape` attribute when the shape
 * operand is a constant, else `RandomXLike` over ConstantOfShape(shape) (dynamic shapes).
 */
function randomNode(
  ctx: LowerContext,
  onnxOp: 'RandomUniform' | 'RandomNormal',
  dtype: DType,
  params: Record<string, AttrValue>,
  stream: number,
  output?: string,
): string {
  const { b, op, inputs } = ctx;
  const shapeT = op.inputs[0] as Tensor;
  const attrs = { ...params, dtype: dtypeInfo(dtype).onnx, seed: seedAttr(ctx.attrs as RandomAttrs, stream) };
  const known = constValue(shapeT);
  if (known) return b.op(onnxOp, [], { ...attrs, shape: known.toNumbers() }, output);
  const dims = shapeT.dtype === 'int64' ? (inputs[0] as string) : b.op('Cast', [inputs[0] as string], { to: 7 });
  return b.op(`${onnxOp}Like`, [b.op('ConstantOfShape', [dims])], attrs, output);
}

function scalar(b: OnnxGraphBuilder, value: number, dtype: DType): string {
  return b.scalar(value, dtype);
}

function inferRandom(opName: string, shapeT: Tensor, dtype: DType, allowed: readonly DType[]): Dim[] {
  if (!allowed.includes(dtype)) {
    throw new InvalidArgument(`Operation '${opName}': dtype must be one of ${allowed.join(', ')}, got ${dtype}`);
  }
  if ((shapeT.dtype !== 'int32' && shapeT.dtype !== 'int64') || shapeT.rank !== 1) {
    throw new InvalidArgument(
      `Operation '${opName}': shape must be a 1-D int32 or int64 tensor, got ${shapeT.dtype} of shape ${formatShape(shapeT.shape)}`,
    );
  }
  const known = constValue(shapeT)?.toNumbers();
  if (known) {
    if (known.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new InvalidArgument(`Operation '${opName}': shape [${known.join(',')}] must be non-negative integers`);
    }
    return known;
  }
  const n = shapeT.shape[0];
  if (n === null || n === undefined)
    throw new InvalidArgument(`Operation '${opName}': the length of shape must be known`);
  return Array<Dim>(n).fill(null);
}

const FLOATS: readonly DType[] = ['float32', 'float64'];
const UNIFORM_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64'];

export const RandomUniform = defineOp<RandomAttrs & { minval: number; maxval: number }>({
  type: 'RandomUniform',
  infer: ([s], attrs, opName) => [
    { dtype: attrs.dtype, shape: inferRandom(opName, s as Tensor, attrs.dtype, UNIFORM_DTYPES) },
  ],
  lower: (ctx) => {
    const { b, attrs, outputs } = ctx;
    if (dtypeInfo(attrs.dtype).isFloat) {
      randomNode(
        ctx,
        'RandomUniform',
        attrs.dtype,
        { low: { f: attrs.minval }, high: { f: attrs.maxval } },
        0,
        outputs[0],
      );
      return;
    }
    // Integers (tf.random_uniform with an int dtype): floor(u · (max − min)) + min for u ∈ [0, 1) in float64,
    // clamped below max against rounding when u is within an ulp of 1.
    const u = randomNode(ctx, 'RandomUniform', 'float64', { low: { f: 0 }, high: { f: 1 } }, 0);
    const scaled = b.op('Floor', [b.op('Mul', [u, scalar(b, attrs.maxval - attrs.minval, 'float64')])]);
    const shifted = b.op('Add', [scaled, scalar(b, attrs.minval, 'float64')]);
    const clamped = b.op('Min', [shifted, scalar(b, attrs.maxval - 1, 'float64')]);
    b.op('Cast', [clamped], { to: dtypeInfo(attrs.dtype).onnx }, outputs[0]);
  },
  notDifferentiable: true,
  stateful: true,
  // The WebGPU execution provider has no RandomUniform/RandomNormal kernels.
  kernels: CPU_ONLY,
});

export const RandomStandardNormal = defineOp<RandomAttrs & { mean: number; stddev: number }>({
  type: 'RandomStandardNormal',
  infer: ([s], attrs, opName) => [{ dtype: attrs.dtype, shape: inferRandom(opName, s as Tensor, attrs.dtype, FLOATS) }],
  lower: (ctx) => {
    const { attrs, outputs } = ctx;
    randomNode(
      ctx,
      'RandomNormal',
      attrs.dtype,
      { mean: { f: attrs.mean }, scale: { f: attrs.stddev } },
      0,
      outputs[0],
    );
  },
  notDifferentiable: true,
  stateful: true,
  kernels: CPU_ONLY,
});

/**
 * TensorFlow's truncated normal: values more than 2 standard deviations from the mean are re-drawn. ONNX has no
 * such op, so the lowering draws TRUNCATED_NORMAL_DRAWS independent standard normals per element and keeps the
 * first one within ±2 (Where chain), then clips. An element is only clipped (instead of re-drawn) when all
 * draws fall outside ±2: probability P(|z| > 2)^8 = 0.0455^8 ≈ 1.8e-11 per element, i.e. about one clipped
 * element in 5·10^10 — and even then the value stays within ±2σ.
 */
export const TruncatedNormal = defineOp<RandomAttrs & { mean: number; stddev: number }>({
  type: 'TruncatedNormal',
  infer: ([s], attrs, opName) => [{ dtype: attrs.dtype, shape: inferRandom(opName, s as Tensor, attrs.dtype, FLOATS) }],
  lower: (ctx) => {
    const { b, attrs, outputs } = ctx;
    const dtype = attrs.dtype;
    const two = scalar(b, 2, dtype);
    const draws = Array.from({ length: TRUNCATED_NORMAL_DRAWS }, (_, k) =>
      randomNode(ctx, 'RandomNormal', dtype, { mean: { f: 0 }, scale: { f: 1 } }, k),
    );
    let z = b.op('Clip', [draws[TRUNCATED_NORMAL_DRAWS - 1] as string, scalar(b, -2, dtype), two]);
    for (let k = TRUNCATED_NORMAL_DRAWS - 2; k >= 0; k--) {
      const d = draws[k] as string;
      z = b.op('Where', [b.op('LessOrEqual', [b.op('Abs', [d]), two]), d, z]);
    }
    const scaled = b.op('Mul', [z, scalar(b, attrs.stddev, dtype)]);
    b.op('Add', [scaled, scalar(b, attrs.mean, dtype)], {}, outputs[0]);
  },
  notDifferentiable: true,
  stateful: true,
  kernels: CPU_ONLY,
});

export interface RandomOptions {
  dtype?: DType;
  /** Op-level seed; combined with the graph's `randomSeed` as tf.get_seed does. */
  seed?: number;
  name?: string;
  /** Graph to add the op to when `shape` is not a tensor; defaults to the default graph. */
  graph?: Graph;
}

/** tf.get_seed: the (graph seed, op seed) pair for a new random op, or none (nondeterministic). */
function resolveSeeds(graph: Graph, opSeed: number | undefined): { seed?: number; seed2?: number } {
  if (opSeed !== undefined && !Number.isInteger(opSeed))
    throw new InvalidArgument(`random op seed must be an integer, got ${opSeed}`);
  if (graph.randomSeed !== undefined) return { seed: graph.randomSeed, seed2: opSeed ?? graph.nextOpSeed() };
  if (opSeed !== undefined) return { seed: DEFAULT_GRAPH_SEED, seed2: opSeed };
  return {};
}

function addRandom(
  def: typeof RandomUniform | typeof RandomStandardNormal | typeof TruncatedNormal,
  shape: readonly number[] | Tensor,
  options: RandomOptions,
  defaultName: string,
  params: Record<string, number>,
): Tensor {
  const graph = shape instanceof Tensor ? shape.graph : (options.graph ?? getDefaultGraph());
  const opName = graph.uniqueName(options.name ?? defaultName);
  const shapeT =
    shape instanceof Tensor
      ? shape
      : graph.nameScope(
          opName,
          () => constant([...shape], { graph, dtype: 'int32', shape: [shape.length], name: 'shape' }),
          {
            reserved: true,
          },
        );
  // The three random defs share this builder; `params` carries each one's own attributes.
  return graph.addOp<object>({
    def: def as OpDef<object>,
    inputs: [shapeT],
    attrs: { dtype: options.dtype ?? 'float32', ...resolveSeeds(graph, options.seed), ...params },
    name: opName,
    reservedName: true,
  }).output;
}

/**
 * Uniform values in [minval, maxval) (tf.random_uniform). Integer dtypes (int32, int64) need an explicit
 * maxval, as in TensorFlow.
 */
export function randomUniform(
  shape: readonly number[] | Tensor,
  options: RandomOptions & { minval?: number; maxval?: number } = {},
): Tensor {
  const dtype = options.dtype ?? 'float32';
  const isFloat = dtypeInfo(dtype).isFloat;
  if (!isFloat && options.maxval === undefined) {
    throw new InvalidArgument(`random_uniform: Must specify maxval for integer dtype ${dtype}`);
  }
  const minval = options.minval ?? 0;
  const maxval = options.maxval ?? 1;
  if (!(minval < maxval)) throw new InvalidArgument(`random_uniform: Need minval < maxval: ${minval} >= ${maxval}`);
  if (!isFloat && (!Number.isInteger(minval) || !Number.isInteger(maxval))) {
    throw new InvalidArgument(`random_uniform: minval and maxval must be integers for dtype ${dtype}`);
  }
  return addRandom(RandomUniform, shape, options, 'random_uniform', { minval, maxval });
}

/** Normally distributed values (tf.random_normal). */
export function randomNormal(
  shape: readonly number[] | Tensor,
  options: RandomOptions & { mean?: number; stddev?: number } = {},
): Tensor {
  return addRandom(RandomStandardNormal, shape, options, 'random_normal', {
    mean: options.mean ?? 0,
    stddev: options.stddev ?? 1,
  });
}

/** Normal values re-drawn when more than 2 standard deviations from the mean (tf.truncated_normal). */
export function truncatedNormal(
  shape: readonly number[] | Tensor,
  options: RandomOptions & { mean?: number; stddev?: number } = {},
): Tensor {
  return addRandom(TruncatedNormal, shape, options, 'truncated_normal', {
    mean: options.mean ?? 0,
    stddev: options.stddev ?? 1,
  });
}
