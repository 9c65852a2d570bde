import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';

/** Runs `fetches` in a brand-new session `runs` times and returns the values of each run. */
async function runSession(g: fs.Graph, fetches: Tensor[], runs = 1, feeds?: fs.Feeds): Promise<HostTensor[][]> {
  const sess = new fs.Session(g, { logger: () => {} });
  try {
    const out: HostTensor[][] = [];
    for (let i = 0; i < runs; i++) out.push((await sess.run(fetches, feeds)) as HostTensor[]);
    return out;
  } finally {
    await sess.close();
  }
}

function bits(t: HostTensor | undefined): string {
  assert.ok(t);
  return Buffer.from((t.data as Float32Array).buffer).toString('hex');
}

function stats(values: readonly number[]): { mean: number; std: number } {
  let s = 0;
  for (const v of values) s += v;
  const mean = s / values.length;
  let q = 0;
  for (const v of values) q += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(q / values.length) };
}

const N = 10_000;

describe('random op seeding', () => {
  it('same graph and op seeds give identical bits in a new session, and the sequence advances per run', async () => {
    const g = new fs.Graph();
    g.randomSeed = 42;
    const [u, n, t] = fs.withGraph(g, () => [
      fs.randomUniform([4, 5]),
      fs.randomNormal([7], { seed: 3 }),
      fs.truncatedNormal([6]),
    ]);
    const first = await runSession(g, [u as Tensor, n as Tensor, t as Tensor], 2);
    const second = await runSession(g, [u as Tensor, n as Tensor, t as Tensor], 2);
    for (let k = 0; k < 3; k++) {
      assert.equal(bits(first[0]?.[k]), bits(second[0]?.[k]), `output ${k}, run 1`);
      assert.equal(bits(first[1]?.[k]), bits(second[1]?.[k]), `output ${k}, run 2`);
      assert.notEqual(bits(first[0]?.[k]), bits(first[1]?.[k]), `output ${k} repeats across runs`);
    }
  });

  it('rebuilding the same program with the same graph seed reproduces the values', async () => {
    const build = (graphSeed: number) => {
      const g = new fs.Graph();
      g.randomSeed = graphSeed;
      const ts = fs.withGraph(g, () => [fs.randomNormal([16]), fs.randomNormal([16])]);
      return { g, ts };
    };
    const a = build(7);
    const b = build(7);
    const c = build(8);
    const [ra] = await runSession(a.g, a.ts);
    const [rb] = await runSession(b.g, b.ts);
    const [rc] = await runSession(c.g, c.ts);
    assert.equal(bits(ra?.[0]), bits(rb?.[0]));
    assert.equal(bits(ra?.[1]), bits(rb?.[1]));
    // Two ops in one graph draw different streams; a different graph seed changes both.
    assert.notEqual(bits(ra?.[0]), bits(ra?.[1]));
    assert.notEqual(bits(ra?.[0]), bits(rc?.[0]));
    assert.notEqual(bits(ra?.[1]), bits(rc?.[1]));
  });

  it('an op seed alone is reproducible (default graph seed); different op seeds differ', async () => {
    const g = new fs.Graph();
    const [a, b, c] = fs.withGraph(g, () => [
      fs.randomUniform([32], { seed: 5 }),
      fs.randomUniform([32], { seed: 5 }),
      fs.randomUniform([32], { seed: 6 }),
    ]);
    const [r] = await runSession(g, [a as Tensor, b as Tensor, c as Tensor]);
    assert.equal(bits(r?.[0]), bits(r?.[1]));
    assert.notEqual(bits(r?.[0]), bits(r?.[2]));
  });

  it('unseeded ops differ between sessions', async () => {
    const g = new fs.Graph();
    const t = fs.withGraph(g, () => fs.randomNormal([32]));
    const [a] = await runSession(g, [t]);
    const [b] = await runSession(g, [t]);
    assert.notEqual(bits(a?.[0]), bits(b?.[0]));
  });

  it('an unseeded truncatedNormal still re-draws from independent streams', async () => {
    const g = new fs.Graph();
    const t = fs.withGraph(g, () => fs.truncatedNormal([N]));
    const [r] = await runSession(g, [t]);
    const values = r?.[0]?.toNumbers() ?? [];
    assert.ok(values.every((v) => Math.abs(v) <= 2));
    // With identical streams every out-of-range draw would be clipped to ±2 (about 4.5% of the values).
    assert.ok(values.filter((v) => Math.abs(v) > 1.999).length < 10);
  });
});

