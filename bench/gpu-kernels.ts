/**
 * The GPU kernel survey: for every op definition and every dtype, does ONNX Runtime's WebGPU execution provider
 * run the op's ONNX lowering (every node claimed, CPU fallback disabled) and compute what the CPU EP computes?
 * The op defs' GPU kernel constraints (`kernelConstraints`, src/ops/kernels.ts) are filled in from its results;
 * test/devices/gpu-kernels.test.ts re-checks the table with the same cases whenever a WebGPU adapter is present.
 *
 *   node dist/bench/gpu-kernels.js [--json FILE] [--markdown] [--op NAME,…] [--no-explain]
 *
 * (with `export XDG_RUNTIME_DIR=/tmp` on lavapipe); --markdown prints the op defs' kernel table and the survey
 * matrix for docs/placement.md. It also lists where the table and the WebGPU EP disagree.
 *
 * Each case builds a minimal graph (placeholders feeding the
 * op, shape-like operands as constants, as the ops' makers build them), lowers it as one GPU partition with
 * src/runtime/lower.ts and creates two ONNX Runtime sessions from the same model: `['cpu']` and `['webgpu']`
 * with `disable_cpu_ep_fallback` (session creation throws when any node is left to the CPU EP). Both run on the
 * same feeds; outputs must match (floats: |gpu − cpu| ≤ 1e-4 + 1e-4·|cpu|).
 *
 * Unless --no-explain, the cases run in a child process whose ONNX Runtime log (INFO, one logId per case) is
 * read for the WebGPU EP's "kernel not found in registries for Op type: X" lines, so the report names the ONNX
 * nodes that were not claimed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { Device } from '../src/devices/device.js';
import { localDeviceName } from '../src/devices/names.js';
import { discoverGpus } from '../src/devices/webgpu.js';
import { DTYPES, type DType } from '../src/graph/dtype.js';
import { Graph, withGraph, type Operation, type Tensor } from '../src/graph/graph.js';
import { HostTensor } from '../src/graph/host-tensor.js';
import { registeredOps, type OpDef } from '../src/graph/op-def.js';
import {
  AvgPoolGrad,
  ExtremumGrad,
  GatherGrad,
  MaxPoolGrad,
  SliceGrad,
  TileGrad,
  Variable,
  abs,
  add,
  argMax,
  avgPool,
  biasAdd,
  broadcastReduced,
  cast,
  concat,
  constant,
  conv2d,
  conv2dBackpropFilter,
  conv2dBackpropInput,
  div,
  equal,
  exp,
  expandDims,
  fill,
  gather,
  greater,
  greaterEqual,
  identity,
  less,
  lessEqual,
  log,
  logSoftmax,
  logicalAnd,
  logicalNot,
  logicalOr,
  maskedGrad,
  matmul,
  maxPool,
  maximum,
  minimum,
  mul,
  neg,
  oneHot,
  onesLike,
  placeholder,
  pow,
  randomNormal,
  randomUniform,
  range,
  reduceMax,
  reduceMean,
  reduceMin,
  reduceSum,
  relu,
  reluGrad,
  reshape,
  shape,
  sigmoid,
  sign,
  slice,
  softmax,
  softmaxCrossEntropyWithLogits,
  sparseSoftmaxCrossEntropyWithLogits,
  split,
  sqrt,
  square,
  squeeze,
  stopGradient,
  sub,
  tanh,
  tile,
  transpose,
  truncatedNormal,
  where,
  zerosLike,
} from '../src/ops/index.js';
import {
  addN,
  addV2,
  batchMatMul,
  depthwiseConv2d,
  elu,
  erf,
  leakyRelu,
  pad,
  prelu,
  reduceProd,
  relu6,
  resizeImages,
  rsqrt,
  selu,
  softplus,
  stack,
  stridedSlice,
  unstack,
} from '../src/ops/index.js';
import { hasKernel, typeAttrsOf } from '../src/ops/kernels.js';
import { lowerPartition } from '../src/runtime/lower.js';
import { toOrtTensor, fromOrtTensor } from '../src/runtime/ort.js';
import { prune } from '../src/runtime/prune.js';

const { onnx } = onnxProto;

// ---- cases -------------------------------------------------------------------------------------------------

/** Value ranges for generated inputs. */
type Domain = 'any' | 'positive' | 'small';

interface InputOptions {
  domain?: Domain;
  /** Explicit values (flat). */
  values?: readonly (number | bigint | boolean | string)[];
  /** Concrete shape to feed where the placeholder's shape has unknown dims. */
  feedShape?: readonly number[];
}

/** What a case's `build` uses to make inputs: placeholders with generated feed values, and variables. */
export class CaseContext {
  readonly feeds = new Map<Tensor, HostTensor>();
  readonly variables = new Map<Operation, HostTensor>();
  private seed: number;

  constructor(
    readonly graph: Graph,
    seed = 1,
  ) {
    this.seed = seed;
  }

  private next(): number {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
    return this.seed / 2 ** 32;
  }

  /** Generated values of `dtype` (flat). */
  values(dtype: DType, size: number, domain: Domain = 'any'): (number | bigint | boolean | string)[] {
    return Array.from({ length: size }, () => {
      const u = this.next();
      switch (dtype) {
        case 'float32':
        case 'float64':
          return domain === 'positive' ? 0.5 + 2 * u : domain === 'small' ? u : Math.round((4 * u - 2) * 64) / 64;
        case 'int32':
          return domain === 'positive' ? 1 + Math.floor(3 * u) : Math.floor(7 * u) - 3;
        case 'int64':
          return BigInt(domain === 'positive' ? 1 + Math.floor(3 * u) : Math.floor(7 * u) - 3);
        case 'uint8':
          return Math.floor((domain === 'positive' ? 1 : 0) + 4 * u);
        case 'bool':
          return u < 0.5;
        case 'string':
          return ['a', 'b', 'cd'][Math.floor(3 * u)] as string;
        default:
          // The survey's ops have no kernels for the remaining storage types.
          throw new TypeError(`no generated values for ${dtype}`);
      }
    });
  }

  host(dtype: DType, shape: readonly number[], options: InputOptions = {}): HostTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = options.values ?? this.values(dtype, size, options.domain);
    return HostTensor.from(dtype, [...values], shape);
  }

  /** A placeholder fed with generated (or given) values; `null` dims need `feedShape`. */
  input(dtype: DType, shape: readonly (number | null)[], options: InputOptions = {}): Tensor {
    const t = placeholder(dtype, { shape, graph: this.graph, name: 'in' });
    const feedShape = options.feedShape ?? shape.map((d) => d ?? 1);
    this.feeds.set(t, this.host(dtype, feedShape, options));
    return t;
  }

  /** A variable whose current value is `value` (the session's store supplies it as a partition input). */
  variable(dtype: DType, shape: readonly number[], options: InputOptions = {}): Variable {
    const value = this.host(dtype, shape, options);
    const v = new Variable(value, { graph: this.graph, name: 'v' });
    this.variables.set(v.op, value);
    return v;
  }
}

