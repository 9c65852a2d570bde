import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { broadcastBinary, mapNd, matmulRef, nd, randomNd, softmaxRef, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

const BROADCAST_CASES: [string, number[], number[]][] = [
  ['[2,3] with [3]', [2, 3], [3]],
  ['[2,1] with [1,3]', [2, 1], [1, 3]],
  ['[2,3] with a scalar', [2, 3], []],
  ['a scalar with [2,3]', [], [2, 3]],
];

type Binary = (a: fs.TensorLike, b: fs.TensorLike) => Tensor;
const BINARY: [string, Binary, (x: number, y: number) => number, number, number][] = [
  ['add', fs.add, (x, y) => x + y, -1, 1],
  ['sub', fs.sub, (x, y) => x - y, -1, 1],
  ['mul', fs.mul, (x, y) => x * y, -1, 1],
  ['div', fs.div, (x, y) => x / y, 0.5, 2],
  ['pow', fs.pow, (x, y) => x ** y, 0.5, 2],
  ['maximum', fs.maximum, Math.max, -1, 1],
  ['minimum', fs.minimum, Math.min, -1, 1],
];

describe('binary arithmetic forward', () => {
  for (const [name, op, ref, lo, hi] of BINARY) {
    for (const [label, sa, sb] of BROADCAST_CASES) {
      it(`${name} broadcasts ${label} (float64)`, async () => {
        const a = randomNd(sa, 1, lo, hi);
        const b = randomNd(sb, 2, lo, hi);
        const out = await evaluate((x, y) => op(x as Tensor, y as Tensor), [host(a), host(b)]);
        const expected = broadcastBinary(a, b, ref);
        assert.deepEqual(out.shape, expected.shape);
        assertClose(out.toNumbers(), expected.data, 1e-14, 1e-14, name);
      });
    }
    it(`${name} in float32 matches the float64 reference to float32 precision`, async () => {
      const a = randomNd([2, 3], 3, lo, hi);
      const b = randomNd([3], 4, lo, hi);
      const out = await evaluate((x, y) => op(x as Tensor, y as Tensor), [host(a, 'float32'), host(b, 'float32')]);
      assert.equal(out.dtype, 'float32');
      const f32 = (v: Nd) => mapNd(v, Math.fround);
      assertClose(out.toNumbers(), broadcastBinary(f32(a), f32(b), ref).data, 1e-6, 1e-6, name);
    });
  }

  for (const dtype of ['int32', 'int64'] as const) {
    it(`add, sub, mul, maximum, minimum, neg and abs work on ${dtype}`, async () => {
      const a = nd([2, 3], [1, -2, 3, -4, 5, -6]);
      const b = nd([3], [7, -3, 2]);
      const cases: [Binary, (x: number, y: number) => number][] = [
        [fs.add, (x, y) => x + y],
        [fs.sub, (x, y) => x - y],
        [fs.mul, (x, y) => x * y],
        [fs.maximum, Math.max],
        [fs.minimum, Math.min],
      ];
      for (const [op, ref] of cases) {
        const out = await evaluate((x, y) => op(x as Tensor, y as Tensor), [host(a, dtype), host(b, dtype)]);
        assert.equal(out.dtype, dtype);
        assert.deepEqual(out.toNumbers(), broadcastBinary(a, b, ref).data);
      }
      const negOut = await evaluate((x) => fs.neg(x as Tensor), [host(a, dtype)]);
      assert.deepEqual(
        negOut.toNumbers(),
        a.data.map((v) => -v),
      );
      const absOut = await evaluate((x) => fs.abs(x as Tensor), [host(a, dtype)]);
      assert.deepEqual(absOut.toNumbers(), a.data.map(Math.abs));
    });
  }

  it('plain numbers take the dtype of the tensor operand', async () => {
    const a = nd([3], [1, 2, 3]);
    const out = await evaluate((x) => fs.sub(1, fs.mul(x as Tensor, 2)), [host(a, 'float32')]);
    assert.equal(out.dtype, 'float32');
    assert.deepEqual(out.toNumbers(), [-1, -3, -5]);
  });
});

describe('comparisons and logic', () => {
  const a = nd([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = nd([3], [2, 2, 7]);
  const cases: [string, Binary, (x: number, y: number) => boolean][] = [
    ['equal', fs.equal, (x, y) => x === y],
    ['less', fs.less, (x, y) => x < y],
    ['greater', fs.greater, (x, y) => x > y],
    ['lessEqual', fs.lessEqual, (x, y) => x <= y],
    ['greaterEqual', fs.greaterEqual, (x, y) => x >= y],
  ];
  for (const dtype of ['float32', 'float64', 'int32', 'int64'] as const) {
    it(`compare ${dtype} operands with broadcasting into bool`, async () => {
      for (const [name, op, ref] of cases) {
        const out = await evaluate((x, y) => op(x as Tensor, y as Tensor), [host(a, dtype), host(b, dtype)]);
        assert.equal(out.dtype, 'bool', name);
        assert.deepEqual(out.toNumbers(), broadcastBinary(a, b, (x, y) => (ref(x, y) ? 1 : 0)).data, name);
      }
    });
  }
  it('logicalAnd, logicalOr and logicalNot work on bool', async () => {
    const p = HostTensor.from('bool', [
      [true, true],
      [false, false],
    ]);
    const q = HostTensor.from('bool', [true, false]);
    assert.deepEqual(
      (await evaluate((x, y) => fs.logicalAnd(x as Tensor, y as Tensor), [p, q])).toNumbers(),
      [1, 0, 0, 0],
    );
    assert.deepEqual(
      (await evaluate((x, y) => fs.logicalOr(x as Tensor, y as Tensor), [p, q])).toNumbers(),
      [1, 1, 1, 0],
    );
    assert.deepEqual((await evaluate((x) => fs.logicalNot(x as Tensor), [q])).toNumbers(), [0, 1]);
  });
  it('comparisons are not differentiable: gradients stop without error', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const x = fs.placeholder('float64', { shape: [3] });
      const y = fs.mul(x, fs.cast(fs.greater(x, 0), 'float64'));
      const [dx] = gradients(fs.reduceSum(y), [x]);
      assert.ok(dx);
    });
  });
});

