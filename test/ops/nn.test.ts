import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as fs from '../../src/index.js';
import { kernelDeviceTypes } from '../../src/ops/kernels.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { lowerNet } from '../helpers/layout-lowering.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { conv2dGradRef, conv2dRef, poolRef, randomNd, type Nd, type Window } from '../helpers/reference.js';

const { onnx } = onnxProto;

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

/** Runs the symbolic gradient of Σ(op(inputs)·dy) and returns the gradients w.r.t. every input. */
async function symbolicGrads(
  build: (...xs: Tensor[]) => Tensor,
  inputs: readonly HostTensor[],
  dy: Nd,
): Promise<HostTensor[]> {
  const g = new fs.Graph();
  const { phs, grads } = fs.withGraph(g, () => {
    const phs = inputs.map((t, i) => fs.placeholder(t.dtype, { shape: t.shape, name: `in${i}` }));
    const y = build(...phs);
    const w = fs.constant(HostTensor.from(inputs[0]?.dtype ?? 'float32', dy.data, dy.shape));
    return { phs, grads: gradients(fs.reduceSum(fs.mul(y, w)), phs) as Tensor[] };
  });
  const sess = new fs.Session(g, { logger: () => {} });
  try {
    return (await sess.run(grads, new Map(phs.map((p, i) => [p, inputs[i] as HostTensor])))) as HostTensor[];
  } finally {
    await sess.close();
  }
}

const CONV_CASES: [string, number[], number[], [number, number], 'SAME' | 'VALID'][] = [
  ['SAME stride 1', [2, 5, 5, 2], [3, 3, 2, 3], [1, 1], 'SAME'],
  ['VALID stride 1', [2, 5, 5, 2], [3, 3, 2, 3], [1, 1], 'VALID'],
  ['SAME stride 2 (asymmetric padding)', [1, 6, 5, 2], [3, 3, 2, 2], [2, 2], 'SAME'],
  ['VALID stride 2 (non-dividing)', [1, 6, 7, 2], [3, 2, 2, 3], [2, 2], 'VALID'],
  ['SAME stride 2 with an even kernel', [1, 6, 6, 1], [2, 2, 1, 2], [2, 2], 'SAME'],
];

describe('conv2d', () => {
  for (const [label, xs, fsz, strides, padding] of CONV_CASES) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`forward ${label} (${dtype})`, async () => {
        const x = randomNd(xs, 1);
        const f = randomNd(fsz, 2);
        const out = await evaluate(
          (a, b) => fs.conv2d(a as Tensor, b as Tensor, { strides, padding }),
          [host(x, dtype), host(f, dtype)],
        );
        const expected = conv2dRef(x, f, strides, padding);
        assert.deepEqual(out.shape, expected.shape);
        const tol = dtype === 'float32' ? 1e-5 : 1e-13;
        assertClose(out.toNumbers(), expected.data, tol, tol, label);
      });
    }
    it(`gradients ${label} (float64, numeric)`, async () => {
      await gradcheck(
        (a, b) => fs.conv2d(a as Tensor, b as Tensor, { strides, padding }),
        [randomNd(xs, 3), randomNd(fsz, 4)],
      );
    });
    it(`gradients ${label} (float32 Conv/ConvTranspose recipe vs reference)`, async () => {
      const x = randomNd(xs, 5);
      const f = randomNd(fsz, 6);
      const y = conv2dRef(x, f, strides, padding);
      const dy = randomNd(y.shape, 7);
      const [dx, df] = await symbolicGrads(
        (a, b) => fs.conv2d(a as Tensor, b as Tensor, { strides, padding }),
        [host(x, 'float32'), host(f, 'float32')],
        dy,
      );
      const ref = conv2dGradRef(x, f, dy, strides, padding);
      assertClose(dx?.toNumbers() ?? [], ref.dx.data, 1e-4, 1e-5, 'dx');
      assertClose(df?.toNumbers() ?? [], ref.df.data, 1e-4, 1e-5, 'df');
    });
  }
  it('accepts TensorFlow NHWC strides [1, s, s, 1] and an unknown batch dim', async () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, 28, 28, 1] });
      const f = fs.placeholder('float32', { shape: [5, 5, 1, 32] });
      assert.deepEqual(fs.conv2d(x, f, { strides: [1, 2, 2, 1], padding: 'SAME' }).shape, [null, 14, 14, 32]);
      assert.deepEqual(fs.conv2d(x, f, { strides: [1, 1, 1, 1], padding: 'VALID' }).shape, [null, 24, 24, 32]);
    });
    await gradcheck(
      (a, b) => fs.conv2d(a as Tensor, b as Tensor, { strides: 2, padding: 'SAME' }),
      [randomNd([2, 4, 4, 1], 8), randomNd([3, 3, 1, 2], 9)],
      { shapes: [[null, 4, 4, 1], undefined] },
    );
  });
  it('rejects mismatched depths, bad strides and unknown spatial dims, naming the op', () => {
    fs.withGraph(new fs.Graph(), () => {
      const x = fs.placeholder('float32', { shape: [1, 5, 5, 2] });
      const f = fs.placeholder('float32', { shape: [3, 3, 3, 4] });
      assert.throws(() => fs.conv2d(x, f, { padding: 'SAME', name: 'c1' }), /'c1'.*\[1,5,5,2\].*\[3,3,3,4\]/);
      const f2 = fs.placeholder('float32', { shape: [3, 3, 2, 4] });
      assert.throws(() => fs.conv2d(x, f2, { padding: 'SAME', strides: [2, 1, 1, 2] }), InvalidArgument);
      const u = fs.placeholder('float32', { shape: [1, null, 5, 2] });
      assert.throws(() => fs.conv2d(u, f2, { padding: 'VALID', name: 'c2' }), /'c2'.*height/);
      const i = fs.placeholder('int32', { shape: [1, 5, 5, 2] });
      assert.throws(
        () => fs.conv2d(i, fs.placeholder('int32', { shape: [3, 3, 2, 4] }), { padding: 'SAME' }),
        InvalidArgument,
      );
    });
  });
});

