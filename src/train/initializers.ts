/**
 * Variable initializers (tf.zeros_initializer, tf.glorot_uniform_initializer, tf.truncated_normal_initializer …).
 * Each is a function from (shape, dtype) to the initial value as a host tensor, computed here in JavaScript from
 * the seeded generator of src/data/random.ts — so a seeded initializer gives the same bits on every run, with no
 * dependence on ONNX Runtime's random kernels. The value becomes the variable's `initial_value` constant.
 */
import { InvalidArgument } from '../errors.js';
import { dtypeInfo, type DType } from '../graph/dtype.js';
import { getDefaultGraph, type Graph } from '../graph/graph.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { createRng, randomNormal, type Rng } from '../data/random.js';
import { Variable } from '../ops/variables.js';

/** Produces a variable's initial value for a shape and dtype. */
export type Initializer = (shape: readonly number[], dtype: DType) => HostTensor;

export interface SeedOptions {
  /** Seed of the generator; the same seed gives the same values to the bit. Default: a fresh random seed. */
  seed?: number;
}

function checkShape(shape: readonly number[]): void {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidArgument(`initializer: shape [${shape.join(', ')}] must be fully defined and non-negative`);
  }
}

function filled(shape: readonly number[], dtype: DType, value: (rng: Rng | undefined) => number, rng?: Rng) {
  checkShape(shape);
  const info = dtypeInfo(dtype);
  if (!info.isFloat && !info.isInteger) throw new InvalidArgument(`initializer: unsupported dtype ${dtype}`);
  const out = HostTensor.zeros(dtype, shape);
  const data = out.data as Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array;
  const n = shapeSize(shape);
  if (data instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) data[i] = BigInt(Math.trunc(value(rng)));
  } else {
    for (let i = 0; i < n; i++) data[i] = value(rng);
  }
  return out;
}

function seededRng(options: SeedOptions): Rng {
  return createRng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
}

/** All zeros (tf.zeros_initializer). */
export function zeros(): Initializer {
  return (shape, dtype) => filled(shape, dtype, () => 0);
}

/** All ones (tf.ones_initializer). */
export function ones(): Initializer {
  return (shape, dtype) => filled(shape, dtype, () => 1);
}

/** Every element `value` (tf.constant_initializer with a scalar). */
export function constant(value: number): Initializer {
  return (shape, dtype) => filled(shape, dtype, () => value);
}

/** fan_in and fan_out as Keras/TF compute them: dense [in, out]; conv [kh, kw, in, out] × receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0] as number, fanOut: shape[0] as number };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return {
    fanIn: (shape[shape.length - 2] as number) * receptive,
    fanOut: (shape[shape.length - 1] as number) * receptive,
  };
}

/** Uniform in [-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (tf.glorot_uniform_initializer). */
export function glorotUniform(options: SeedOptions = {}): Initializer {
  return (shape, dtype) => {
    const { fanIn, fanOut } = fans(shape);
    const limit = Math.sqrt(6 / Math.max(1, fanIn + fanOut));
    const rng = seededRng(options);
    return filled(shape, dtype, () => (2 * rng() - 1) * limit);
  };
}

export interface TruncatedNormalOptions extends SeedOptions {
  mean?: number;
  /** Default 1. */
  stddev?: number;
}

/**
 * Normal samples more than two standard deviations from the mean are drawn again (tf.truncated_normal_initializer).
 */
export function truncatedNormal(options: TruncatedNormalOptions = {}): Initializer {
  const mean = options.mean ?? 0;
  const stddev = options.stddev ?? 1;
  if (!(stddev >= 0)) throw new InvalidArgument(`truncatedNormal: stddev must be >= 0, got ${stddev}`);
  return (shape, dtype) => {
    const rng = seededRng(options);
    return filled(shape, dtype, () => {
      let z = randomNormal(rng);
      while (Math.abs(z) > 2) z = randomNormal(rng);
      return mean + stddev * z;
    });
  };
}

export interface UniformOptions extends SeedOptions {
  /** Default 0. */
  minval?: number;
  /** Default 1. */
  maxval?: number;
}

/** Uniform in [minval, maxval) (tf.random_uniform_initializer). */
export function randomUniform(options: UniformOptions = {}): Initializer {
  const lo = options.minval ?? 0;
  const hi = options.maxval ?? 1;
  return (shape, dtype) => {
    const rng = seededRng(options);
    return filled(shape, dtype, () => lo + (hi - lo) * rng());
  };
}

export interface GetVariableOptions {
  /** Default zeros(). */
  initializer?: Initializer;
  /** Default float32. */
  dtype?: DType;
  /** Default true. */
  trainable?: boolean;
  graph?: Graph;
}

/** Creates a variable from an initializer (tf.get_variable without variable scopes' reuse). */
export function getVariable(name: string, shape: readonly number[], options: GetVariableOptions = {}): Variable {
  const dtype = options.dtype ?? 'float32';
  const initializer = options.initializer ?? zeros();
  return new Variable(initializer(shape, dtype), {
    name,
    dtype,
    trainable: options.trainable ?? true,
    graph: options.graph ?? getDefaultGraph(),
  });
}