type Unary = (x: fs.TensorLike) => Tensor;
const sigmoidRef = (v: number) => 1 / (1 + Math.exp(-v));
const UNARY: [string, Unary, (x: number) => number, number, number][] = [
  ['neg', fs.neg, (v) => -v, -2, 2],
  ['exp', fs.exp, Math.exp, -2, 2],
  ['log', fs.log, Math.log, 0.2, 3],
  ['sqrt', fs.sqrt, Math.sqrt, 0.2, 3],
  ['square', fs.square, (v) => v * v, -2, 2],
  ['abs', fs.abs, Math.abs, -2, 2],
  ['relu', fs.relu, (v) => Math.max(v, 0), -2, 2],
  ['sigmoid', fs.sigmoid, sigmoidRef, -3, 3],
  ['tanh', fs.tanh, Math.tanh, -3, 3],
];

describe('unary math forward', () => {
  for (const [name, op, ref, lo, hi] of UNARY) {
    it(`${name} matches the reference (float64)`, async () => {
      const x = randomNd([2, 4], 11, lo, hi);
      const out = await evaluate((t) => op(t as Tensor), [host(x)]);
      assertClose(out.toNumbers(), x.data.map(ref), 1e-14, 1e-15, name);
    });
  }
  it('softmax and logSoftmax act on the last axis', async () => {
    const x = randomNd([2, 3, 4], 12, -3, 3);
    const sm = await evaluate((t) => fs.softmax(t as Tensor), [host(x)]);
    assertClose(sm.toNumbers(), softmaxRef(x).data, 1e-13, 1e-15, 'softmax');
    const lsm = await evaluate((t) => fs.logSoftmax(t as Tensor), [host(x)]);
    assertClose(lsm.toNumbers(), softmaxRef(x, true).data, 1e-13, 1e-14, 'logSoftmax');
  });
  it('float math rejects integer inputs, naming the op', () => {
    fs.withGraph(new fs.Graph(), () => {
      const i = fs.constant([1, 2], { dtype: 'int32' });
      assert.throws(
        () => fs.exp(i, { name: 'myExp' }),
        (e: Error) => e instanceof InvalidArgument && /myExp/.test(e.message) && /int32/.test(e.message),
      );
      assert.throws(() => fs.div(i, i), InvalidArgument);
    });
  });
});

