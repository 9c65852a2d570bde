/**
 * StridedSlice against a float64 reference of NumPy-style indexing (Python's slice.indices), each case written
 * both ways: as the Python index expression and as the TensorFlow begin/end/strides + masks it compiles to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { stridedSlice, type StridedSliceAttrs } from '../../src/ops/strided-slice.js';
import { assertClose, evaluate } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

/** One entry of a Python index: a slice [start, stop, step] (null = omitted), an int, '...' or 'new'. */
type Index = [number | null, number | null, number | null] | number | '...' | 'new';

/** Python's slice.indices: the positions a slice selects on an axis of length n. */
function sliceIndices(n: number, [start, stop, step]: [number | null, number | null, number | null]): number[] {
  const s = step ?? 1;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
  const [lo, hi] = s > 0 ? [0, n] : [-1, n - 1];
  const a = start === null ? (s > 0 ? 0 : n - 1) : clamp(start, lo, hi);
  const b = stop === null ? (s > 0 ? n : -1) : clamp(stop, lo, hi);
  const out: number[] = [];
  for (let i = a; s > 0 ? i < b : i > b; i += s) out.push(i);
  return out;
}

/** x[index] in NumPy semantics, as a float64 array. */
function indexRef(x: Nd, index: Index[]): Nd {
  const explicit = index.filter((e) => e !== 'new' && e !== '...').length;
  const full: Index[] = [];
  for (const e of index.includes('...') ? index : [...index, '...' as const]) {
    if (e === '...') for (let k = 0; k < x.shape.length - explicit; k++) full.push([null, null, null]);
    else full.push(e);
  }
  // Per input axis: picked positions (and whether kept); output shape with new axes.
  const picks: number[][] = [];
  const outShape: number[] = [];
  let axis = 0;
  for (const e of full) {
    if (e === 'new') {
      outShape.push(1);
      continue;
    }
    const n = x.shape[axis++] as number;
    if (typeof e === 'number') picks.push([e < 0 ? e + n : e]);
    else {
      const p = sliceIndices(n, e as [number | null, number | null, number | null]);
      picks.push(p);
      outShape.push(p.length);
    }
  }
  const data: number[] = [];
  const walk = (d: number, at: number) => {
    if (d === picks.length) {
      data.push(x.data[at] as number);
      return;
    }
    for (const p of picks[d] as number[]) walk(d + 1, at * (x.shape[d] as number) + p);
  };
  walk(0, 0);
  return { shape: outShape, data };
}

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

interface Case {
  python: string;
  index: Index[];
  begin: number[];
  end: number[];
  strides: number[];
  masks: StridedSliceAttrs;
}

const cases: Case[] = [
  { python: 'x[1:3]', index: [[1, 3, null]], begin: [1], end: [3], strides: [1], masks: {} },
  {
    python: 'x[::-1]',
    index: [[null, null, -1]],
    begin: [0],
    end: [0],
    strides: [-1],
    masks: { begin_mask: 1, end_mask: 1 },
  },
  {
    python: 'x[-1:0:-2, :, 1]',
    index: [[-1, 0, -2], [null, null, null], 1],
    begin: [-1, 0, 1],
    end: [0, 0, 2],
    strides: [-2, 1, 1],
    masks: { begin_mask: 2, end_mask: 2, shrink_axis_mask: 4 },
  },
  {
    python: 'x[..., ::-2, tf.newaxis]',
    index: ['...', [null, null, -2], 'new'],
    begin: [0, 0, 0],
    end: [0, 0, 0],
    strides: [1, -2, 1],
    masks: { ellipsis_mask: 1, begin_mask: 2, end_mask: 2, new_axis_mask: 4 },
  },
  {
    python: 'x[tf.newaxis, -2, ..., 5:1:-1]',
    index: ['new', -2, '...', [5, 1, -1]],
    begin: [0, -2, 0, 5],
    end: [0, -1, 0, 1],
    strides: [1, 1, 1, -1],
    masks: { new_axis_mask: 1, shrink_axis_mask: 2, ellipsis_mask: 4 },
  },
  {
    python: 'x[-100:100, 3:3, -10::-1]',
    index: [
      [-100, 100, null],
      [3, 3, null],
      [-10, null, -1],
    ],
    begin: [-100, 3, -10],
    end: [100, 3, 0],
    strides: [1, 1, -1],
    masks: { end_mask: 4 },
  },
  {
    python: 'x[1, -1, 0]',
    index: [1, -1, 0],
    begin: [1, -1, 0],
    end: [2, 0, 1],
    strides: [1, 1, 1],
    masks: { shrink_axis_mask: 7 },
  },
  {
    python: 'x[:, 4:-6:-3]',
    index: [
      [null, null, null],
      [4, -6, -3],
    ],
    begin: [0, 4],
    end: [0, -6],
    strides: [1, -3],
    masks: { begin_mask: 1, end_mask: 1 },
  },
];

