import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { batchMatMul } from '../../src/ops/batch-matmul.js';
import { stack, unstack } from '../../src/ops/pack.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

/** Batched product with numpy broadcasting of the batch dims and optional transposes, in float64. */
function batchMatMulRef(a: Nd, b: Nd, adjX: boolean, adjY: boolean): Nd {
  const [ra, rb] = [a.shape.length, b.shape.length];
  const [m, k] = adjX ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const n = (adjY ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const pad = (s: number[]) => [...Array<number>(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(batchA), pad(batchB)];
  const batch = pa.map((d, i) => Math.max(d, pb[i] as number));
  const count = batch.reduce((x, y) => x * y, 1);
  const data: number[] = [];
  for (let flat = 0; flat < count; flat++) {
    let rest = flat;
    let offA = 0;
    let offB = 0;
    let strideA = 1;
    let strideB = 1;
    for (let i = rank - 1; i >= 0; i--) {
      const idx = rest % (batch[i] as number);
      rest = Math.floor(rest / (batch[i] as number));
      offA += ((pa[i] as number) === 1 ? 0 : idx) * strideA;
      offB += ((pb[i] as number) === 1 ? 0 : idx) * strideB;
      strideA *= pa[i] as number;
      strideB *= pb[i] as number;
    }
    const A = (r: number, c: number) =>
      a.data[offA * (m as number) * (k as number) + (adjX ? c * (m as number) + r : r * (k as number) + c)] as number;
    const B = (r: number, c: number) =>
      b.data[offB * (k as number) * n + (adjY ? c * (k as number) + r : r * n + c)] as number;
    for (let r = 0; r < (m as number); r++)
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let j = 0; j < (k as number); j++) s += A(r, j) * B(j, c);
        data.push(s);
      }
  }
  return { shape: [...batch, m as number, n], data };
}

describe('BatchMatMulV2', () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['equal batches', [2, 3, 4], [2, 4, 5], false, false],
    ['broadcast batch dims', [3, 1, 2, 4], [2, 4, 3], false, false],
    ['adj_x', [2, 4, 3], [2, 4, 2], true, false],
    ['adj_y', [2, 3, 4], [1, 5, 4], false, true],
    ['adj_x and adj_y', [4, 3], [2, 2, 4], true, true],
  ];
  for (const [label, sa, sb, adjX, adjY] of cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${label} (${dtype})`, async () => {
        const a = randomNd(sa, 51);
        const b = randomNd(sb, 52);
        const out = await evaluate((x, y) => batchMatMul(x, y, { adjX, adjY }), [host(a, dtype), host(b, dtype)]);
        const expected = batchMatMulRef(a, b, adjX, adjY);
        assert.deepEqual(out.shape, expected.shape);
        const tol = dtype === 'float32' ? 1e-5 : 1e-13;
        assertClose(out.toNumbers(), expected.data, tol, tol, label);
      });
    }
    it(`${label} gradients (float64, numeric)`, async () => {
      await gradcheck((x, y) => batchMatMul(x, y, { adjX, adjY }), [randomNd(sa, 53), randomNd(sb, 54)]);
    });
  }
  it('refuses inner dimensions that differ, naming both shapes', () => {
    const g = new fs.Graph();
    assert.throws(
      () =>
        fs.withGraph(g, () =>
          batchMatMul(fs.placeholder('float32', { shape: [2, 3, 4] }), fs.placeholder('float32', { shape: [2, 5, 6] })),
        ),
      (e: unknown) => e instanceof InvalidArgument && /4 and 5.*\[2,3,4\], \[2,5,6\]/.test(e.message),
    );
  });
});

describe('Pack and Unpack', () => {
  const parts = [randomNd([2, 3], 61), randomNd([2, 3], 62), randomNd([2, 3], 63)];
  for (const axis of [0, 1, 2, -1, -3]) {
    it(`Pack along axis ${axis} and Unpack back`, async () => {
      const out = await evaluate(
        (...xs) => stack(xs, axis),
        parts.map((p) => host(p)),
      );
      const ax = axis < 0 ? axis + 3 : axis;
      const shape = [2, 3];
      shape.splice(ax, 0, 3);
      assert.deepEqual(out.shape, shape);
      // Element [i0, i1, i2] of the result is parts[index on ax][the other two indices].
      const expected = out.toNumbers().map((_, flat) => {
        const idx = [
          Math.floor(flat / ((shape[1] as number) * (shape[2] as number))),
          Math.floor(flat / (shape[2] as number)) % (shape[1] as number),
          flat % (shape[2] as number),
        ];
        const which = idx[ax] as number;
        const rest = idx.filter((_, i) => i !== ax) as [number, number];
        return (parts[which] as Nd).data[rest[0] * 3 + rest[1]] as number;
      });
      assertClose(out.toNumbers(), expected, 0, 0, `pack axis ${axis}`);
      const back = await evaluate((t) => unstack(t, axis)[1] as Tensor, [out]);
      assertClose(back.toNumbers(), (parts[1] as Nd).data, 0, 0, 'unpack');
    });
  }
  it('gradients flow through Pack and Unpack (an unused output gives zeros)', async () => {
    await gradcheck((a, b) => stack([a, b], 1), [parts[0] as Nd, parts[1] as Nd]);
    await gradcheck((a) => unstack(a, 1)[2] as Tensor, [randomNd([2, 3, 2], 64)]);
  });
  it('refuses values of different shapes and a num that is not the dimension', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const a = fs.placeholder('float32', { shape: [2, 3], name: 'a' });
      const b = fs.placeholder('float32', { shape: [3, 2], name: 'b' });
      assert.throws(() => stack([a, b]), /values\[0\].shape = \[2,3\] != b:0.shape = \[3,2\].*Pack/);
      assert.throws(
        () => g.addOp({ def: fs.Unpack, inputs: [a], attrs: { num: 3, axis: 0 }, name: 'un' }),
        /'un' \(Unpack\): num 3 must equal dimension 0 of input shape \[2,3\]/,
      );
    });
  });
});