describe('matmul forward', () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['2-D', [2, 3], [3, 4], false, false],
    ['transposeA', [3, 2], [3, 4], true, false],
    ['transposeB', [2, 3], [4, 3], false, true],
    ['both transposed', [3, 2], [4, 3], true, true],
    ['batched with a broadcast matrix', [2, 2, 3], [3, 4], false, false],
    ['batch broadcasting [2,1,..] x [3,..]', [2, 1, 2, 3], [3, 4, 3], false, true],
  ];
  for (const [label, sa, sb, ta, tb] of cases) {
    it(`${label}`, async () => {
      const a = randomNd(sa, 21);
      const b = randomNd(sb, 22);
      const out = await evaluate(
        (x, y) => fs.matmul(x as Tensor, y as Tensor, { transposeA: ta, transposeB: tb }),
        [host(a), host(b)],
      );
      const expected = matmulRef(a, b, ta, tb);
      assert.deepEqual(out.shape, expected.shape);
      assertClose(out.toNumbers(), expected.data, 1e-13, 1e-14, label);
    });
  }
  it('int32 matmul works', async () => {
    const a = nd([2, 2], [1, 2, 3, 4]);
    const out = await evaluate((x) => fs.matmul(x as Tensor, x as Tensor), [host(a, 'int32')]);
    assert.deepEqual(out.toNumbers(), [7, 10, 15, 22]);
  });
});

describe('build-time errors', () => {
  it('incompatible shapes name the op and both shapes', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.placeholder('float32', { shape: [2, 3] });
      const b = fs.placeholder('float32', { shape: [4] });
      for (const op of [fs.add, fs.sub, fs.mul, fs.div, fs.maximum, fs.less]) {
        assert.throws(
          () => op(a, b, { name: 'bad' }),
          (e: Error) =>
            e instanceof InvalidArgument &&
            /'bad(_\d+)?'/.test(e.message) &&
            /\[2,3\]/.test(e.message) &&
            /\[4\]/.test(e.message),
        );
      }
    });
  });
  it('a dtype mismatch names both tensors', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.placeholder('float32', { shape: [2] });
      const b = fs.placeholder('float64', { shape: [2] });
      assert.throws(() => fs.add(a, b, { name: 'mixed' }), /'mixed'.*float32.*float64/);
    });
  });
  it('matmul inner dimensions must agree', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.placeholder('float32', { shape: [2, 3] });
      const b = fs.placeholder('float32', { shape: [4, 5] });
      assert.throws(() => fs.matmul(a, b, { name: 'mm' }), /Dimensions must be equal, but are 3 and 4 for 'mm'/);
    });
  });
  it('unknown dims broadcast against known ones', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.placeholder('float32', { shape: [null, 3] });
      assert.deepEqual(fs.add(a, fs.constant([1, 2, 3])).shape, [null, 3]);
      assert.deepEqual(fs.matmul(a, fs.placeholder('float32', { shape: [3, 4] })).shape, [null, 4]);
    });
  });
});