export interface KernelCase {
  /** Op type (the def's `type`) the case exercises. */
  op: string;
  /**
   * What differs from the op's primary case ('' for it): other index dtypes, fed or constant shape operands,
   * unknown batch dims. A dtype is in the table when every variant that the table covers passes.
   */
  variant: string;
  /** Builds the graph for the op's main dtype `dt` (TensorFlow's T) and returns the fetched tensors. */
  build(ctx: CaseContext, dt: DType): Tensor[];
  /** Random ops: only dtypes and shapes are compared. */
  shapeOnly?: boolean;
  /** Ops that run no computation (Placeholder is fed, NoOp is empty): nothing to lower. */
  noCompute?: string;
}

function c(op: string, build: KernelCase['build'], variant = '', extra: Partial<KernelCase> = {}): KernelCase {
  return { op, variant, build, ...extra };
}

function addDef(ctx: CaseContext, def: OpDef, inputs: Tensor[], attrs: Record<string, unknown> = {}): Tensor {
  return ctx.graph.addOp({ def, inputs, attrs, name: def.type }).output;
}

function unaryCase(op: string, fn: (x: Tensor) => Tensor, domain: Domain = 'any'): KernelCase {
  return c(op, (x, dt) => [fn(x.input(dt, [2, 3], { domain }))]);
}

function binaryCase(op: string, fn: (a: Tensor, b: Tensor) => Tensor, domain: Domain = 'any'): KernelCase {
  // [2, 3] op [3]: broadcasting, as most uses (bias, scalars) are.
  return c(op, (x, dt) => [fn(x.input(dt, [2, 3], { domain }), x.input(dt, [3], { domain }))]);
}

const INDEX_TYPES: readonly DType[] = ['int32', 'int64'];

