import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomNd } from '../helpers/reference.js';
import { textArray } from '../helpers/text-elements.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers: build in a fresh graph, run once, and independent float64 reference implementations.

type Feed = [Tensor, HostTensor];

async function run(build: () => Tensor | Tensor[], feeds: (g: fs.Graph) => Feed[] = () => []): Promise<HostTensor[]> {
  const g = new fs.Graph();
  const out = fs.withGraph(g, build);
  const fetches = Array.isArray(out) ? out : [out];
  const sess = new fs.Session(g, { logger: () => {} });
  try {
    const values = await sess.run(fetches, new Map(feeds(g)));
    return values as HostTensor[];
  } finally {
    await sess.close();
  }
}

async function run1(build: () => Tensor): Promise<HostTensor> {
  return (await run(build))[0] as HostTensor;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function coords(shape: readonly number[], flat: number): number[] {
  const c = Array<number>(shape.length).fill(0);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i] as number;
    c[i] = flat % d;
    flat = Math.floor(flat / d);
  }
  return c;
}

function flatIndex(shape: readonly number[], c: readonly number[]): number {
  let f = 0;
  for (let i = 0; i < shape.length; i++) f = f * (shape[i] as number) + (c[i] as number);
  return f;
}

/** Values 0.5, 1.5, … so that every element is distinct. */
function iota(n: number, offset = 0.5): number[] {
  return Array.from({ length: n }, (_, i) => i + offset);
}

function refTranspose(x: number[], shape: number[], perm: number[]): { data: number[]; shape: number[] } {
  const outShape = perm.map((p) => shape[p] as number);
  const data = Array.from({ length: x.length }, (_, o) => {
    const oc = coords(outShape, o);
    const ic = Array<number>(shape.length);
    perm.forEach((p, i) => (ic[p] = oc[i] as number));
    return x[flatIndex(shape, ic)] as number;
  });
  return { data, shape: outShape };
}

function assertClose(actual: readonly number[], expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `element ${i}: ${a} vs ${e}`);
  });
}

