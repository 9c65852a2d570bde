/**
 * Numeric gradient check: builds `build(...placeholders)` on float64 inputs, takes the symbolic gradient of
 * L = reduce_sum(y · w) for a fixed random w, and compares it with central finite differences of L computed by
 * re-running the forward pass through a Session.
 */
import assert from 'node:assert/strict';
import { Graph, HostTensor, Session, placeholder, withGraph, mul, reduceSum, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { createRng } from '../../src/data/random.js';
import type { Nd } from './reference.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-7). */
  atol?: number;
  /** Seed of the weights w (default 7). */
  seed?: number;
  /** Static placeholder shapes (null = unknown dim); default: the inputs' shapes. */
  shapes?: readonly (readonly (number | null)[] | undefined)[];
  /** Indices of inputs to differentiate (default: all). Others are fed but not checked. */
  wrt?: readonly number[];
  /** Extra non-float inputs fed as they are (e.g. int labels), appended after the float inputs. */
  fixed?: readonly HostTensor[];
}

export interface GradcheckResult {
  maxAbsError: number;
  symbolic: number[][];
  numeric: number[][];
}

/** Runs the check and asserts every gradient entry is within atol + rtol·|numeric|. */
export async function gradcheck(
  build: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Nd[],
  options: GradcheckOptions = {},
): Promise<GradcheckResult> {
  const eps = options.eps ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-7;
  const wrt = options.wrt ?? inputs.map((_, i) => i);
  const graph = new Graph();
  const { xs, fixedPhs, y, w, loss, grads } = withGraph(graph, () => {
    const xs = inputs.map((x, i) => placeholder('float64', { shape: options.shapes?.[i] ?? x.shape, name: `x${i}` }));
    const fixedPhs = (options.fixed ?? []).map((t, i) => placeholder(t.dtype, { shape: t.shape, name: `fixed${i}` }));
    const y = build(...xs, ...fixedPhs);
    const w = placeholder('float64', { shape: y.shape, name: 'w' });
    const loss = reduceSum(mul(y, w));
    const grads = gradients(
      loss,
      wrt.map((i) => xs[i] as Tensor),
    );
    return { xs, fixedPhs, y, w, loss, grads };
  });
  const session = new Session(graph, { logger: () => {} });
  try {
    const values = inputs.map((x) => HostTensor.from('float64', x.data, x.shape));
    const baseFeeds = (): Map<Tensor, HostTensor> =>
      new Map<Tensor, HostTensor>([
        ...xs.map((t, i) => [t, values[i] as HostTensor] as [Tensor, HostTensor]),
        ...fixedPhs.map((t, i) => [t, (options.fixed ?? [])[i] as HostTensor] as [Tensor, HostTensor]),
      ]);
    const yValue = (await session.run(y, baseFeeds())) as HostTensor;
    const rng = createRng(options.seed ?? 7);
    const wValue = HostTensor.from(
      'float64',
      Array.from({ length: yValue.size }, () => 0.5 + rng()),
      yValue.shape,
    );
    const feeds = (): Map<Tensor, HostTensor> => new Map([...baseFeeds(), [w, wValue]]);
    grads.forEach((g, k) => assert.ok(g, `no gradient flows to input ${wrt[k]}`));
    const symbolic = (await session.run(grads as Tensor[], feeds())).map((t) => (t as HostTensor).toNumbers());
    const numeric: number[][] = [];
    let maxAbsError = 0;
    for (const [k, i] of wrt.entries()) {
      const base = values[i] as HostTensor;
      const data = base.data as Float64Array;
      const numGrad: number[] = [];
      for (let j = 0; j < data.length; j++) {
        const orig = data[j] as number;
        data[j] = orig + eps;
        const plus = ((await session.run(loss, feeds())) as HostTensor).toNumbers()[0] as number;
        data[j] = orig - eps;
        const minus = ((await session.run(loss, feeds())) as HostTensor).toNumbers()[0] as number;
        data[j] = orig;
        numGrad.push((plus - minus) / (2 * eps));
      }
      numeric.push(numGrad);
      const sym = symbolic[k] as number[];
      assert.equal(sym.length, numGrad.length, `gradient ${i} has ${sym.length} entries, expected ${numGrad.length}`);
      numGrad.forEach((n, j) => {
        const s = sym[j] as number;
        const err = Math.abs(s - n);
        maxAbsError = Math.max(maxAbsError, err);
        assert.ok(
          err <= atol + rtol * Math.abs(n),
          `input ${i} element ${j}: symbolic ${s} vs numeric ${n} (error ${err})`,
        );
      });
    }
    return { maxAbsError, symbolic, numeric };
  } finally {
    await session.close();
  }
}

/** Builds `build(...constants)` in a fresh graph and runs it once; returns the host result. */
export async function evaluate(
  build: (...inputs: Tensor[]) => Tensor,
  inputs: readonly HostTensor[],
): Promise<HostTensor> {
  const graph = new Graph();
  const { phs, y } = withGraph(graph, () => {
    const phs = inputs.map((t, i) => placeholder(t.dtype, { shape: t.shape, name: `in${i}` }));
    return { phs, y: build(...phs) };
  });
  const session = new Session(graph, { logger: () => {} });
  try {
    return (await session.run(y, new Map(phs.map((p, i) => [p, inputs[i] as HostTensor])))) as HostTensor;
  } finally {
    await session.close();
  }
}

/** Asserts two number arrays agree within atol + rtol·|expected|, naming the first bad index. */
export function assertClose(
  actual: readonly number[],
  expected: readonly number[],
  rtol = 1e-12,
  atol = 1e-12,
  what = '',
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    assert.ok(
      Math.abs(a - e) <= atol + rtol * Math.abs(e) || (Number.isNaN(a) && Number.isNaN(e)),
      `${what} element ${i}: ${a} vs expected ${e}`,
    );
  });
}