/** Every case, primary ones first for each op. */
export function kernelCases(): KernelCase[] {
  const cases: KernelCase[] = [
    // ---- sources ----
    c('Const', (x, dt) => [constant(x.host(dt, [2, 3]), { graph: x.graph })]),
    c('Placeholder', () => [], '', { noCompute: 'fed: a Placeholder is never lowered' }),
    c('NoOp', () => [], '', { noCompute: 'no computation' }),
    unaryCase('Identity', identity),
    unaryCase('StopGradient', stopGradient),
    // ---- variables ----
    c('VariableV2', (x, dt) => [x.variable(dt, [2, 3]).ref]),
    c('Assign', (x, dt) => [x.variable(dt, [2, 3]).assign(x.input(dt, [2, 3]))]),
    c('AssignAdd', (x, dt) => [x.variable(dt, [2, 3]).assignAdd(x.input(dt, [2, 3]))]),
    c('AssignSub', (x, dt) => [x.variable(dt, [2, 3]).assignSub(x.input(dt, [2, 3]))]),
    // ---- array ----
    ...DTYPES.map((to) => c('Cast', (x, dt) => [cast(x.input(dt, [2, 3], { domain: 'positive' }), to)], `to ${to}`)),
    c('Reshape', (x, dt) => [reshape(x.input(dt, [2, 3]), [3, 2])]),
    c('Reshape', (x, dt) => [reshape(x.input(dt, [2, 3]), constant([3n, 2n], { graph: x.graph }))], 'int64 shape'),
    c(
      'Reshape',
      (x, dt) => [reshape(x.input(dt, [2, 3]), x.input('int32', [2], { values: [3, 2] }))],
      'shape fed (int32)',
    ),
    c(
      'Reshape',
      (x, dt) => [reshape(x.input(dt, [2, 3]), x.input('int64', [2], { values: [3n, 2n] }))],
      'shape fed (int64)',
    ),
    c(
      'Reshape',
      (x, dt) => {
        const a = x.input(dt, [null, 3], { feedShape: [2, 3] });
        return [reshape(a, shape(x.input(dt, [null, 2], { feedShape: [3, 2] })))];
      },
      'shape from Shape (int32)',
    ),
    unaryCase('Transpose', (t) => transpose(t)),
    c('ConcatV2', (x, dt) => [concat([x.input(dt, [2, 3]), x.input(dt, [2, 1])], 1)]),
    c('SplitV', (x, dt) => split(x.input(dt, [2, 4]), [1, 3], 1)),
    c('Slice', (x, dt) => [slice(x.input(dt, [3, 4]), [1, 1], [2, -1])]),
    c('SliceGrad', (x, dt) => [addDef(x, SliceGrad, [x.input(dt, [2, 3]), x.input(dt, [3, 4])], { begin: [1, 1] })]),
    c(
      'SliceGrad',
      (x, dt) => [
        addDef(
          x,
          SliceGrad,
          [x.input(dt, [null, 3], { feedShape: [2, 3] }), x.input(dt, [null, 4], { feedShape: [2, 4] })],
          { begin: [0, 1] },
        ),
      ],
      'unknown batch',
    ),
    ...INDEX_TYPES.flatMap((it) => [
      c(
        'GatherV2',
        (x, dt) => [
          gather(x.input(dt, [4, 3]), x.input(it, [3], { values: it === 'int64' ? [3n, 0n, 3n] : [3, 0, 3] })),
        ],
        it === 'int32' ? '' : 'int64 indices',
      ),
      c(
        'GatherV2',
        (x, dt) => [gather(x.input(dt, [4, 3]), x.input(it, [2], { values: it === 'int64' ? [2n, 0n] : [2, 0] }), 1)],
        `axis 1, ${it} indices`,
      ),
    ]),
    ...INDEX_TYPES.flatMap((it) =>
      [0, 1].map((axis) =>
        c(
          'GatherGrad',
          (x, dt) => {
            const idx = x.input(it, [3], { values: it === 'int64' ? [2n, 0n, 2n] : [2, 0, 2] });
            const dy = axis === 0 ? x.input(dt, [3, 3]) : x.input(dt, [4, 3]);
            return [addDef(x, GatherGrad, [x.input(dt, [4, 3]), idx, dy], { axis })];
          },
          it === 'int32' && axis === 0 ? '' : `axis ${axis}, ${it} indices`,
        ),
      ),
    ),
    ...INDEX_TYPES.map((it) =>
      c(
        'OneHot',
        (x, dt) => [oneHot(x.input(it, [3], { values: it === 'int64' ? [0n, 3n, 5n] : [0, 3, 5] }), 4, { dtype: dt })],
        it === 'int32' ? '' : 'int64 indices',
      ),
    ),
    c('Fill', (x, dt) => [fill([2, 3], x.input(dt, []))]),
    c('Fill', (x, dt) => [fill(x.input('int32', [2], { values: [2, 3] }), x.input(dt, []))], 'dims fed (int32)'),
    unaryCase('ZerosLike', (t) => zerosLike(t)),
    c('ZerosLike', (x, dt) => [zerosLike(x.input(dt, [null, 3], { feedShape: [2, 3] }))], 'unknown batch'),
    unaryCase('OnesLike', (t) => onesLike(t)),
    c('OnesLike', (x, dt) => [onesLike(x.input(dt, [null, 3], { feedShape: [2, 3] }))], 'unknown batch'),
    c(
      'Range',
      (x, dt) => {
        const compute: DType = dt === 'uint8' ? 'int32' : dt;
        const [s, l, d] = [[1], [7], [2]].map((v) => x.input(compute, [], { values: v }));
        return [range(s as Tensor, l, d, { dtype: dt })];
      },
      '',
    ),
    c('Range', (x, dt) => [range(0, 5, 1, { dtype: dt, graph: x.graph })], 'constant bounds'),
    unaryCase('ExpandDims', (t) => expandDims(t, 1)),
    c('Squeeze', (x, dt) => [squeeze(x.input(dt, [2, 1, 3]))]),
    c('Shape', (x, dt) => [shape(x.input(dt, [null, 3], { feedShape: [2, 3] }), { outType: 'int64' })]),
    c('Shape', (x, dt) => [shape(x.input(dt, [null, 3], { feedShape: [2, 3] }), { outType: 'int32' })], 'out int32'),
    c('Tile', (x, dt) => [tile(x.input(dt, [2, 3]), [2, 1])]),
    c(
      'Tile',
      (x, dt) => [tile(x.input(dt, [2, 3]), x.input('int32', [2], { values: [2, 1] }))],
      'multiples fed (int32)',
    ),
    c('TileGrad', (x, dt) => [
      addDef(x, TileGrad, [
        x.input(dt, [4, 3]),
        x.input(dt, [2, 3]),
        constant([2, 1], { graph: x.graph, dtype: 'int32' }),
      ]),
    ]),
    c(
      'TileGrad',
      (x, dt) => [
        addDef(x, TileGrad, [
          x.input(dt, [null, 3], { feedShape: [4, 3] }),
          x.input(dt, [null, 3], { feedShape: [2, 3] }),
          constant([2, 1], { graph: x.graph, dtype: 'int32' }),
        ]),
      ],
      'unknown batch',
    ),
    c(
      'TileGrad',
      (x, dt) => [
        addDef(x, TileGrad, [x.input(dt, [4, 3]), x.input(dt, [2, 3]), x.input('int32', [2], { values: [2, 1] })]),
      ],
      'multiples fed (int32)',
    ),
    c('SelectV2', (x, dt) => [where(x.input('bool', [2, 3]), x.input(dt, [2, 3]), x.input(dt, [3]))]),
    // ---- math ----
    c('MatMul', (x, dt) => [matmul(x.input(dt, [2, 3]), x.input(dt, [3, 4]))]),
    c('MatMul', (x, dt) => [matmul(x.input(dt, [2, 3]), x.input(dt, [4, 3]), { transposeB: true })], 'transpose_b'),
    c('MatMul', (x, dt) => [matmul(x.input(dt, [2, 2, 3]), x.input(dt, [2, 3, 4]))], 'batched'),
    binaryCase('Add', add),
    binaryCase('Sub', sub),
    binaryCase('Mul', mul),
    binaryCase('RealDiv', div, 'positive'),
    binaryCase('Pow', pow, 'positive'),
    binaryCase('Maximum', maximum),
    binaryCase('Minimum', minimum),
    binaryCase('Equal', equal),
    binaryCase('Less', less),
    binaryCase('Greater', greater),
    binaryCase('LessEqual', lessEqual),
    binaryCase('GreaterEqual', greaterEqual),
    binaryCase('LogicalAnd', logicalAnd),
    binaryCase('LogicalOr', logicalOr),
    unaryCase('LogicalNot', logicalNot),
    unaryCase('Neg', neg),
    unaryCase('Sign', sign),
    unaryCase('Abs', abs),
    unaryCase('Exp', exp),
    unaryCase('Log', log, 'positive'),
    unaryCase('Sqrt', sqrt, 'positive'),
    unaryCase('Square', square),
    unaryCase('Relu', relu),
    unaryCase('Sigmoid', sigmoid),
    unaryCase('Tanh', tanh),
    unaryCase('Softmax', softmax),
    unaryCase('LogSoftmax', logSoftmax),
    c('MaskedGrad', (x, dt) => [maskedGrad(x.input('bool', [2, 3]), x.input(dt, [2, 3]))]),
    c('ReluGrad', (x, dt) => [reluGrad(x.input(dt, [2, 3]), x.input(dt, [2, 3]))]),
    // ---- reductions ----
    unaryCase('Sum', (t) => reduceSum(t, 1)),
    unaryCase('Mean', (t) => reduceMean(t, 1)),
    unaryCase('Max', (t) => reduceMax(t, 1)),
    unaryCase('Min', (t) => reduceMin(t, 1)),
    c('Sum', (x, dt) => [reduceSum(x.input(dt, [2, 3]))], 'all axes'),
    c('Sum', (x, dt) => [reduceSum(x.input(dt, [2, 3]), 0, { keepDims: true })], 'keepDims'),
    unaryCase('ArgMax', (t) => argMax(t, 1)),
    c('ArgMax', (x, dt) => [argMax(x.input(dt, [2, 3]), 1, { outputType: 'int32' })], 'output int32'),
    c('ReductionGrad', (x, dt) => [broadcastReduced(x.input(dt, [2]), x.input(dt, [2, 3]), [1], false)]),
    c(
      'ReductionGrad',
      (x, dt) => [broadcastReduced(x.input(dt, [3]), x.input(dt, [null, 3], { feedShape: [2, 3] }), [0], false)],
      'unknown batch',
    ),
    c(
      'ReductionGrad',
      (x, dt) => [broadcastReduced(x.input(dt, [2]), x.input(dt, [2, 3]), [1], false, { mean: true })],
      'mean',
    ),
    c(
      'ReductionGrad',
      (x, dt) => [
        broadcastReduced(x.input(dt, [null]), x.input(dt, [null, 3], { feedShape: [2, 3] }), [1], false, {
          mean: true,
        }),
      ],
      'mean over known dims, unknown batch',
    ),
    c(
      'ReductionGrad',
      (x, dt) => [
        broadcastReduced(x.input(dt, [3]), x.input(dt, [null, 3], { feedShape: [2, 3] }), [0], false, { mean: true }),
      ],
      'mean, unknown batch',
    ),
    c('ExtremumGrad', (x, dt) => {
      const v = x.input(dt, [2, 3], { values: x.values(dt, 6).map((_, i) => (i % 3 === 1 ? 0 : 1)) });
      const y = reduceMax(v, 1);
      return [addDef(x, ExtremumGrad, [x.input(dt, [2]), v, y], { axes: [1], keepDims: false })];
    }),
    c(
      'ExtremumGrad',
      (x, dt) => {
        const v = x.input(dt, [null, 3], { feedShape: [2, 3] });
        return [addDef(x, ExtremumGrad, [x.input(dt, [null]), v, reduceMax(v, 1)], { axes: [1], keepDims: false })];
      },
      'unknown batch',
    ),
    // ---- nn ----
    c('Conv2D', (x, dt) => [conv2d(x.input(dt, [1, 4, 4, 2]), x.input(dt, [3, 3, 2, 3]), { padding: 'SAME' })]),
    c(
      'Conv2D',
      (x, dt) => [conv2d(x.input(dt, [2, 5, 5, 1]), x.input(dt, [2, 2, 1, 2]), { padding: 'VALID', strides: 2 })],
      'VALID, stride 2',
    ),
    c(
      'Conv2D',
      (x, dt) => [
        conv2d(x.input(dt, [null, 4, 4, 2], { feedShape: [2, 4, 4, 2] }), x.input(dt, [3, 3, 2, 3]), {
          padding: 'SAME',
        }),
      ],
      'unknown batch',
    ),
    c('Conv2DBackpropInput', (x, dt) => [
      conv2dBackpropInput([4, 4, 2], x.input(dt, [3, 3, 2, 3]), x.input(dt, [1, 4, 4, 3]), { padding: 'SAME' }),
    ]),
    c(
      'Conv2DBackpropInput',
      (x, dt) => [
        conv2dBackpropInput(
          [5, 5, 2],
          x.input(dt, [2, 2, 2, 3]),
          x.input(dt, [null, 3, 3, 3], { feedShape: [2, 3, 3, 3] }),
          {
            padding: 'SAME',
            strides: 2,
          },
        ),
      ],
      'unknown batch, stride 2',
    ),
    c('Conv2DBackpropFilter', (x, dt) => [
      conv2dBackpropFilter(x.input(dt, [1, 4, 4, 2]), [3, 3, 2, 3], x.input(dt, [1, 4, 4, 3]), { padding: 'SAME' }),
    ]),
    c(
      'Conv2DBackpropFilter',
      (x, dt) => [
        conv2dBackpropFilter(
          x.input(dt, [null, 5, 5, 2], { feedShape: [2, 5, 5, 2] }),
          [2, 2, 2, 3],
          x.input(dt, [null, 3, 3, 3], { feedShape: [2, 3, 3, 3] }),
          {
            padding: 'SAME',
            strides: 2,
          },
        ),
      ],
      'unknown batch, stride 2',
    ),
    c('MaxPool', (x, dt) => [maxPool(x.input(dt, [1, 4, 4, 2]), { ksize: 2, strides: 2, padding: 'VALID' })]),
    c('MaxPool', (x, dt) => [maxPool(x.input(dt, [1, 3, 3, 2]), { ksize: 2, strides: 2, padding: 'SAME' })], 'SAME'),
    c(
      'MaxPool',
      (x, dt) => [
        maxPool(x.input(dt, [null, 4, 4, 2], { feedShape: [2, 4, 4, 2] }), { ksize: 2, strides: 2, padding: 'VALID' }),
      ],
      'unknown batch',
    ),
    c('MaxPoolGrad', (x, dt) => [
      addDef(x, MaxPoolGrad, [x.input(dt, [1, 4, 4, 2]), x.input(dt, [1, 2, 2, 2])], {
        ksize: [2, 2],
        strides: [2, 2],
        padding: 'VALID',
      }),
    ]),
    c(
      'MaxPoolGrad',
      (x, dt) => [
        addDef(
          x,
          MaxPoolGrad,
          [
            x.input(dt, [null, 4, 6, 3], { feedShape: [2, 4, 6, 3] }),
            x.input(dt, [null, 2, 3, 3], { feedShape: [2, 2, 3, 3] }),
          ],
          { ksize: [2, 2], strides: [2, 2], padding: 'SAME' },
        ),
      ],
      'unknown batch, SAME',
    ),
    c(
      'MaxPoolGrad',
      (x, dt) => [
        addDef(x, MaxPoolGrad, [x.input(dt, [1, 5, 5, 2]), x.input(dt, [1, 2, 2, 2])], {
          ksize: [3, 3],
          strides: [2, 2],
          padding: 'VALID',
        }),
      ],
      'overlapping windows',
    ),
    c('AvgPool', (x, dt) => [avgPool(x.input(dt, [1, 3, 3, 2]), { ksize: 2, strides: 2, padding: 'SAME' })]),
    c(
      'AvgPool',
      (x, dt) => [
        avgPool(x.input(dt, [null, 3, 3, 2], { feedShape: [2, 3, 3, 2] }), { ksize: 2, strides: 2, padding: 'SAME' }),
      ],
      'unknown batch',
    ),
    c('AvgPoolGrad', (x, dt) => [
      addDef(x, AvgPoolGrad, [x.input(dt, [1, 2, 2, 2])], {
        ksize: [2, 2],
        strides: [2, 2],
        padding: 'SAME',
        inputSize: [3, 3],
      }),
    ]),
    c(
      'AvgPoolGrad',
      (x, dt) => [
        addDef(x, AvgPoolGrad, [x.input(dt, [null, 2, 2, 2], { feedShape: [2, 2, 2, 2] })], {
          ksize: [2, 2],
          strides: [2, 2],
          padding: 'SAME',
          inputSize: [3, 3],
        }),
      ],
      'unknown batch',
    ),
    c('BiasAdd', (x, dt) => [biasAdd(x.input(dt, [2, 3]), x.input(dt, [3]))]),
    // ---- losses ----
    c('SoftmaxCrossEntropyWithLogits', (x, dt) => [
      softmaxCrossEntropyWithLogits({
        labels: x.input(dt, [2, 3], { domain: 'small' }),
        logits: x.input(dt, [2, 3]),
      }),
    ]),
    ...INDEX_TYPES.map((it) =>
      c(
        'SparseSoftmaxCrossEntropyWithLogits',
        (x, dt) => [
          sparseSoftmaxCrossEntropyWithLogits({
            labels: x.input(it, [2], { values: it === 'int64' ? [2n, 0n] : [2, 0] }),
            logits: x.input(dt, [2, 3]),
          }),
        ],
        it === 'int32' ? '' : 'int64 labels',
      ),
    ),
    ...INDEX_TYPES.map((it) =>
      c(
        'SparseSoftmaxMinusOneHot',
        (x, dt) => {
          const def = registeredOps().get('SparseSoftmaxMinusOneHot') as OpDef;
          const labels = x.input(it, [2], { values: it === 'int64' ? [2n, 0n] : [2, 0] });
          return [addDef(x, def, [labels, x.input(dt, [2, 3])])];
        },
        it === 'int32' ? '' : 'int64 labels',
      ),
    ),
    c(
      'SparseSoftmaxMinusOneHot',
      (x, dt) => {
        const def = registeredOps().get('SparseSoftmaxMinusOneHot') as OpDef;
        const labels = x.input('int32', [null], { values: [2, 0], feedShape: [2] });
        return [addDef(x, def, [labels, x.input(dt, [null, 3], { feedShape: [2, 3] })])];
      },
      'unknown batch',
    ),
    // ---- ops of imported TensorFlow graphs ----
    unaryCase('Relu6', relu6),
    unaryCase('Elu', elu),
    unaryCase('Selu', selu),
    unaryCase('LeakyRelu', (t) => leakyRelu(t, 0.1)),
    unaryCase('Softplus', softplus),
    unaryCase('Rsqrt', rsqrt, 'positive'),
    unaryCase('Erf', erf),
    binaryCase('Prelu', prelu),
    binaryCase('AddV2', addV2),
    c('AddN', (x, dt) => [addN([x.input(dt, [2, 3]), x.input(dt, [2, 3]), x.input(dt, [2, 3])])]),
    c('DepthwiseConv2dNative', (x, dt) => [
      depthwiseConv2d(x.input(dt, [1, 5, 5, 2]), x.input(dt, [3, 3, 2, 2]), { strides: [2, 2], padding: 'SAME' }),
    ]),
    c(
      'DepthwiseConv2dNative',
      (x, dt) => [
        depthwiseConv2d(x.input(dt, [1, 6, 6, 2]), x.input(dt, [3, 3, 2, 1]), { dilations: [2, 2], padding: 'VALID' }),
      ],
      'dilations 2',
    ),
    c(
      'DepthwiseConv2dNative',
      (x, dt) => [
        depthwiseConv2d(x.input(dt, [null, 5, 5, 2], { feedShape: [2, 5, 5, 2] }), x.input(dt, [3, 3, 2, 2]), {
          strides: [1, 1],
          padding: 'SAME',
        }),
      ],
      'unknown batch',
    ),
    c('Pad', (x, dt) => [
      pad(x.input(dt, [2, 3]), [
        [1, 0],
        [2, 1],
      ]),
    ]),
    c('Pad', (x, dt) => [pad(x.input(dt, [2, 3]), x.input('int32', [2, 2], { values: [1, 0, 2, 1] }))], 'paddings fed'),
    c('PadV2', (x, dt) => [
      pad(
        x.input(dt, [2, 3]),
        [
          [1, 0],
          [2, 1],
        ],
        { constantValue: 3 },
      ),
    ]),
    c('MirrorPad', (x, dt) => [
      pad(
        x.input(dt, [3, 3]),
        [
          [1, 2],
          [2, 0],
        ],
        { mode: 'REFLECT' },
      ),
    ]),
    c(
      'MirrorPad',
      (x, dt) => [
        pad(
          x.input(dt, [3, 3]),
          [
            [1, 3],
            [2, 0],
          ],
          { mode: 'SYMMETRIC' },
        ),
      ],
      'SYMMETRIC',
    ),
    c(
      'MirrorPad',
      (x, dt) => [pad(x.input(dt, [3, 3]), x.input('int32', [2, 2], { values: [1, 2, 2, 0] }), { mode: 'REFLECT' })],
      'paddings fed',
    ),
    c(
      'MirrorPad',
      (x, dt) => [
        pad(
          x.input(dt, [null, 3], { feedShape: [3, 3] }),
          [
            [0, 0],
            [2, 1],
          ],
          { mode: 'REFLECT' },
        ),
      ],
      'unknown batch',
    ),
    ...['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3'].map((type) =>
      c(type, (x, dt) => {
        const def = registeredOps().get(type) as OpDef;
        const stats = [x.input(dt, [2]), x.input(dt, [2]), x.input(dt, [2]), x.input(dt, [2], { domain: 'positive' })];
        return [
          addDef(x, def, [x.input(dt, [1, 2, 2, 2]), ...stats], {
            epsilon: 0.001,
            dataFormat: 'NHWC',
            isTraining: false,
          }),
        ];
      }),
    ),
    c('Prod', (x, dt) => [reduceProd(x.input(dt, [2, 3]), 1)]),
    c('Prod', (x, dt) => [reduceProd(x.input(dt, [2, 3]))], 'all axes'),
    c('Prod', (x, dt) => [reduceProd(x.input(dt, [2, 3]), 0, { keepDims: true })], 'keepDims'),
    c('BatchMatMulV2', (x, dt) => [batchMatMul(x.input(dt, [2, 2, 3]), x.input(dt, [1, 4, 3]), { adjY: true })]),
    c('BatchMatMul', (x, dt) => [
      addDef(x, registeredOps().get('BatchMatMul') as OpDef, [x.input(dt, [2, 3, 2]), x.input(dt, [2, 3, 4])], {
        adjX: true,
        adjY: false,
      }),
    ]),
    c('Pack', (x, dt) => [stack([x.input(dt, [2, 3]), x.input(dt, [2, 3])], 1)]),
    c('Unpack', (x, dt) => unstack(x.input(dt, [2, 3]), 1)),
    c('StridedSlice', (x, dt) => [
      stridedSlice(x.input(dt, [3, 4]), [0, -1], [0, 0], [-1, 1], { begin_mask: 1, end_mask: 1, shrink_axis_mask: 2 }),
    ]),
    c('StridedSlice', (x, dt) => [stridedSlice(x.input(dt, [4, 5]), [3, 1], [0, 5], [-2, 2])], 'negative stride, part'),
    c(
      'StridedSlice',
      (x, dt) => [stridedSlice(x.input(dt, [2, 3, 4]), [0, 1], [0, 3], [1, 1], { ellipsis_mask: 1 })],
      'ellipsis',
    ),
    c(
      'StridedSlice',
      (x, dt) => [
        stridedSlice(x.input(dt, [2, 4]), [0, 0], [0, 2], [1, 1], { begin_mask: 1, end_mask: 1, new_axis_mask: 2 }),
      ],
      'new axis',
    ),
    c(
      'StridedSlice',
      (x, dt) => [
        stridedSlice(x.input(dt, [null, 4], { feedShape: [3, 4] }), [0, 1], [0, 4], [1, 2], {
          begin_mask: 1,
          end_mask: 1,
        }),
      ],
      'unknown batch',
    ),
    c(
      'StridedSlice',
      (x, dt) => [
        stridedSlice(x.input(dt, [null, 4], { feedShape: [3, 4] }), [-1, 0], [0, 4], [-1, 1], { end_mask: 1 }),
      ],
      'unknown batch, negative stride',
    ),
    c('ResizeBilinear', (x, dt) => [resizeImages(x.input(dt, [1, 2, 3, 2]), [4, 5], { half_pixel_centers: true })]),
    c('ResizeNearestNeighbor', (x, dt) => [resizeImages(x.input(dt, [1, 2, 3, 2]), [4, 5], { method: 'nearest' })]),
    c(
      'ResizeNearestNeighbor',
      (x, dt) => [resizeImages(x.input(dt, [1, 2, 3, 2]), [4, 5], { method: 'nearest', align_corners: true })],
      'align_corners',
    ),
    c(
      'ResizeNearestNeighbor',
      (x, dt) => [resizeImages(x.input(dt, [1, 2, 3, 2]), [4, 5], { method: 'nearest', half_pixel_centers: true })],
      'half_pixel_centers',
    ),
    c(
      'ResizeNearestNeighbor',
      (x, dt) => [resizeImages(x.input(dt, [1, 5, 6, 2]), [2, 3], { method: 'nearest', half_pixel_centers: true })],
      'half_pixel_centers, downscale',
    ),
    c(
      'ResizeNearestNeighbor',
      (x, dt) => [
        resizeImages(x.input(dt, [null, 2, 3, 2], { feedShape: [2, 2, 3, 2] }), [4, 5], { method: 'nearest' }),
      ],
      'unknown batch',
    ),
    // ---- random (values differ between EPs: shapes and dtypes only) ----
    c('RandomUniform', (x, dt) => [randomUniform([2, 3], { dtype: dt, maxval: 5, seed: 1, graph: x.graph })], '', {
      shapeOnly: true,
    }),
    c('RandomStandardNormal', (x, dt) => [randomNormal([2, 3], { dtype: dt, seed: 1, graph: x.graph })], '', {
      shapeOnly: true,
    }),
    c('TruncatedNormal', (x, dt) => [truncatedNormal([2, 3], { dtype: dt, seed: 1, graph: x.graph })], '', {
      shapeOnly: true,
    }),
  ];
  return cases;
}

