/**
 * Grappler's fused ops with every fused_ops combination TF.js supports (BiasAdd; Relu, Relu6, Elu, LeakyRelu
 * with leakyrelu_alpha, Prelu, Sigmoid; Prelu without a bias), each in a one-node TF.js graph model run by TF.js
 * and by flowserve on the same seeded input. FusedBatchNorm (TensorFlow's, which TF.js refuses) is checked
 * against TF.js's unfused conv2d → batchNorm → relu.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgument } from '../../src/errors.js';
import {
  convertTfjsModel,
  loadTfjsReference,
  maxScaledDiff,
  runConverted,
  runTfjs,
  seededFloats,
} from '../helpers/tfjs-reference.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (v: number[]) => ({ list: { i: v.map(String) } });
const FLOAT = { type: 'DT_FLOAT' };

interface Weight {
  name: string;
  shape: number[];
}

interface FusedCase {
  op: '_FusedConv2D' | 'FusedDepthwiseConv2dNative' | '_FusedMatMul';
  fusedOps: string[];
  /** Extra args after x and the filter/matrix, in order. */
  args: Weight[];
  extraAttrs?: Record<string, unknown>;
}

const X_CONV = [2, 5, 5, 3];
const X_MATMUL = [4, 6];

function baseWeight(op: FusedCase['op']): Weight {
  if (op === '_FusedMatMul') return { name: 'w', shape: [6, 5] };
  if (op === '_FusedConv2D') return { name: 'w', shape: [3, 3, 3, 4] };
  return { name: 'w', shape: [3, 3, 3, 2] };
}

function channels(op: FusedCase['op']): number {
  return op === '_FusedMatMul' ? 5 : op === '_FusedConv2D' ? 4 : 6;
}

/** A one-node TF.js graph model (model.json + weights.bin) in `dir`; returns its input shape and weights. */
async function writeModel(dir: string, c: FusedCase): Promise<{ xShape: number[]; values: Float32Array[] }> {
  const xShape = c.op === '_FusedMatMul' ? X_MATMUL : X_CONV;
  const weights = [baseWeight(c.op), ...c.args];
  const convAttrs =
    c.op === '_FusedMatMul'
      ? { transpose_a: { b: false }, transpose_b: { b: false } }
      : {
          strides: ints([1, 2, 1, 1]),
          padding: { s: b64('SAME') },
          data_format: { s: b64('NHWC') },
          dilations: ints([1, 1, 1, 1]),
        };
  const nodes = [
    {
      name: 'x',
      op: 'Placeholder',
      attr: { dtype: FLOAT, shape: { shape: { dim: xShape.map((d, i) => ({ size: String(i === 0 ? -1 : d) })) } } },
    },
    ...weights.map((w) => ({
      name: w.name,
      op: 'Const',
      attr: {
        dtype: FLOAT,
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: w.shape.map((d) => ({ size: String(d) })) } } },
      },
    })),
    {
      name: 'y',
      op: c.op,
      input: ['x', ...weights.map((w) => w.name)],
      attr: {
        T: FLOAT,
        fused_ops: { list: { s: c.fusedOps.map(b64) } },
        num_args: { i: String(c.args.length) },
        epsilon: { f: 0 },
        ...convAttrs,
        ...c.extraAttrs,
      },
    },
  ];
  const values = weights.map((w, i) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    // Variances stay positive; everything else spans both signs so every activation branch is exercised.
    return w.name === 'variance' ? seededFloats(n, 50 + i, 0.5, 2) : seededFloats(n, 50 + i, -1, 1);
  });
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'graph-model',
      modelTopology: { node: nodes, versions: { producer: 1 } },
      weightsManifest: [
        { paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) },
      ],
    }),
  );
  await writeFile(join(dir, 'weights.bin'), Buffer.concat(values.map((v) => Buffer.from(v.buffer))));
  return { xShape, values };
}

const bias = (op: FusedCase['op']): Weight => ({ name: 'bias', shape: [channels(op)] });
const alpha = (op: FusedCase['op']): Weight => ({ name: 'alpha', shape: [channels(op)] });

const CASES: FusedCase[] = [];
for (const op of ['_FusedConv2D', 'FusedDepthwiseConv2dNative', '_FusedMatMul'] as const) {
  CASES.push({ op, fusedOps: ['BiasAdd'], args: [bias(op)] });
  for (const act of ['Relu', 'Relu6', 'Elu', 'Sigmoid'])
    CASES.push({ op, fusedOps: ['BiasAdd', act], args: [bias(op)] });
  CASES.push({
    op,
    fusedOps: ['BiasAdd', 'LeakyRelu'],
    args: [bias(op)],
    extraAttrs: { leakyrelu_alpha: { f: 0.3 } },
  });
  CASES.push({ op, fusedOps: ['BiasAdd', 'Prelu'], args: [bias(op), alpha(op)] });
}