describe('random distributions', () => {
  it('randomUniform covers [minval, maxval) with the uniform mean and std', async () => {
    const g = new fs.Graph();
    const [f32, f64] = fs.withGraph(g, () => [
      fs.randomUniform([N], { minval: -2, maxval: 6, seed: 1 }),
      fs.randomUniform([100, 100], { dtype: 'float64', seed: 2 }),
    ]);
    const [r] = await runSession(g, [f32 as Tensor, f64 as Tensor]);
    const a = r?.[0]?.toNumbers() ?? [];
    assert.equal(a.length, N);
    assert.ok(a.every((v) => v >= -2 && v < 6));
    const s = stats(a);
    // Uniform(-2, 6): mean 2, std 8/sqrt(12); the standard error of the mean is ~0.023.
    assert.ok(Math.abs(s.mean - 2) < 0.1, `mean ${s.mean}`);
    assert.ok(Math.abs(s.std - 8 / Math.sqrt(12)) < 0.05, `std ${s.std}`);
    assert.equal(r?.[1]?.dtype, 'float64');
    assert.deepEqual(r?.[1]?.shape, [100, 100]);
    assert.ok(Math.abs(stats(r?.[1]?.toNumbers() ?? []).mean - 0.5) < 0.02);
  });

  it('integer randomUniform draws every value of [minval, maxval) about equally often', async () => {
    const g = new fs.Graph();
    const [i32, i64] = fs.withGraph(g, () => [
      fs.randomUniform([N], { dtype: 'int32', minval: -3, maxval: 2, seed: 9 }),
      fs.randomUniform([10], { dtype: 'int64', maxval: 1000, seed: 9 }),
    ]);
    const [r] = await runSession(g, [i32 as Tensor, i64 as Tensor]);
    assert.equal(r?.[0]?.dtype, 'int32');
    const counts = new Map<number, number>();
    for (const v of r?.[0]?.toNumbers() ?? []) counts.set(v, (counts.get(v) ?? 0) + 1);
    assert.deepEqual(
      [...counts.keys()].sort((x, y) => x - y),
      [-3, -2, -1, 0, 1],
    );
    for (const c of counts.values()) assert.ok(Math.abs(c - N / 5) < 200, `count ${c}`);
    assert.equal(r?.[1]?.dtype, 'int64');
    assert.ok((r?.[1]?.toNumbers() ?? []).every((v) => Number.isInteger(v) && v >= 0 && v < 1000));
  });

  it('randomNormal has the requested mean and stddev', async () => {
    const g = new fs.Graph();
    const t = fs.withGraph(g, () => fs.randomNormal([N], { mean: 3, stddev: 0.5, seed: 11 }));
    const [r] = await runSession(g, [t]);
    const s = stats(r?.[0]?.toNumbers() ?? []);
    assert.ok(Math.abs(s.mean - 3) < 0.02, `mean ${s.mean}`);
    assert.ok(Math.abs(s.std - 0.5) < 0.02, `std ${s.std}`);
  });

  it('truncatedNormal stays within 2 stddev with the truncated distribution moments', async () => {
    const g = new fs.Graph();
    const [t, t64] = fs.withGraph(g, () => [
      fs.truncatedNormal([N], { mean: -1, stddev: 2, seed: 13 }),
      fs.truncatedNormal([N], { dtype: 'float64', seed: 14 }),
    ]);
    const [r] = await runSession(g, [t as Tensor, t64 as Tensor]);
    const values = r?.[0]?.toNumbers() ?? [];
    assert.ok(
      values.every((v) => v >= -5 && v <= 3),
      'a value lies beyond 2 stddev',
    );
    // Standard normal truncated to [-2, 2]: variance 1 - 2·2·φ(2)/(Φ(2) - Φ(-2)).
    const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
    const mass = 0.9544997361036416;
    const truncStd = Math.sqrt(1 - (4 * phi2) / mass);
    const s = stats(values);
    assert.ok(Math.abs(s.mean + 1) < 0.05, `mean ${s.mean}`);
    assert.ok(Math.abs(s.std - 2 * truncStd) < 0.05, `std ${s.std} vs ${2 * truncStd}`);
    // Not clipped: the values near the bound are no more frequent than the density there says.
    const nearBound = values.filter((v) => v > 2.9 || v < -4.9).length;
    assert.ok(nearBound < 60, `${nearBound} values piled up at the bound`);
    const s64 = stats(r?.[1]?.toNumbers() ?? []);
    assert.equal(r?.[1]?.dtype, 'float64');
    assert.ok(Math.abs(s64.std - truncStd) < 0.03);
  });

  it('takes a shape computed at run time', async () => {
    const g = new fs.Graph();
    const t = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [-1, 3], name: 'x' });
      const r = fs.randomNormal(fs.shape(x), { seed: 1 });
      assert.deepEqual(r.shape, [null, null]);
      return r;
    });
    const [r] = await runSession(g, [t], 1, { 'x:0': HostTensor.from('float32', [0, 0, 0, 0, 0, 0], [2, 3]) });
    assert.deepEqual(r?.[0]?.shape, [2, 3]);
  });
});

describe('random op definitions', () => {
  it('are stateful, have no gradient, and validate their arguments', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const t = fs.randomUniform([2]);
      assert.equal(t.op.def.stateful, true);
      assert.equal(t.op.def.notDifferentiable, true);
      assert.equal(fs.truncatedNormal([2]).op.def.stateful, true);
      assert.throws(() => fs.randomUniform([2], { dtype: 'int32' }), InvalidArgument);
      assert.throws(() => fs.randomUniform([2], { minval: 1, maxval: 1 }), InvalidArgument);
      assert.throws(() => fs.randomNormal([2], { dtype: 'int32' }), /dtype must be one of float32, float64/);
      assert.throws(() => fs.randomNormal([-1]), InvalidArgument);
    });
  });
});