/** Ops whose cases were not written (a new op def without a case fails the adapter test). */
export function opsWithoutCases(cases: readonly KernelCase[] = kernelCases()): string[] {
  const covered = new Set(cases.map((k) => k.op));
  return [...registeredOps().keys()].filter((t) => !covered.has(t) && !t.startsWith('Test'));
}

// ---- running one case --------------------------------------------------------------------------------------

/**
 * - `gpu`: every node claimed by the WebGPU EP and the outputs match the CPU EP;
 * - `not-claimed`: session creation failed with CPU fallback disabled;
 * - `mismatch` / `gpu-error`: claimed, but the result differs / the run failed;
 * - `rejected`: the op def itself refuses the dtype (build-time InvalidArgument);
 * - `cpu-error`: not even the CPU EP runs it (no such kernel anywhere);
 * - `no-compute`: nothing to lower (Placeholder, NoOp).
 */
export type CaseStatus = 'gpu' | 'not-claimed' | 'mismatch' | 'gpu-error' | 'rejected' | 'cpu-error' | 'no-compute';

export interface CaseResult {
  op: string;
  variant: string;
  dtype: DType;
  status: CaseStatus;
  /** The ONNX node types of the lowering (after nothing: as flowserve emits them). */
  onnxNodes?: string[];
  /** The op's type attributes, as the placer sees them (typeAttrsOf). */
  typeAttrs?: Record<string, DType>;
  /** The error, or the largest difference for a mismatch. */
  detail?: string;
  /**
   * What the kernel table says (hasKernel): true when the op under test, and every other op of the case's
   * partition, has a GPU kernel for its dtypes; 'helpers' when the op has one but a helper op does not.
   */
  declared?: boolean | 'helpers';
  /** ONNX nodes the WebGPU EP did not claim (only when run with `explain`, from ONNX Runtime's log). */
  unclaimed?: string[];
  ms?: number;
}