describe('gradients (numeric check, float64)', () => {
  for (const [name, op, , lo, hi] of BINARY) {
    for (const [label, sa, sb] of BROADCAST_CASES) {
      it(`${name} ${label}`, async () => {
        // maximum/minimum are checked on distinct values (no ties), pow on positive bases.
        await gradcheck((x, y) => op(x as Tensor, y as Tensor), [randomNd(sa, 31, lo, hi), randomNd(sb, 32, lo, hi)]);
      });
    }
  }
  it('add with an unknown batch dim: [?,3] + [3]', async () => {
    await gradcheck((x, y) => fs.add(x as Tensor, y as Tensor), [randomNd([4, 3], 1), randomNd([3], 2)], {
      shapes: [[null, 3], [3]],
    });
  });
  it('mul with [?,1] * [1,3] (unknown batch, both broadcast)', async () => {
    await gradcheck((x, y) => fs.mul(x as Tensor, y as Tensor), [randomNd([2, 1], 1), randomNd([1, 3], 2)], {
      shapes: [
        [null, 1],
        [1, 3],
      ],
    });
  });
  for (const [name, op, , lo, hi] of UNARY) {
    it(`${name}`, async () => {
      // relu and abs: values kept away from the kink at 0.
      const x = randomNd([2, 3], 41, lo, hi);
      const safe = name === 'relu' || name === 'abs' ? mapNd(x, (v) => (Math.abs(v) < 0.1 ? v + 0.3 : v)) : x;
      await gradcheck((t) => op(t as Tensor), [safe]);
    });
  }
  it("relu's gradient is TensorFlow's ReluGrad, g · (x > 0): −0 where a negative g is masked, NaN where an infinite one is", async () => {
    const x = HostTensor.from('float32', [-1, 0, 2, -3, 4, -5], [6]);
    const g = HostTensor.from('float32', [-2, -3, -4, 5, 6, Infinity], [6]);
    const dx = await evaluate((xs, gs) => gradients(fs.relu(xs), [xs], [gs])[0] as Tensor, [x, g]);
    assert.deepEqual([...(dx.data as Float32Array)], [-0, -0, -4, 0, 6, NaN]);
  });
  it("relu's second-order gradient routes through the same mask", async () => {
    // d/dg of ReluGrad(g, x) · w summed is w · (x > 0).
    const x = HostTensor.from('float32', [-1, 2, 3], [3]);
    const out = await evaluate(
      (xs) => {
        const g = fs.mul(xs, 1);
        const dx = gradients(fs.relu(xs), [xs], [g])[0] as Tensor;
        return gradients(fs.mul(dx, fs.constant([10, 20, 30])), [g])[0] as Tensor;
      },
      [x],
    );
    assert.deepEqual([...(out.data as Float32Array)], [0, 20, 30]);
  });
  it('softmax', async () => {
    await gradcheck((t) => fs.softmax(t as Tensor), [randomNd([2, 4], 51, -2, 2)]);
  });
  it('logSoftmax', async () => {
    await gradcheck((t) => fs.logSoftmax(t as Tensor), [randomNd([2, 4], 52, -2, 2)]);
  });
  const mm: [string, number[], number[], boolean, boolean][] = [
    ['matmul', [2, 3], [3, 4], false, false],
    ['matmul transposeA', [3, 2], [3, 4], true, false],
    ['matmul transposeB', [2, 3], [4, 3], false, true],
    ['matmul transposeA and transposeB', [3, 2], [4, 3], true, true],
    ['batched matmul broadcasting a matrix', [2, 2, 3], [3, 2], false, false],
    ['batched matmul with broadcast batch dims and transposes', [2, 1, 3, 2], [3, 2, 3], true, true],
  ];
  for (const [label, sa, sb, ta, tb] of mm) {
    it(label, async () => {
      await gradcheck(
        (x, y) => fs.matmul(x as Tensor, y as Tensor, { transposeA: ta, transposeB: tb }),
        [randomNd(sa, 61), randomNd(sb, 62)],
      );
    });
  }
  it('maximum routes the gradient to the larger input and ties to the first', async () => {
    const g = new fs.Graph();
    const { a, b, da, db } = fs.withGraph(g, () => {
      const a = fs.constant([1, 5, 3], { dtype: 'float64' });
      const b = fs.constant([2, 4, 3], { dtype: 'float64' });
      const [da, db] = gradients(fs.maximum(a, b), [a, b]);
      return { a, b, da, db };
    });
    assert.ok(a && b);
    const sess = new fs.Session(g, { logger: () => {} });
    const [ga, gb] = (await sess.run([da as Tensor, db as Tensor])) as HostTensor[];
    await sess.close();
    assert.deepEqual(ga?.toNumbers(), [0, 1, 1]);
    assert.deepEqual(gb?.toNumbers(), [1, 0, 0]);
  });
});
