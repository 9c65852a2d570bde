import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { addN, addV2, elu, erf, leakyRelu, prelu, relu6, rsqrt, selu, softplus } from '../../src/ops/activations.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

/** Values that cover both branches, the kinks, and magnitudes where a naive formula overflows. */
const EDGES = [-50, -6.5, -1, -1e-3, 0, 1e-3, 0.5, 5.999, 6, 6.5, 50];

// Float64 references written from TensorFlow's definitions, independently of the lowerings.
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;
function erfRef(x: number): number {
  // erf by its Maclaurin series (|x| <= 3) or the continued-fraction tail: exact to ~1e-15 where tested.
  if (Math.abs(x) > 3) return Math.sign(x) * (1 - erfcTail(Math.abs(x)));
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
function erfcTail(x: number): number {
  let f = 0;
  for (let k = 60; k >= 1; k--) f = k / 2 / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}

const UNARY: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
  ['Relu6', (x) => relu6(x), (v) => Math.min(Math.max(v, 0), 6)],
  ['Elu', (x) => elu(x), (v) => (v > 0 ? v : Math.expm1(v))],
  ['Selu', (x) => selu(x), (v) => (v > 0 ? SELU_SCALE * v : SELU_SCALE * SELU_ALPHA * Math.expm1(v))],
  ['LeakyRelu alpha 0.2', (x) => leakyRelu(x), (v) => (v > 0 ? v : 0.2 * v)],
  ['LeakyRelu alpha 0.01', (x) => leakyRelu(x, 0.01), (v) => (v > 0 ? v : 0.01 * v)],
  ['Softplus', (x) => softplus(x), (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)))],
];