export const GPU_TEST_DEVICE: Device = {
  name: localDeviceName('GPU', 0),
  type: 'GPU',
  index: 0,
  description: '',
  details: 'kernel survey',
  priority: 210,
  executionProviders: ['webgpu'],
};

export interface LoweredCase {
  /** The partition's ops (what would be placed on the GPU) and the op under test among them. */
  ops: Operation[];
  target: Operation;
  model: Uint8Array;
  feeds: Record<string, HostTensor>;
  outputs: string[];
  onnxNodes: string[];
  typeAttrs: Record<string, DType>;
}

/** What the kernel table says about a lowered case (see CaseResult.declared). */
export function declaredOnGpu(lowered: LoweredCase): boolean | 'helpers' {
  if (!hasKernel(lowered.target, 'GPU')) return false;
  return lowered.ops.every((o) => hasKernel(o, 'GPU')) ? true : 'helpers';
}

/** Builds and lowers a case as one GPU partition; throws what the op's build throws. */
export function lowerCase(k: KernelCase, dtype: DType, seed = 7): LoweredCase {
  const graph = new Graph();
  const ctx = new CaseContext(graph, seed);
  const fetches = withGraph(graph, () => k.build(ctx, dtype));
  const fed = new Set(ctx.feeds.keys());
  const ops = prune(fetches, [], fed);
  const target = ops.find((o) => o.type === k.op);
  if (!target) throw new Error(`internal: case ${k.op} (${k.variant}) builds no ${k.op} op`);
  const wanted = new Set(fetches);
  const lowered = lowerPartition(
    { device: GPU_TEST_DEVICE, stage: 0, ops },
    fed,
    (t) => wanted.has(t) || t.op.def.variableUpdate !== undefined,
  );
  const feeds: Record<string, HostTensor> = {};
  for (const input of lowered.inputs) {
    const s = input.source;
    const value =
      s.kind === 'variable' ? ctx.variables.get(s.variable) : s.kind === 'feed' ? ctx.feeds.get(s.tensor) : undefined;
    if (!value) throw new Error(`internal: no value for partition input ${input.name}`);
    feeds[input.name] = value;
  }
  const decoded = onnx.ModelProto.decode(lowered.model);
  return {
    ops,
    target,
    model: lowered.model,
    feeds,
    outputs: lowered.outputs.map((o) => o.name),
    onnxNodes: (decoded.graph?.node ?? []).map((n) => n.opType ?? ''),
    typeAttrs: { ...typeAttrsOf(target) },
  };
}