function throwsInvalid(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgument, `expected InvalidArgument, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------

describe('cast', () => {
  it('truncates floats toward zero, maps nonzero to true and widens ints', async () => {
    const xs = [-2.7, -0.5, 0, 0.5, 3.9];
    const [i32, b, f64, i64] = await run(() => {
      const x = fs.constant(xs, { dtype: 'float32' });
      return [fs.cast(x, 'int32'), fs.cast(x, 'bool'), fs.cast(x, 'float64'), fs.cast(fs.cast(x, 'int32'), 'int64')];
    });
    assert.equal(i32?.dtype, 'int32');
    assert.deepEqual(
      i32?.toNumbers(),
      xs.map(Math.trunc).map((v) => v + 0),
    );
    assert.deepEqual(
      textArray(b),
      xs.map((v) => v !== 0),
    );
    assert.equal(f64?.dtype, 'float64');
    assertClose(f64?.toNumbers() ?? [], xs, 1e-7);
    assert.deepEqual(
      textArray(i64),
      xs.map((v) => BigInt(Math.trunc(v))),
    );
  });

  it('rejects an unknown dtype', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      throwsInvalid(() => fs.cast(fs.constant([1]), 'complex64' as fs.DType), /unknown dtype/);
    });
  });
});

describe('reshape', () => {
  it('keeps the element order and infers one -1 dimension', async () => {
    const x = iota(24);
    const [a, b] = await run(() => {
      const t = fs.constant(x, { shape: [2, 3, 4] });
      const r = fs.reshape(t, [4, -1]);
      assert.deepEqual(r.shape, [4, 6]);
      return [r, fs.reshape(t, [24])];
    });
    assert.deepEqual(a?.shape, [4, 6]);
    assertClose(a?.toNumbers() ?? [], x);
    assert.deepEqual(b?.shape, [24]);
  });

  it('takes the shape from a tensor computed at run time', async () => {
    const out = await run1(() => {
      const t = fs.constant(iota(6), { shape: [2, 3] });
      const target = fs.shape(fs.constant(iota(6), { shape: [3, 2] }));
      const r = fs.reshape(t, target);
      assert.deepEqual(r.shape, [null, null]);
      return r;
    });
    assert.deepEqual(out.shape, [3, 2]);
    assertClose(out.toNumbers(), iota(6));
  });

  it('reshapes strings and zero-sized tensors', async () => {
    const [s, z] = await run(() => [
      fs.reshape(fs.constant(['a', 'b', 'c', 'd']), [2, 2]),
      fs.reshape(fs.zeros([0, 3]), [3, 0]),
    ]);
    assert.deepEqual(textArray(s), [
      ['a', 'b'],
      ['c', 'd'],
    ]);
    assert.deepEqual(z?.shape, [3, 0]);
  });

  it('names the op and both shapes when the element counts differ', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const t = fs.constant(iota(6), { shape: [2, 3] });
      throwsInvalid(() => fs.reshape(t, [4], { name: 'bad' }), /6 elements/, /\[4\]/, /'bad'/, /\[2,3\]/);
      throwsInvalid(() => fs.reshape(t, [4, -1]), /not divisible by 4/, /\[2,3\]/);
      throwsInvalid(() => fs.reshape(t, [-1, -1]), /multiple unknown/);
    });
  });

  it('resolves -1 against a fed tensor with an unknown batch dimension', async () => {
    const [out] = await run(
      () => {
        const x = fs.placeholder('float32', { shape: [-1, 4], name: 'x' });
        const r = fs.reshape(x, [-1, 2]);
        assert.deepEqual(r.shape, [null, 2]);
        return [r];
      },
      (g) => [[g.tensor('x:0'), HostTensor.from('float32', iota(12), [3, 4])]],
    );
    assert.deepEqual(out?.shape, [6, 2]);
  });
});

describe('transpose', () => {
  it('reverses the axes by default and applies an explicit perm', async () => {
    const x = iota(24);
    const [a, b, s] = await run(() => {
      const t = fs.constant(x, { shape: [2, 3, 4] });
      return [
        fs.transpose(t),
        fs.transpose(t, [1, 2, 0]),
        fs.transpose(fs.constant(['a', 'b', 'c', 'd', 'e', 'f'], { shape: [2, 3] })),
      ];
    });
    const ra = refTranspose(x, [2, 3, 4], [2, 1, 0]);
    const rb = refTranspose(x, [2, 3, 4], [1, 2, 0]);
    assert.deepEqual(a?.shape, ra.shape);
    assertClose(a?.toNumbers() ?? [], ra.data);
    assert.deepEqual(b?.shape, rb.shape);
    assertClose(b?.toNumbers() ?? [], rb.data);
    assert.deepEqual(textArray(s), [
      ['a', 'd'],
      ['b', 'e'],
      ['c', 'f'],
    ]);
  });

  it('rejects a perm that is not a permutation', () => {
    fs.withGraph(new fs.Graph(), () => {
      throwsInvalid(
        () => fs.transpose(fs.constant(iota(6), { shape: [2, 3] }), [0, 0]),
        /not a permutation/,
        /\[2,3\]/,
      );
    });
  });
});

describe('concat and split', () => {
  it('joins along an axis, negative axes included', async () => {
    const a = iota(6);
    const b = iota(4, 100);
    const [c1, c0, s] = await run(() => {
      const ta = fs.constant(a, { shape: [2, 3] });
      const tb = fs.constant(b, { shape: [2, 2] });
      return [
        fs.concat([ta, tb], -1),
        fs.concat([ta, fs.constant(iota(3, 50), { shape: [1, 3] })], 0),
        fs.concat([fs.constant(['x']), fs.constant(['y', 'z'])], 0),
      ];
    });
    const expected1: number[] = [];
    for (let r = 0; r < 2; r++) expected1.push(...a.slice(r * 3, r * 3 + 3), ...b.slice(r * 2, r * 2 + 2));
    assert.deepEqual(c1?.shape, [2, 5]);
    assertClose(c1?.toNumbers() ?? [], expected1);
    assert.deepEqual(c0?.shape, [3, 3]);
    assertClose(c0?.toNumbers() ?? [], [...a, ...iota(3, 50)]);
    assert.deepEqual(textArray(s), ['x', 'y', 'z']);
  });

  it('reports rank and dimension mismatches with both shapes', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.constant(iota(6), { shape: [2, 3] });
      throwsInvalid(
        () => fs.concat([a, fs.constant(iota(6), { shape: [6] })], 0),
        /rank 2 but is rank 1/,
        /\[2,3\], \[6\]/,
      );
      throwsInvalid(
        () => fs.concat([a, fs.constant(iota(9), { shape: [3, 3] })], 1),
        /Dimension 0 in both shapes must be equal, but are 2 and 3/,
        /\[2,3\] and \[3,3\]/,
      );
      throwsInvalid(() => fs.concat([a, fs.constant([1, 2], { dtype: 'int32', shape: [2, 1] })], 1), /same dtype/);
    });
  });

  it('splits into equal pieces or given sizes', async () => {
    const x = iota(12);
    const outs = await run(() => {
      const t = fs.constant(x, { shape: [2, 6] });
      return [...fs.split(t, 3, 1), ...fs.split(t, [1, 5], -1)];
    });
    const col = (lo: number, hi: number) => [...x.slice(lo, hi), ...x.slice(6 + lo, 6 + hi)];
    assertClose(outs[0]?.toNumbers() ?? [], col(0, 2));
    assertClose(outs[1]?.toNumbers() ?? [], col(2, 4));
    assertClose(outs[2]?.toNumbers() ?? [], col(4, 6));
    assert.deepEqual(outs[3]?.shape, [2, 1]);
    assertClose(outs[4]?.toNumbers() ?? [], col(1, 6));
  });
});

describe('slice', () => {
  it('extracts a block with TensorFlow semantics (size -1 = to the end)', async () => {
    const x = iota(60);
    const shape = [3, 4, 5];
    const begin = [1, 0, 2];
    const sz = [2, -1, 2];
    const out = await run1(() => fs.slice(fs.constant(x, { shape }), begin, sz));
    const outShape = [2, 4, 2];
    const expected = Array.from({ length: size(outShape) }, (_, o) => {
      const c = coords(outShape, o).map((v, i) => v + (begin[i] as number));
      return x[flatIndex(shape, c)] as number;
    });
    assert.deepEqual(out.shape, outShape);
    assertClose(out.toNumbers(), expected);
  });

  it('rejects begin or size out of range', () => {
    fs.withGraph(new fs.Graph(), () => {
      const t = fs.constant(iota(6), { shape: [2, 3] });
      throwsInvalid(() => fs.slice(t, [0, 1], [2, 3]), /Expected size\[1\] in \[0, 2\], but got 3/, /\[2,3\]/);
      throwsInvalid(() => fs.slice(t, [3, 0], [-1, -1]), /Expected begin\[0\] in \[0, 2\], but got 3/);
      throwsInvalid(() => fs.slice(t, [0], [1]), /one per axis/);
    });
  });
});

describe('gather', () => {
  it('gathers rows (axis 0) and columns (axis 1) with int32 and int64 indices', async () => {
    const x = iota(12);
    const [r, c, s] = await run(() => {
      const t = fs.constant(x, { shape: [3, 4] });
      return [
        fs.gather(t, fs.constant([2, 0, 2], { dtype: 'int32' })),
        fs.gather(t, fs.constant([[3n, 1n]], { dtype: 'int64' }), 1),
        fs.gather(fs.constant(['a', 'b', 'c']), fs.constant([2, 1], { dtype: 'int32' })),
      ];
    });
    assert.deepEqual(r?.shape, [3, 4]);
    assertClose(r?.toNumbers() ?? [], [...x.slice(8, 12), ...x.slice(0, 4), ...x.slice(8, 12)]);
    assert.deepEqual(c?.shape, [3, 1, 2]);
    assertClose(
      c?.toNumbers() ?? [],
      [0, 1, 2].flatMap((row) => [x[row * 4 + 3] as number, x[row * 4 + 1] as number]),
    );
    assert.deepEqual(textArray(s), ['c', 'b']);
  });

  it('requires integer indices', () => {
    fs.withGraph(new fs.Graph(), () => {
      const t = fs.constant(iota(4), { shape: [4] });
      throwsInvalid(
        () => fs.gather(t, fs.constant([1.0], { dtype: 'float32' })),
        /indices must be int32 or int64, got float32/,
      );
      throwsInvalid(() => fs.gather(t, fs.constant([0], { dtype: 'int32' }), 1), /axis 1 is out of range/);
    });
  });
});

describe('oneHot', () => {
  it('encodes on the last axis and gives all-off rows for out-of-range indices', async () => {
    const idx = [0, 2, -1, 3];
    const depth = 3;
    const [f, i, first] = await run(() => {
      const t = fs.constant(idx, { dtype: 'int32' });
      return [
        fs.oneHot(t, depth),
        fs.oneHot(t, depth, { dtype: 'int64', onValue: 5, offValue: -1 }),
        fs.oneHot(t, depth, { axis: 0, dtype: 'float64' }),
      ];
    });
    const ref = idx.flatMap((k) => Array.from({ length: depth }, (_, d) => (d === k ? 1 : 0)));
    assert.deepEqual(f?.shape, [4, 3]);
    assert.equal(f?.dtype, 'float32');
    assert.deepEqual(f?.toNumbers(), ref);
    assert.deepEqual(
      i?.toNumbers(),
      ref.map((v) => (v ? 5 : -1)),
    );
    assert.deepEqual(first?.shape, [3, 4]);
    assert.deepEqual(first?.toNumbers(), refTranspose(ref, [4, 3], [1, 0]).data);
  });
});

describe('fill, zeros, ones, *Like, range', () => {
  it('makes constant tensors of every dtype', async () => {
    const outs = await run(() => [
      fs.fill([2, 2], 7.5),
      fs.zeros([3], 'int64'),
      fs.ones([2], 'bool'),
      fs.ones([1, 2], 'uint8'),
      fs.fill([2], 'hi'),
      fs.zeros([2], 'string'),
      fs.zerosLike(fs.constant(iota(6), { shape: [3, 2] })),
      fs.onesLike(fs.constant([1, 2], { dtype: 'int32' })),
      fs.onesLike(fs.constant([1, 2], { dtype: 'int32' }), { dtype: 'float64' }),
    ]);
    assert.deepEqual(outs[0]?.toNumbers(), [7.5, 7.5, 7.5, 7.5]);
    assert.deepEqual(textArray(outs[1]), [0n, 0n, 0n]);
    assert.deepEqual(textArray(outs[2]), [true, true]);
    assert.equal(outs[3]?.dtype, 'uint8');
    assert.deepEqual(outs[3]?.toNumbers(), [1, 1]);
    assert.deepEqual(textArray(outs[4]), ['hi', 'hi']);
    assert.deepEqual(textArray(outs[5]), ['', '']);
    assert.deepEqual(outs[6]?.shape, [3, 2]);
    assert.deepEqual(outs[6]?.toNumbers(), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(outs[7]?.toNumbers(), [1, 1]);
    assert.equal(outs[8]?.dtype, 'float64');
  });

  it('fills a shape computed at run time', async () => {
    const [out] = await run(
      () => {
        const x = fs.placeholder('float32', { shape: [-1, 2], name: 'x' });
        return [fs.zerosLike(x), fs.fill(fs.shape(x), 3)];
      },
      (g) => [[g.tensor('x:0'), HostTensor.from('float32', iota(6), [3, 2])]],
    );
    assert.deepEqual(out?.shape, [3, 2]);
  });

  it('counts like tf.range for integer and float bounds', async () => {
    const outs = await run(() => [
      fs.range(5),
      fs.range(2, 11, 3),
      fs.range(5, 0, -2),
      fs.range(0, 1, 0.25),
      fs.range(1, 4, 1, { dtype: 'int64' }),
      fs.range(0, 3, 1, { dtype: 'uint8' }),
    ]);
    const ref = (s: number, l: number, d: number) => {
      const out: number[] = [];
      for (let v = s; d > 0 ? v < l : v > l; v += d) out.push(v);
      return out;
    };
    assert.equal(outs[0]?.dtype, 'int32');
    assert.deepEqual(outs[0]?.toNumbers(), ref(0, 5, 1));
    assert.deepEqual(outs[1]?.toNumbers(), ref(2, 11, 3));
    assert.deepEqual(outs[2]?.toNumbers(), ref(5, 0, -2));
    assert.equal(outs[3]?.dtype, 'float32');
    assertClose(outs[3]?.toNumbers() ?? [], ref(0, 1, 0.25));
    assert.equal(outs[4]?.dtype, 'int64');
    assert.deepEqual(outs[4]?.toNumbers(), [1, 2, 3]);
    assert.equal(outs[5]?.dtype, 'uint8');
    assert.deepEqual(outs[5]?.toNumbers(), [0, 1, 2]);
  });

  it('infers static lengths and rejects a zero delta', () => {
    fs.withGraph(new fs.Graph(), () => {
      assert.deepEqual(fs.range(2, 11, 3).shape, [3]);
      throwsInvalid(() => fs.range(0, 5, 0), /delta != 0/);
      throwsInvalid(() => fs.range(5, 0, 1), /start <= limit/);
    });
  });

  it('source ops take a graph option', () => {
    const g = new fs.Graph();
    const z = fs.zeros([2], 'float32', { graph: g, name: 'z' });
    assert.equal(z.graph, g);
    assert.equal(z.op.name, 'z');
    assert.equal(fs.range(3, undefined, 1, { graph: g }).graph, g);
  });
});

describe('expandDims, squeeze, shape', () => {
  it('inserts and removes unit dimensions', async () => {
    const x = iota(6);
    const [e0, e1, sq, sqAll, sh] = await run(() => {
      const t = fs.constant(x, { shape: [2, 3] });
      const e = fs.expandDims(t, -1);
      return [
        fs.expandDims(t, 0),
        e,
        fs.squeeze(e, [2]),
        fs.squeeze(fs.constant(x, { shape: [1, 2, 1, 3] })),
        fs.shape(e),
      ];
    });
    assert.deepEqual(e0?.shape, [1, 2, 3]);
    assert.deepEqual(e1?.shape, [2, 3, 1]);
    assert.deepEqual(sq?.shape, [2, 3]);
    assertClose(sq?.toNumbers() ?? [], x);
    assert.deepEqual(sqAll?.shape, [2, 3]);
    assert.equal(sh?.dtype, 'int32');
    assert.deepEqual(sh?.toNumbers(), [2, 3, 1]);
  });

  it('shape reports the fed size of unknown dimensions', async () => {
    const [s] = await run(
      () => [fs.shape(fs.placeholder('float32', { shape: [-1, 2], name: 'x' }), { outType: 'int64' })],
      (g) => [[g.tensor('x:0'), HostTensor.from('float32', iota(10), [5, 2])]],
    );
    assert.deepEqual(textArray(s), [5n, 2n]);
  });

  it('rejects squeezing a dimension that is not 1', () => {
    fs.withGraph(new fs.Graph(), () => {
      throwsInvalid(
        () => fs.squeeze(fs.constant(iota(6), { shape: [2, 3] }), [1]),
        /Can not squeeze dim\[1\]/,
        /\[2,3\]/,
      );
    });
  });
});

describe('tile', () => {
  it('repeats along each axis', async () => {
    const x = iota(6);
    const out = await run1(() => fs.tile(fs.constant(x, { shape: [2, 3] }), [2, 3]));
    const outShape = [4, 9];
    const expected = Array.from({ length: 36 }, (_, o) => {
      const [r, c] = coords(outShape, o) as [number, number];
      return x[(r % 2) * 3 + (c % 3)] as number;
    });
    assert.deepEqual(out.shape, outShape);
    assertClose(out.toNumbers(), expected);
  });
});

describe('where', () => {
  it('selects elementwise with broadcasting', async () => {
    const cond = [true, false, true];
    const a = iota(6);
    const out = await run1(() =>
      fs.where(fs.constant(cond), fs.constant(a, { shape: [2, 3] }), fs.constant([-1], { shape: [1] })),
    );
    assert.deepEqual(out.shape, [2, 3]);
    assertClose(
      out.toNumbers(),
      a.map((v, i) => (cond[i % 3] ? v : -1)),
    );
  });

  it('requires a bool condition and equal branch dtypes', () => {
    fs.withGraph(new fs.Graph(), () => {
      const a = fs.constant([1, 2]);
      throwsInvalid(() => fs.where(fs.constant([1, 0], { dtype: 'int32' }), a, a), /condition must be bool/);
      throwsInvalid(
        () => fs.where(fs.constant([true, false]), a, fs.constant([1, 2], { dtype: 'int32' })),
        /same dtype/,
      );
    });
  });
});

describe('non-float dtypes', () => {
  it('moves strings, bools and uint8 through every shape op', async () => {
    const outs = await run(() => {
      const s = fs.constant(['a', 'b', 'c']);
      return [
        fs.identity(s),
        fs.slice(s, [1], [-1]),
        fs.squeeze(fs.expandDims(s, 0)),
        fs.tile(s, [2]),
        fs.where(fs.constant([true, false, true]), s, fs.constant(['x'])),
        fs.split(s, [2, 1])[1] as Tensor,
        fs.oneHot(fs.constant([1, 0], { dtype: 'int32' }), 2, { dtype: 'string', onValue: 'y', offValue: 'n' }),
        fs.where(fs.constant([true, false]), fs.constant([true, true]), fs.constant([false, false])),
        fs.oneHot(fs.constant([1], { dtype: 'int32' }), 3, { dtype: 'bool' }),
        fs.gather(fs.constant([7, 8, 9], { dtype: 'uint8' }), fs.constant([2, 0], { dtype: 'int32' })),
        fs.transpose(fs.constant([[true, false]])),
        fs.cast(fs.constant([1.5, -2]), 'string'),
      ];
    });
    assert.deepEqual(textArray(outs[0]), ['a', 'b', 'c']);
    assert.deepEqual(textArray(outs[1]), ['b', 'c']);
    assert.deepEqual(textArray(outs[2]), ['a', 'b', 'c']);
    assert.deepEqual(textArray(outs[3]), ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(textArray(outs[4]), ['a', 'x', 'c']);
    assert.deepEqual(textArray(outs[5]), ['c']);
    assert.deepEqual(textArray(outs[6]), [
      ['n', 'y'],
      ['y', 'n'],
    ]);
    assert.deepEqual(textArray(outs[7]), [true, false]);
    assert.deepEqual(textArray(outs[8]), [[false, true, false]]);
    assert.equal(outs[9]?.dtype, 'uint8');
    assert.deepEqual(outs[9]?.toNumbers(), [9, 7]);
    assert.deepEqual(textArray(outs[10]), [[true], [false]]);
    assert.deepEqual(textArray(outs[11]), ['1.5', '-2']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Gradients: symbolic gradient of sum(y · w) for a fixed random w against central finite differences.

interface GradInput {
  shape: number[];
}

/**
 * The shared numeric gradient check (test/helpers/gradcheck.ts) on seeded random float64 inputs; `dynamic`
 * leaves the first dimension of every placeholder unknown, to exercise the run-time-shape gradient paths.
 */
async function gradCheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: GradInput[],
  options: { dynamic?: boolean } = {},
): Promise<void> {
  await gradcheck(
    f,
    inputs.map((inp, i) => randomNd(inp.shape, 17 + i)),
    options.dynamic ? { shapes: inputs.map((inp) => inp.shape.map((d, k) => (k === 0 ? null : d))) } : {},
  );
}

describe('gradients of array ops', () => {
  it('reshape', () => gradCheck((x) => fs.reshape(x, [3, -1]), [{ shape: [2, 3] }]));
  it('reshape with an unknown batch dimension', () =>
    gradCheck((x) => fs.reshape(x, [-1]), [{ shape: [2, 3] }], { dynamic: true }));
  it('transpose', () => gradCheck((x) => fs.transpose(x, [2, 0, 1]), [{ shape: [2, 3, 2] }]));
  it('concat', () =>
    gradCheck(
      (a, b, c) => fs.concat([a as Tensor, b as Tensor, c as Tensor], 1),
      [{ shape: [2, 1] }, { shape: [2, 3] }, { shape: [2, 2] }],
    ));
  it('concat along an unknown dimension', () =>
    gradCheck((a, b) => fs.concat([a as Tensor, b as Tensor], 0), [{ shape: [2, 2] }, { shape: [2, 2] }], {
      dynamic: true,
    }));
  it('split', () => gradCheck((x) => fs.mul(fs.split(x, [1, 3], 1)[1] as Tensor, 2), [{ shape: [2, 4] }]));
  it('slice', () => gradCheck((x) => fs.slice(x, [1, 0, 1], [1, -1, 2]), [{ shape: [3, 2, 4] }]));
  it('slice with an unknown dimension', () =>
    gradCheck((x) => fs.slice(x, [1, 1], [-1, 2]), [{ shape: [3, 4] }], { dynamic: true }));
  it('gather on axis 0 accumulates repeated indices', () =>
    gradCheck(
      (x) =>
        fs.gather(
          x,
          fs.constant(
            [
              [2, 0],
              [2, 2],
            ],
            { dtype: 'int32' },
          ),
        ),
      [{ shape: [3, 2] }],
    ));
  it('gather on axis 1 with int64 indices', () =>
    gradCheck((x) => fs.gather(x, fs.constant([3n, 0n, 3n], { dtype: 'int64' }), 1), [{ shape: [2, 4, 2] }]));
  it('gather on the last axis', () =>
    gradCheck((x) => fs.gather(x, fs.constant([1, 1], { dtype: 'int32' }), -1), [{ shape: [2, 3] }]));
  it('tile', () => gradCheck((x) => fs.tile(x, [2, 1, 3]), [{ shape: [2, 3, 1] }]));
  it('tile with an unknown dimension', () =>
    gradCheck((x) => fs.tile(x, [3, 2]), [{ shape: [2, 2] }], { dynamic: true }));
  it('expandDims and squeeze', () =>
    gradCheck((x) => fs.squeeze(fs.mul(fs.expandDims(x, 1), fs.expandDims(x, 1)), [1]), [{ shape: [3, 2] }]));
  it('where, broadcasting both branches', () =>
    gradCheck(
      (a, b) =>
        fs.where(
          fs.constant([
            [true, false, true],
            [false, false, true],
          ]),
          a as Tensor,
          b as Tensor,
        ),
      [{ shape: [2, 3] }, { shape: [3] }],
    ));
  it('fill (gradient to the value)', () => gradCheck((v) => fs.fill([2, 3], fs.reshape(v, [])), [{ shape: [1] }]));

  it('cast passes float gradients back in the source dtype and stops at integers', async () => {
    const g = new fs.Graph();
    const wValues = [0.5, -1.25, 2];
    const { grads, gi } = fs.withGraph(g, () => {
      const x = fs.constant([1, 2, 3], { dtype: 'float64' });
      const w = fs.constant(wValues, { dtype: 'float32' });
      const loss = fs.reduceSum(fs.mul(fs.cast(x, 'float32'), w));
      const lossInt = fs.reduceSum(fs.cast(fs.cast(x, 'int32'), 'float32'));
      return { grads: gradients(loss, [x]), gi: gradients(lossInt, [x]) };
    });
    assert.equal(gi[0], null);
    const dx = grads[0] as Tensor;
    assert.equal(dx.dtype, 'float64');
    const sess = new fs.Session(g, { logger: () => {} });
    const out = (await sess.run(dx)) as HostTensor;
    await sess.close();
    assert.deepEqual(out.toNumbers(), wValues);
  });
});