const POOL_CASES: [string, number[], Window][] = [
  ['2x2 stride 2 VALID', [2, 4, 4, 2], { ksize: [2, 2], strides: [2, 2], padding: 'VALID' }],
  ['3x3 stride 2 SAME (overlapping, padded)', [1, 5, 5, 2], { ksize: [3, 3], strides: [2, 2], padding: 'SAME' }],
  ['3x3 stride 1 SAME', [1, 4, 5, 1], { ksize: [3, 3], strides: [1, 1], padding: 'SAME' }],
  ['2x3 stride [1,2] VALID', [1, 5, 6, 2], { ksize: [2, 3], strides: [1, 2], padding: 'VALID' }],
  [
    '2x2 stride 2 SAME (padded, windows never overlap)',
    [2, 5, 5, 2],
    { ksize: [2, 2], strides: [2, 2], padding: 'SAME' },
  ],
];

describe('pooling', () => {
  for (const [kind, op] of [
    ['max', fs.maxPool],
    ['avg', fs.avgPool],
  ] as const) {
    for (const [label, xs, win] of POOL_CASES) {
      for (const dtype of ['float32', 'float64'] as const) {
        it(`${kind}Pool forward ${label} (${dtype})`, async () => {
          const x = randomNd(xs, 11);
          const out = await evaluate((t) => op(t as Tensor, win), [host(x, dtype)]);
          const expected = poolRef(x, win, kind).y;
          assert.deepEqual(out.shape, expected.shape);
          const tol = dtype === 'float32' ? 1e-6 : 1e-14;
          assertClose(out.toNumbers(), expected.data, tol, tol, label);
        });
        it(`${kind}Pool gradient ${label} (${dtype}) matches the reference routing`, async () => {
          const x = randomNd(xs, 12);
          const dy = randomNd(poolRef(x, win, kind).y.shape, 13);
          const [dx] = await symbolicGrads((t) => op(t as Tensor, win), [host(x, dtype)], dy);
          const tol = dtype === 'float32' ? 1e-5 : 1e-13;
          assertClose(dx?.toNumbers() ?? [], poolRef(x, win, kind, dy).dx.data, tol, tol, label);
        });
      }
      it(`${kind}Pool gradient ${label} (float64, numeric)`, async () => {
        await gradcheck((t) => op(t as Tensor, win), [randomNd(xs, 14)]);
      });
    }
  }
  it('pool options accept TensorFlow [1, k, k, 1] forms and unknown batch dims', async () => {
    const win = { ksize: [1, 2, 2, 1], strides: [1, 2, 2, 1], padding: 'SAME' as const };
    await gradcheck((t) => fs.avgPool(t as Tensor, win), [randomNd([2, 3, 3, 2], 15)], { shapes: [[null, 3, 3, 2]] });
    await gradcheck((t) => fs.maxPool(t as Tensor, win), [randomNd([2, 3, 3, 2], 16)], { shapes: [[null, 3, 3, 2]] });
  });
  it("MaxPool's gradient over windows that never overlap goes to each window's first maximum, ties of zeros too", async () => {
    // One image, one channel, 4×4 after a ReLU: the left windows are all zeros (a tie), the right ones tie at 5.
    const x = HostTensor.from('float32', [0, 0, 5, 1, 0, 0, 2, 5, 0, 0, 5, 5, 0, 0, 5, 5], [1, 4, 4, 1]);
    const dy: Nd = { shape: [1, 2, 2, 1], data: [1, 2, 3, 4] };
    const [dx] = await symbolicGrads((t) => fs.maxPool(t, { ksize: 2, strides: 2, padding: 'VALID' }), [x], dy);
    assert.deepEqual(dx?.toNumbers(), [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]);
  });
  it('MaxPoolGrad scatters with MaxUnpool where windows never overlap, and adds with ScatterElements where they do', () => {
    const opTypes = (ksize: number, strides: number) => {
      const net = fs.withGraph(new fs.Graph(), () => {
        const x = fs.placeholder('float32', { shape: [null, 6, 6, 2], name: 'x' });
        const [dx] = fs.gradients(fs.reduceSum(fs.maxPool(x, { ksize, strides, padding: 'SAME' })), [x]);
        return { x, outputs: [dx as Tensor], outputNames: ['dx'] };
      });
      const graph = onnx.ModelProto.decode(lowerNet(net, false)).graph as InstanceType<typeof onnx.GraphProto>;
      return new Set(graph.node.map((n) => n.opType));
    };
    for (const [ksize, strides] of [
      [2, 2],
      [1, 2],
      [2, 3],
    ] as const) {
      const types = opTypes(ksize, strides);
      assert.ok(types.has('MaxUnpool') && !types.has('ScatterElements'), `ksize ${ksize}, strides ${strides}`);
    }
    const overlapping = opTypes(3, 2);
    assert.ok(overlapping.has('ScatterElements') && !overlapping.has('MaxUnpool'), 'ksize 3, strides 2');
  });
  it('MaxPoolGrad has a GPU kernel for float32 windows that tile the input only (no MaxPool Indices there)', () => {
    const gradOp = (dtype: 'float32' | 'float64', size: number, ksize: number, strides: number) =>
      fs.withGraph(new fs.Graph(), () => {
        const x = fs.placeholder(dtype, { shape: [null, size, size, 2] });
        const [dx] = fs.gradients(fs.reduceSum(fs.maxPool(x, { ksize, strides, padding: 'VALID' })), [x]);
        return (dx as Tensor).op.graph.operations.find((op) => op.type === 'MaxPoolGrad') as fs.Operation;
      });
    assert.deepEqual(kernelDeviceTypes(gradOp('float32', 4, 2, 2)), ['CPU', 'GPU']);
    assert.deepEqual(kernelDeviceTypes(gradOp('float32', 5, 3, 2)), ['CPU'], 'overlapping windows');
    assert.deepEqual(kernelDeviceTypes(gradOp('float32', 5, 2, 2)), ['CPU'], 'windows that leave a row out');
    assert.deepEqual(kernelDeviceTypes(gradOp('float64', 4, 2, 2)), ['CPU'], 'float64');
    assert.deepEqual([...fs.MaxPool.kernels], ['CPU', 'GPU']);
  });
});

describe('biasAdd', () => {
  it('adds along the last axis and sums the bias gradient', async () => {
    const x = randomNd([2, 3, 4], 21);
    const b = randomNd([4], 22);
    const out = await evaluate((a, c) => fs.biasAdd(a as Tensor, c as Tensor), [host(x), host(b)]);
    assertClose(
      out.toNumbers(),
      x.data.map((v, i) => v + (b.data[i % 4] as number)),
      1e-15,
      1e-15,
    );
    await gradcheck((a, c) => fs.biasAdd(a as Tensor, c as Tensor), [x, b]);
  });
  it('rejects a bias that does not match the last dimension', () => {
    fs.withGraph(new fs.Graph(), () => {
      const x = fs.placeholder('float32', { shape: [2, 3] });
      assert.throws(() => fs.biasAdd(x, fs.constant([1, 2]), { name: 'ba' }), /'ba'.*\[2,3\].*\[2\]/);
    });
  });
});