export interface SessionSettings {
  /** ORT logId of the WebGPU session (the explain mode reads it back from the log). */
  logId?: string;
  /** ORT log severity of the WebGPU session (default 3: errors, which would repeat what is thrown). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** ORT session options of the WebGPU side: the runtime's level 'all', and no CPU fallback. */
export function webgpuSessionOptions(settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  return {
    ...SMALL_MODEL_OPTIONS,
    executionProviders: ['webgpu'],
    logSeverityLevel: settings.logSeverityLevel ?? 4,
    ...(settings.logId ? { logId: settings.logId } : {}),
    extra: { session: { disable_cpu_ep_fallback: '1', intra_op: { allow_spinning: '0' } } },
  };
}

/** Tiny models: no thread pools (hundreds of sessions would each start one); the runtime's optimization level. */
const SMALL_MODEL_OPTIONS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

/**
 * WebGPU sessions waiting to be released: releasing one waits ~80 ms on lavapipe, releasing many at once about
 * as long, so the survey and the test release them in batches (releaseSessions).
 */
const unreleased: ort.InferenceSession[] = [];

/** Releases the WebGPU sessions the cases created. */
export async function releaseSessions(): Promise<void> {
  await Promise.all(unreleased.splice(0).map((s) => s.release()));
}

async function runModel(
  model: Uint8Array,
  options: ort.InferenceSession.SessionOptions,
  feeds: Record<string, HostTensor>,
  outputs: readonly string[],
): Promise<HostTensor[] | { stage: 'create' | 'run'; error: string }> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, options);
  } catch (err) {
    return { stage: 'create', error: (err as Error).message };
  }
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, value] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(value);
    const result = await session.run(ortFeeds);
    return outputs.map((o) => fromOrtTensor(result[o] as ort.Tensor));
  } catch (err) {
    return { stage: 'run', error: (err as Error).message };
  } finally {
    if (options.executionProviders?.includes('webgpu')) unreleased.push(session);
    else await session.release();
  }
}