describe('TensorFlow activations', () => {
  for (const [label, build, ref] of UNARY) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${label} matches TensorFlow's definition on both branches and at the kinks (${dtype})`, async () => {
        const x = { shape: [EDGES.length], data: EDGES };
        const out = await evaluate(build, [host(x, dtype)]);
        const expected = EDGES.map((v) => ref(dtype === 'float32' ? Math.fround(v) : v));
        const tol = dtype === 'float32' ? 2e-6 : 1e-14;
        assertClose(out.toNumbers(), expected, tol, tol, label);
        assert.deepEqual(out.shape, [EDGES.length]);
      });
    }
    it(`${label} gradient (float64, numeric)`, async () => {
      // Away from the kinks, where the derivative is defined.
      const x = { shape: [2, 3], data: [-2.5, -0.7, 0.4, 1.3, 3.2, 7.5] };
      await gradcheck(build, [x], { rtol: 1e-5, atol: 1e-6 });
    });
  }

  it('Softplus stays finite and exact for large |x| (no exp overflow)', async () => {
    const out = await evaluate((x) => softplus(x), [HostTensor.from('float32', [100, -100, 88.8], [3])]);
    assertClose(out.toNumbers(), [100, Math.exp(-100), 88.8], 1e-6, 1e-30, 'softplus');
  });

  it('Rsqrt is 1/sqrt(x), and its gradient −y³/2', async () => {
    const x = randomNd([2, 3], 3, 0.2, 4);
    for (const dtype of ['float32', 'float64'] as const) {
      const out = await evaluate((t) => rsqrt(t), [host(x, dtype)]);
      const tol = dtype === 'float32' ? 1e-6 : 1e-15;
      assertClose(
        out.toNumbers(),
        x.data.map((v) => 1 / Math.sqrt(dtype === 'float32' ? Math.fround(v) : v)),
        tol,
        tol,
        'rsqrt',
      );
    }
    await gradcheck((t) => rsqrt(t), [x]);
  });

  it('Erf matches the series (float32) and refuses float64 by name', async () => {
    const values = [-4, -1.5, -0.3, 0, 0.2, 0.9, 2.5, 5];
    const out = await evaluate((t) => erf(t), [HostTensor.from('float32', values, [values.length])]);
    assertClose(
      out.toNumbers(),
      values.map((v) => erfRef(v)),
      1e-6,
      1e-6,
      'erf',
    );
    const g = new fs.Graph();
    assert.throws(
      () => fs.withGraph(g, () => erf(fs.placeholder('float64', { shape: [2], name: 'x64' }))),
      (e: unknown) => e instanceof InvalidArgument && /Erf.*float64.*x64/.test(e.message),
    );
  });

  it('Prelu takes a per-channel alpha (TF.js), with gradients for x and alpha', async () => {
    const x = randomNd([2, 3, 4], 5);
    const alpha = randomNd([4], 6, 0, 0.5);
    for (const dtype of ['float32', 'float64'] as const) {
      const out = await evaluate((a, b) => prelu(a, b), [host(x, dtype), host(alpha, dtype)]);
      const expected = x.data.map((v, i) => (v > 0 ? v : v * (alpha.data[i % 4] as number)));
      const tol = dtype === 'float32' ? 1e-6 : 1e-15;
      assertClose(out.toNumbers(), expected, tol, tol, 'prelu');
    }
    await gradcheck((a, b) => prelu(a, b), [x, alpha]);
  });

  it('Prelu over NHWC with one alpha per channel (the depthwise lowering on the CPU) gives the same values', async () => {
    const C = 4;
    const values = EDGES.concat(
      EDGES.map((v) => -v / 3),
      [0.25, -7],
    );
    const x = { shape: [2, 3, 2, C], data: [...values, ...values] };
    const alpha = { shape: [1, 1, C], data: [0.25, -0.5, 0, 1.5] };
    for (const dtype of ['float32', 'float64'] as const) {
      const out = await evaluate((a, b) => prelu(a, b), [host(x, dtype), host(alpha, dtype)]);
      const expected = x.data.map((v, i) => (v > 0 ? v : v * (alpha.data[i % C] as number)));
      assertClose(out.toNumbers(), expected, dtype === 'float32' ? 1e-6 : 1e-15, 1e-6, `prelu ${dtype}`);
    }
  });

  it('Prelu refuses an alpha that would grow the rank of x', () => {
    const g = new fs.Graph();
    assert.throws(
      () =>
        fs.withGraph(g, () =>
          prelu(fs.placeholder('float32', { shape: [3], name: 'x' }), fs.placeholder('float32', { shape: [2, 3] })),
        ),
      (e: unknown) => e instanceof InvalidArgument && /Prelu.*\[2,3\].*\[3\]/.test(e.message),
    );
  });

  it('AddV2 broadcasts as Add, and AddN sums equal shapes', async () => {
    const a = randomNd([2, 3], 7);
    const b = randomNd([3], 8);
    const c = randomNd([2, 3], 9);
    const sum = await evaluate((x, y) => addV2(x, y), [host(a), host(b)]);
    assertClose(
      sum.toNumbers(),
      a.data.map((v, i) => v + (b.data[i % 3] as number)),
      1e-15,
      1e-15,
      'AddV2',
    );
    const n = await evaluate((x, y, z) => addN([x, y, z]), [host(a), host(c), host(a, 'float64')]);
    assertClose(
      n.toNumbers(),
      a.data.map((v, i) => 2 * v + (c.data[i] as number)),
      1e-15,
      1e-15,
      'AddN',
    );
    const one = await evaluate((x) => addN([x]), [host(c, 'int32')]);
    assert.deepEqual(one.toNumbers(), host(c, 'int32').toNumbers());
    await gradcheck((x, y, z) => addN([x, y, z]), [a, c, randomNd([2, 3], 10)]);
  });

  it('AddN refuses shapes that differ, in TensorFlow words', () => {
    const g = new fs.Graph();
    assert.throws(
      () =>
        fs.withGraph(g, () =>
          addN([fs.placeholder('float32', { shape: [2, 3] }), fs.placeholder('float32', { shape: [3] })]),
        ),
      (e: unknown) =>
        e instanceof InvalidArgument && /Shapes must be equal rank.*\[2,3\] and \[3\].*AddN/.test(e.message),
    );
  });
});