describe('StridedSlice', () => {
  const x = randomNd([3, 5, 6], 51);
  for (const c of cases) {
    it(`${c.python} matches NumPy indexing (float64 and int32)`, async () => {
      const expected = indexRef(x, c.index);
      for (const dtype of ['float64', 'int32'] as const) {
        const xv = dtype === 'int32' ? { shape: x.shape, data: x.data.map((v) => Math.round(v * 100)) } : x;
        const want = dtype === 'int32' ? indexRef(xv, c.index) : expected;
        const out = await evaluate((t) => stridedSlice(t, c.begin, c.end, c.strides, c.masks), [host(xv, dtype)]);
        assert.deepEqual(out.shape, want.shape, c.python);
        assertClose(out.toNumbers(), want.data, 0, 0, `${c.python} ${dtype}`);
      }
    });
  }

  it('works on an unknown batch dimension (x[:, ::-1, 2], x[-1]) with the shape known where TF knows it', async () => {
    const g = new fs.Graph();
    const { xs, a, last } = fs.withGraph(g, () => {
      const xs = fs.placeholder('float32', { shape: [null, 5, 6], name: 'x' });
      return {
        xs,
        a: stridedSlice(xs, [0, 0, 2], [0, 0, 3], [1, -1, 1], { begin_mask: 3, end_mask: 3, shrink_axis_mask: 4 }),
        last: stridedSlice(xs, [-1], [0], [1], { shrink_axis_mask: 1 }),
      };
    });
    assert.deepEqual(a.shape, [null, 5]);
    assert.deepEqual(last.shape, [5, 6]);
    const sess = new fs.Session(g, { logger: () => {} });
    try {
      const [pa, pl] = (await sess.run(
        [a, last],
        new Map<Tensor, HostTensor>([[xs, host(x, 'float32')]]),
      )) as HostTensor[];
      assertClose(pa?.toNumbers() ?? [], indexRef(x, [[null, null, null], [null, null, -1], 2]).data, 1e-6, 1e-6, 'a');
      assertClose(pl?.toNumbers() ?? [], indexRef(x, [-1]).data, 1e-6, 1e-6, 'last');
    } finally {
      await sess.close();
    }
  });

  it("refuses what TensorFlow refuses, with TensorFlow's messages", () => {
    const g = new fs.Graph();
    const xs = fs.withGraph(g, () => fs.placeholder('float32', { shape: [3, 4], name: 'x' }));
    const bad =
      (b: number[], e: number[], s: number[], m: StridedSliceAttrs = {}) =>
      () =>
        fs.withGraph(g, () => stridedSlice(xs, b, e, s, m));
    const refused = (re: RegExp) => (err: unknown) => err instanceof InvalidArgument && re.test(err.message);
    assert.throws(bad([0], [1], [0]), refused(/strides\[0\] must be non-zero/));
    assert.throws(bad([3], [4], [1], { shrink_axis_mask: 1 }), refused(/slice index 3 of dimension 0 out of bounds/));
    assert.throws(bad([0, 0], [1, 1], [1, 1], { ellipsis_mask: 3 }), refused(/Multiple ellipses/));
    assert.throws(bad([0, 0, 0], [1, 1, 1], [1, 1, 1]), refused(/Index out of range using input dim 2/));
    assert.throws(bad([0], [1, 2], [1]), refused(/1D equal size/));
    assert.throws(bad([1], [0], [-1], { shrink_axis_mask: 1 }), refused(/only stride 1/));
    const many = Array<number>(32).fill(0);
    assert.throws(
      bad(
        many,
        many,
        many.map(() => 1),
      ),
      refused(/at most 31 entries, got 32/),
    );
  });
});