/** '' when equal within float32 tolerance, else what differs. */
export function compareOutputs(gpu: readonly HostTensor[], cpu: readonly HostTensor[], shapeOnly = false): string {
  for (let i = 0; i < cpu.length; i++) {
    const [g, r] = [gpu[i] as HostTensor, cpu[i] as HostTensor];
    if (g.dtype !== r.dtype) return `output ${i}: dtype ${g.dtype} vs ${r.dtype}`;
    if (g.shape.join(',') !== r.shape.join(',')) return `output ${i}: shape [${g.shape}] vs [${r.shape}]`;
    if (shapeOnly) continue;
    const [gv, rv] = [g.data as ArrayLike<unknown>, r.data as ArrayLike<unknown>];
    for (let j = 0; j < rv.length; j++) {
      const [a, b] = [gv[j], rv[j]];
      if (typeof b === 'number' && typeof a === 'number' && (r.dtype === 'float32' || r.dtype === 'float64')) {
        if (Number.isNaN(a) && Number.isNaN(b)) continue;
        if (!(Math.abs(a - b) <= 1e-4 + 1e-4 * Math.abs(b))) return `output ${i}[${j}]: ${a} vs ${b} (CPU)`;
      } else if (a instanceof Uint8Array && b instanceof Uint8Array) {
        if (Buffer.compare(a, b) !== 0) return `output ${i}[${j}]: bytes ${String(a)} vs ${String(b)} (CPU)`;
      } else if (a !== b) return `output ${i}[${j}]: ${String(a)} vs ${String(b)} (CPU)`;
    }
  }
  return '';
}

/** Runs one case for one dtype on the CPU EP and on the WebGPU EP without fallback, and compares. */
/**
 * Runs one case for one dtype on the CPU EP and on the WebGPU EP without fallback, and compares (`lowered`: the
 * case already lowered with lowerCase, as the adapter test does to ask the kernel table about its ops first).
 */
export async function runCase(
  k: KernelCase,
  dtype: DType,
  settings: SessionSettings = {},
  lowered?: LoweredCase,
): Promise<CaseResult> {
  const start = performance.now();
  const done = (r: Omit<CaseResult, 'op' | 'variant' | 'dtype'>): CaseResult => ({
    op: k.op,
    variant: k.variant,
    dtype,
    ...r,
    ms: Math.round(performance.now() - start),
  });
  if (k.noCompute) return done({ status: 'no-compute', detail: k.noCompute });
  if (!lowered) {
    try {
      lowered = lowerCase(k, dtype);
    } catch (err) {
      return done({ status: 'rejected', detail: firstLine((err as Error).message) });
    }
  }
  const { model, feeds, outputs, onnxNodes, typeAttrs } = lowered;
  const info = { onnxNodes, typeAttrs, declared: declaredOnGpu(lowered) };
  const cpuOptions = { ...SMALL_MODEL_OPTIONS, executionProviders: ['cpu'], logSeverityLevel: 4 as const };
  const cpu = await runModel(model, cpuOptions, feeds, outputs);
  if (!Array.isArray(cpu)) return done({ ...info, status: 'cpu-error', detail: firstLine(cpu.error) });
  const gpu = await runModel(model, webgpuSessionOptions(settings), feeds, outputs);
  if (!Array.isArray(gpu)) {
    return done({
      ...info,
      status: gpu.stage === 'create' ? 'not-claimed' : 'gpu-error',
      detail: firstLine(gpu.error),
    });
  }
  const diff = compareOutputs(gpu, cpu, k.shapeOnly);
  return done({ ...info, status: diff ? 'mismatch' : 'gpu', ...(diff ? { detail: diff } : {}) });
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').slice(0, 300);
}

// ---- the survey --------------------------------------------------------------------------------------------

export interface SurveyOptions {
  ops?: readonly string[];
  dtypes?: readonly DType[];
  /** Per-case ORT logIds (explain mode). */
  logIds?: boolean;
  onResult?: (r: CaseResult) => void;
}

export async function survey(options: SurveyOptions = {}): Promise<CaseResult[]> {
  const cases = kernelCases().filter((k) => !options.ops || options.ops.includes(k.op));
  const results: CaseResult[] = [];
  let n = 0;
  for (const k of cases) {
    for (const dtype of options.dtypes ?? DTYPES) {
      const logId = options.logIds ? `case-${n++}` : undefined;
      const r = await runCase(k, dtype, logId ? { logId, logSeverityLevel: 1 } : {});
      if (logId) (r as CaseResult & { logId?: string }).logId = logId;
      results.push(r);
      options.onResult?.(r);
      if (unreleased.length >= 100) await releaseSessions();
    }
  }
  await releaseSessions();
  return results;
}

const SHORT: Record<CaseStatus, string> = {
  gpu: 'GPU',
  'not-claimed': 'cpu',
  mismatch: 'WRONG',
  'gpu-error': 'ERR',
  rejected: '·',
  'cpu-error': '-',
  'no-compute': 'n/a',
};