describe('Grappler fused ops against TF.js', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  for (const c of CASES) {
    it(`${c.op} [${c.fusedOps.join(', ')}]`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'flowserve-fused-'));
      dirs.push(dir);
      const { xShape, values } = await writeModel(dir, c);
      const file = join(dir, 'model.json');
      const [reference, converted] = await Promise.all([loadTfjsReference(file), convertTfjsModel(file)]);
      try {
        const feed = {
          name: 'x:0',
          data: seededFloats(
            xShape.reduce((a, b) => a * b, 1),
            7,
            -2,
            2,
          ),
          shape: xShape,
        };
        // TF.js's fused depthwise kernel drops leakyrelu_alpha (its output is NaN): unfused TF.js ops instead.
        const [expected] =
          c.op === 'FusedDepthwiseConv2dNative' && c.fusedOps[1] === 'LeakyRelu'
            ? [
                tf.tidy(() => {
                  const [w, b] = [
                    tf.tensor4d(values[0] as Float32Array, [3, 3, 3, 2]),
                    tf.tensor1d(values[1] as Float32Array),
                  ];
                  const x = tf.tensor4d(feed.data, xShape as [number, number, number, number]);
                  return tf
                    .leakyRelu(tf.add(tf.depthwiseConv2d(x, w, [2, 1], 'same'), b), 0.3)
                    .dataSync() as Float32Array;
                }),
              ]
            : runTfjs(reference, feed, ['y:0']);
        const [actual] = await runConverted(converted, feed, ['y:0']);
        const diff = maxScaledDiff(actual?.data as Float32Array, expected as Float32Array);
        assert.ok(
          diff <= 1e-5,
          `max diff ${diff}: ${actual?.data.slice(0, 6).join(',')} vs ${expected?.slice(0, 6).join(',')}`,
        );
      } finally {
        await converted.session.release();
        reference.dispose();
      }
    });
  }

  it('_FusedConv2D [FusedBatchNorm, Relu] as conv2d, batchNorm with epsilon, relu', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-fused-'));
    dirs.push(dir);
    const stats = ['scale', 'offset', 'mean', 'variance'].map((name) => ({ name, shape: [4] }));
    const c: FusedCase = {
      op: '_FusedConv2D',
      fusedOps: ['FusedBatchNorm', 'Relu'],
      args: stats,
      extraAttrs: { epsilon: { f: 0.001 } },
    };
    const { xShape } = await writeModel(dir, c);
    const converted = await convertTfjsModel(join(dir, 'model.json'));
    try {
      const data = seededFloats(
        xShape.reduce((a, b) => a * b, 1),
        7,
        -2,
        2,
      );
      const [actual] = await runConverted(converted, { name: 'x:0', data, shape: xShape }, ['y:0']);
      const values = [baseWeight(c.op), ...stats].map((w, i) =>
        w.name === 'variance'
          ? seededFloats(
              w.shape.reduce((a, b) => a * b, 1),
              50 + i,
              0.5,
              2,
            )
          : seededFloats(
              w.shape.reduce((a, b) => a * b, 1),
              50 + i,
              -1,
              1,
            ),
      );
      const expected = tf.tidy(() => {
        const [w, scale, offset, mean, variance] = values.map((v, i) =>
          tf.tensor(v, i === 0 ? [3, 3, 3, 4] : [4]),
        ) as tf.Tensor[];
        const conv = tf.conv2d(
          tf.tensor4d(data, xShape as [number, number, number, number]),
          w as tf.Tensor4D,
          [2, 1],
          'same',
        );
        return tf
          .relu(
            tf.batchNorm(
              conv,
              mean as tf.Tensor1D,
              variance as tf.Tensor1D,
              offset as tf.Tensor1D,
              scale as tf.Tensor1D,
              0.001,
            ),
          )
          .dataSync();
      });
      assert.ok(maxScaledDiff(actual?.data as Float32Array, expected as Float32Array) <= 1e-5);
    } finally {
      await converted.session.release();
    }
  });

  it('refuses a fused_ops combination it does not know, naming the node and the combination', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-fused-'));
    dirs.push(dir);
    await writeModel(dir, { op: '_FusedMatMul', fusedOps: ['BiasAdd', 'Gelu'], args: [bias('_FusedMatMul')] });
    await assert.rejects(
      convertTfjsModel(join(dir, 'model.json')),
      (err: Error) =>
        err instanceof InvalidArgument &&
        /node 'y' \(_FusedMatMul\): fused_ops \[BiasAdd, Gelu\] is not supported/.test(err.message),
    );
  });

  it('refuses an activation with no BiasAdd or FusedBatchNorm before it, as TensorFlow does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-fused-'));
    dirs.push(dir);
    await writeModel(dir, { op: '_FusedConv2D', fusedOps: ['Prelu'], args: [alpha('_FusedConv2D')] });
    await assert.rejects(convertTfjsModel(join(dir, 'model.json')), /fused_ops \[Prelu\] is not supported/);
  });

  it('refuses a fused node whose num_args does not match its inputs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-fused-'));
    dirs.push(dir);
    await writeModel(dir, { op: '_FusedConv2D', fusedOps: ['BiasAdd', 'Prelu'], args: [bias('_FusedConv2D')] });
    await assert.rejects(convertTfjsModel(join(dir, 'model.json')), /needs 2 \+ 2 inputs, got 3/);
  });
});