export function formatTable(results: readonly CaseResult[]): string {
  const rows = new Map<string, CaseResult[]>();
  for (const r of results) {
    const key = r.variant ? `${r.op} (${r.variant})` : r.op;
    const list = rows.get(key) ?? [];
    list.push(r);
    rows.set(key, list);
  }
  const header = ['op', ...DTYPES];
  const lines = [...rows].map(([key, list]) => [
    key,
    ...DTYPES.map((d) => {
      const r = list.find((x) => x.dtype === d);
      return r ? SHORT[r.status] : '';
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

/** The survey as a markdown matrix, with the ONNX nodes the WebGPU EP did not claim (explain mode) per row. */
export function formatMarkdown(results: readonly CaseResult[]): string {
  const rows = new Map<string, CaseResult[]>();
  for (const r of results) {
    const key = r.variant ? `${r.op} (${r.variant})` : r.op;
    rows.set(key, [...(rows.get(key) ?? []), r]);
  }
  const lines = [
    `| op (case) | ${DTYPES.join(' | ')} | not claimed by the WebGPU EP |`,
    `| --- |${DTYPES.map(() => ' --- |').join('')} --- |`,
  ];
  for (const [key, list] of rows) {
    const cells = DTYPES.map((d) => {
      const r = list.find((x) => x.dtype === d);
      return r ? SHORT[r.status] : '';
    });
    const missing = new Map<string, DType[]>();
    for (const r of list) {
      for (const u of r.unclaimed ?? []) {
        const onnxOp = /Op type: (\w+)/.exec(u)?.[1];
        if (onnxOp && !missing.get(onnxOp)?.includes(r.dtype))
          missing.set(onnxOp, [...(missing.get(onnxOp) ?? []), r.dtype]);
      }
    }
    const why = [...missing].map(([o, ds]) => `${o} (${ds.join(', ')})`).join('; ');
    lines.push(`| ${key} | ${cells.join(' | ')} | ${why} |`);
  }
  return lines.join('\n');
}

/** The kernel table of the op defs (what the placer uses), as markdown: op → its GPU kernel's dtypes. */
export function formatKernelTable(): string {
  const lines = ['| op | GPU kernel (WebGPU EP) |', '| --- | --- |'];
  for (const def of registeredOps().values()) {
    if (def.type.startsWith('Test')) continue;
    let gpu: string;
    if (!def.kernels.includes('GPU')) gpu = 'none (CPU only)';
    else {
      const c = def.kernelConstraints?.GPU;
      const types = Object.entries(c?.types ?? {}).map(([attr, ds]) => `${attr} ∈ {${ds.join(', ')}}`);
      gpu = types.length > 0 ? types.join('; ') : 'every dtype the op takes';
      if (c?.requires) gpu += `; requires ${c.requires.description}`;
    }
    lines.push(`| ${def.type} | ${gpu} |`);
  }
  return lines.join('\n');
}

const LEGEND =
  'GPU = claimed by the WebGPU EP and equal to the CPU EP; cpu = some node not claimed (runs on the CPU EP only); ' +
  'WRONG = claimed but a different result; ERR = claimed but the run failed; · = the op def rejects the dtype; ' +
  '- = no CPU kernel either; n/a = nothing to lower';

// ---- CLI ---------------------------------------------------------------------------------------------------

const FALLBACK_ERROR =
  'This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled by the user.';

const UNCLAIMED = /\[I:onnxruntime:(case-\d+), webgpu_execution_provider\.cc:\d+ GetCapability\] (.*)$/;

async function worker(args: string[]): Promise<void> {
  const opsArg = argValue(args, '--op');
  await survey({
    ops: opsArg ? opsArg.split(',') : undefined,
    logIds: true,
    onResult: (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  });
}

function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Runs the survey in a child process and reads its ONNX Runtime log for unclaimed nodes. */
function explainedSurvey(args: string[]): Promise<CaseResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const results: (CaseResult & { logId?: string })[] = [];
    const why = new Map<string, Set<string>>();
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const r = JSON.parse(line) as CaseResult & { logId?: string };
        results.push(r);
        if (results.length % 100 === 0) process.stderr.write(`${results.length} cases\n`);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      let nl: number;
      while ((nl = err.indexOf('\n')) >= 0) {
        const line = err.slice(0, nl);
        err = err.slice(nl + 1);
        const m = UNCLAIMED.exec(line);
        if (m) {
          const set = why.get(m[1] as string) ?? new Set();
          set.add((m[2] as string).replace(/^webgpu kernel not found in registries for /, ''));
          why.set(m[1] as string, set);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`survey worker exited with ${code}`));
      for (const r of results) {
        const reasons = r.logId ? why.get(r.logId) : undefined;
        if (reasons && r.status !== 'gpu') r.unclaimed = [...reasons];
        delete r.logId;
      }
      resolve(results);
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--worker') return worker(args.slice(1));
  const opsArg = argValue(args, '--op');
  const probe = await discoverGpus();
  if (!probe.available) {
    console.error(`no WebGPU adapter, nothing to survey: ${probe.reason}`);
    process.exitCode = 2;
    return;
  }
  const missing = opsWithoutCases();
  if (missing.length > 0) console.error(`warning: ops without survey cases: ${missing.join(', ')}`);
  const results = args.includes('--no-explain')
    ? await survey({ ops: opsArg ? opsArg.split(',') : undefined })
    : await explainedSurvey(opsArg ? ['--op', opsArg] : []);
  if (args.includes('--markdown')) {
    console.log(`${formatKernelTable()}\n\n${formatMarkdown(results)}\n\n${LEGEND}`);
  } else {
    console.log(`${formatTable(results)}\n\n${LEGEND}\n`);
    for (const r of results) {
      if (r.status === 'gpu' || r.status === 'rejected' || r.status === 'no-compute') continue;
      const why = r.unclaimed ? ` [${r.unclaimed.join('; ')}]` : '';
      const detail = (r.detail ?? '').replace(FALLBACK_ERROR, 'nodes left to the CPU EP');
      console.log(`${r.op}${r.variant ? ` (${r.variant})` : ''} ${r.dtype}: ${r.status}: ${detail}${why}`);
    }
  }
  const wrong = results.filter((r) => r.declared === true && r.status !== 'gpu');
  const conservative = results.filter((r) => r.declared === false && r.status === 'gpu');
  console.log(`\nThe kernel table (hasKernel) says GPU but the WebGPU EP disagrees: ${wrong.length}`);
  for (const r of wrong) console.log(`  ${r.op}${r.variant ? ` (${r.variant})` : ''} ${r.dtype}: ${r.status}`);
  console.log(`The kernel table says CPU only but the case runs on the WebGPU EP: ${conservative.length}`);
  for (const r of conservative) console.log(`  ${r.op}${r.variant ? ` (${r.variant})` : ''} ${r.dtype}`);
  const jsonFile = argValue(args, '--json');
  if (jsonFile) {
    fs.writeFileSync(jsonFile, `${JSON.stringify({ ort: ort.env.versions, results }, null, 1)}\n`);
    console.log(`\nwrote ${jsonFile}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
