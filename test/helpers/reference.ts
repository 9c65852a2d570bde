/**
 * Float64 reference implementations in plain JavaScript loops, written independently of the ONNX lowerings,
 * for checking ops against values computed in the test.
 */
import { createRng, type Rng } from '../../src/data/random.js';

/** A dense row-major array. */
export interface Nd {
  shape: number[];
  data: number[];
}

export function nd(shape: readonly number[], data: readonly number[]): Nd {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`shape [${shape.join(',')}] needs ${size} values, got ${data.length}`);
  return { shape: [...shape], data: [...data] };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function strides(shape: readonly number[]): number[] {
  const s = Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const out = Array<number>(shape.length).fill(0);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i] as number;
    out[i] = index % d;
    index = Math.floor(index / d);
  }
  return out;
}

/** Uniform values in [lo, hi) from a seeded generator. */
export function randomNd(shape: readonly number[], seedOrRng: number | Rng, lo = -1, hi = 1): Nd {
  const rng = typeof seedOrRng === 'number' ? createRng(seedOrRng) : seedOrRng;
  return nd(
    shape,
    Array.from({ length: sizeOf(shape) }, () => lo + (hi - lo) * rng()),
  );
}

/** Numpy-broadcast binary elementwise op. */
export function broadcastBinary(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...Array(rank - a.shape.length).fill(1), ...a.shape] as number[];
  const pb = [...Array(rank - b.shape.length).fill(1), ...b.shape] as number[];
  const shape = pa.map((d, i) => {
    const e = pb[i] as number;
    if (d !== e && d !== 1 && e !== 1) throw new RangeError('reference: shapes do not broadcast');
    return Math.max(d, e);
  });
  const sa = strides(pa);
  const sb = strides(pb);
  const data: number[] = [];
  for (let i = 0; i < sizeOf(shape); i++) {
    const idx = unravel(i, shape);
    let ia = 0;
    let ib = 0;
    idx.forEach((v, k) => {
      ia += ((pa[k] as number) === 1 ? 0 : v) * (sa[k] as number);
      ib += ((pb[k] as number) === 1 ? 0 : v) * (sb[k] as number);
    });
    data.push(f(a.data[ia] as number, b.data[ib] as number));
  }
  return { shape, data };
}

export function mapNd(a: Nd, f: (x: number) => number): Nd {
  return { shape: [...a.shape], data: a.data.map(f) };
}

/** Batched matmul with transposes and batch broadcasting. */
export function matmulRef(a: Nd, b: Nd, transposeA = false, transposeB = false): Nd {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [m, k] = transposeA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const n = (transposeB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const pa = [...Array(rank - batchA.length).fill(1), ...batchA] as number[];
  const pb = [...Array(rank - batchB.length).fill(1), ...batchB] as number[];
  const batch = pa.map((d, i) => Math.max(d, pb[i] as number));
  const data: number[] = [];
  const sa = strides(pa);
  const sb = strides(pb);
  const matA = a.shape[ra - 2]! * a.shape[ra - 1]!;
  const matB = b.shape[rb - 2]! * b.shape[rb - 1]!;
  for (let bi = 0; bi < sizeOf(batch); bi++) {
    const idx = unravel(bi, batch);
    let oa = 0;
    let ob = 0;
    idx.forEach((v, i) => {
      oa += (pa[i] === 1 ? 0 : v) * sa[i]!;
      ob += (pb[i] === 1 ? 0 : v) * sb[i]!;
    });
    const colsA = a.shape[ra - 1]!;
    const colsB = b.shape[rb - 1]!;
    const A = (i: number, j: number) => a.data[oa * matA + (transposeA ? j * colsA + i : i * colsA + j)]!;
    const B = (i: number, j: number) => b.data[ob * matB + (transposeB ? j * colsB + i : i * colsB + j)]!;
    for (let i = 0; i < m!; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k!; p++) s += A(i, p) * B(p, j);
        data.push(s);
      }
    }
  }
  return { shape: [...batch, m!, n], data };
}

export type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'argmax';

/** Reduction over `axes` (all when undefined). */
export function reduceRef(x: Nd, kind: ReduceKind, axes?: readonly number[], keepDims = false): Nd {
  const rank = x.shape.length;
  const ax = (axes ?? [...Array(rank).keys()]).map((a) => (a < 0 ? a + rank : a));
  const outFull = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups: number[][] = Array.from({ length: sizeOf(outFull) }, () => []);
  const so = strides(outFull);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    let o = 0;
    idx.forEach((v, k) => (o += (ax.includes(k) ? 0 : v) * so[k]!));
    groups[o]!.push(x.data[i]!);
  }
  const data = groups.map((g) => {
    if (kind === 'sum') return g.reduce((p, v) => p + v, 0);
    if (kind === 'mean') return g.reduce((p, v) => p + v, 0) / g.length;
    if (kind === 'max') return Math.max(...g);
    if (kind === 'min') return Math.min(...g);
    let best = 0;
    g.forEach((v, i) => {
      if (v > g[best]!) best = i;
    });
    return best;
  });
  const shape = keepDims ? outFull : x.shape.filter((_, i) => !ax.includes(i));
  return { shape, data };
}

/** Softmax / log-softmax over the last axis. */
export function softmaxRef(x: Nd, logarithm = false): Nd {
  const c = x.shape[x.shape.length - 1]!;
  const data: number[] = [];
  for (let r = 0; r < x.data.length / c; r++) {
    const row = x.data.slice(r * c, (r + 1) * c);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
    for (const v of row) data.push(logarithm ? v - lse : Math.exp(v - lse));
  }
  return { shape: [...x.shape], data };
}

export function softmaxCrossEntropyRef(labels: Nd, logits: Nd): Nd {
  const ls = softmaxRef(logits, true);
  const c = logits.shape[logits.shape.length - 1]!;
  const data: number[] = [];
  for (let r = 0; r < ls.data.length / c; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s -= labels.data[r * c + j]! * ls.data[r * c + j]!;
    data.push(s);
  }
  return { shape: logits.shape.slice(0, -1), data };
}

export function sparseSoftmaxCrossEntropyRef(labels: readonly number[], logits: Nd): Nd {
  const ls = softmaxRef(logits, true);
  const c = logits.shape[logits.shape.length - 1]!;
  return { shape: logits.shape.slice(0, -1), data: labels.map((l, r) => -ls.data[r * c + l]!) };
}

// ---- windows (NHWC) -------------------------------------------------------------------------------------------

interface Axis {
  out: number;
  before: number;
}

/** TensorFlow's window rule, as documented for tf.nn.conv2d / max_pool. */
function axisGeometry(size: number, k: number, s: number, padding: 'SAME' | 'VALID'): Axis {
  if (padding === 'VALID') return { out: Math.ceil((size - k + 1) / s), before: 0 };
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}

export interface Window {
  ksize: [number, number];
  strides: [number, number];
  padding: 'SAME' | 'VALID';
}

function geometry(x: Nd, w: Window) {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const gh = axisGeometry(H, w.ksize[0], w.strides[0], w.padding);
  const gw = axisGeometry(W, w.ksize[1], w.strides[1], w.padding);
  return { N, H, W, C, Ho: gh.out, Wo: gw.out, pt: gh.before, pl: gw.before };
}

/** Visits every (output cell, window tap) pair that lands inside the input. */
function forEachTap(
  x: Nd,
  w: Window,
  visit: (n: number, oh: number, ow: number, ih: number, iw: number, i: number, j: number) => void,
) {
  const g = geometry(x, w);
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.Ho; oh++) {
      for (let ow = 0; ow < g.Wo; ow++) {
        for (let i = 0; i < w.ksize[0]; i++) {
          for (let j = 0; j < w.ksize[1]; j++) {
            const ih = oh * w.strides[0] + i - g.pt;
            const iw = ow * w.strides[1] + j - g.pl;
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) visit(n, oh, ow, ih, iw, i, j);
          }
        }
      }
    }
  }
  return g;
}

/** conv2d: x NHWC, filter HWIO. */
export function conv2dRef(x: Nd, f: Nd, strides: [number, number], padding: 'SAME' | 'VALID'): Nd {
  const [kh, kw, C, O] = f.shape as [number, number, number, number];
  const win: Window = { ksize: [kh, kw], strides, padding };
  const g = geometry(x, win);
  const out = Array<number>(g.N * g.Ho * g.Wo * O).fill(0);
  forEachTap(x, win, (n, oh, ow, ih, iw, i, j) => {
    for (let c = 0; c < C; c++) {
      const xv = x.data[((n * g.H + ih) * g.W + iw) * C + c]!;
      for (let o = 0; o < O; o++) {
        out[((n * g.Ho + oh) * g.Wo + ow) * O + o]! += xv * f.data[((i * kw + j) * C + c) * O + o]!;
      }
    }
  });
  return { shape: [g.N, g.Ho, g.Wo, O], data: out };
}

/** d(Σ conv2d(x, f)·dy)/dx and /df by the adjoint loops. */
export function conv2dGradRef(
  x: Nd,
  f: Nd,
  dy: Nd,
  strides: [number, number],
  padding: 'SAME' | 'VALID',
): { dx: Nd; df: Nd } {
  const [kh, kw, C, O] = f.shape as [number, number, number, number];
  const win: Window = { ksize: [kh, kw], strides, padding };
  const dx = Array<number>(x.data.length).fill(0);
  const df = Array<number>(f.data.length).fill(0);
  const g = geometry(x, win);
  forEachTap(x, win, (n, oh, ow, ih, iw, i, j) => {
    for (let c = 0; c < C; c++) {
      for (let o = 0; o < O; o++) {
        const d = dy.data[((n * g.Ho + oh) * g.Wo + ow) * O + o]!;
        const xi = ((n * g.H + ih) * g.W + iw) * C + c;
        const fi = ((i * kw + j) * C + c) * O + o;
        dx[xi]! += d * f.data[fi]!;
        df[fi]! += d * x.data[xi]!;
      }
    }
  });
  return { dx: { shape: [...x.shape], data: dx }, df: { shape: [...f.shape], data: df } };
}

/** max_pool / avg_pool (padding cells ignored, as TensorFlow) and their gradients for a given dy. */
export function poolRef(x: Nd, win: Window, kind: 'max' | 'avg', dy?: Nd): { y: Nd; dx: Nd } {
  const g = geometry(x, win);
  const cells = g.N * g.Ho * g.Wo * g.C;
  const best = Array<number>(cells).fill(-Infinity);
  const arg = Array<number>(cells).fill(-1);
  const sum = Array<number>(cells).fill(0);
  const count = Array<number>(cells).fill(0);
  forEachTap(x, win, (n, oh, ow, ih, iw) => {
    for (let c = 0; c < g.C; c++) {
      const o = ((n * g.Ho + oh) * g.Wo + ow) * g.C + c;
      const xi = ((n * g.H + ih) * g.W + iw) * g.C + c;
      const v = x.data[xi]!;
      if (v > best[o]!) {
        best[o] = v;
        arg[o] = xi;
      }
      sum[o]! += v;
      count[o]! += 1;
    }
  });
  const y = kind === 'max' ? best : sum.map((s, i) => s / count[i]!);
  const dx = Array<number>(x.data.length).fill(0);
  if (dy) {
    if (kind === 'max') arg.forEach((xi, o) => (dx[xi]! += dy.data[o]!));
    else {
      forEachTap(x, win, (n, oh, ow, ih, iw) => {
        for (let c = 0; c < g.C; c++) {
          const o = ((n * g.Ho + oh) * g.Wo + ow) * g.C + c;
          dx[((n * g.H + ih) * g.W + iw) * g.C + c]! += dy.data[o]! / count[o]!;
        }
      });
    }
  }
  return { y: { shape: [g.N, g.Ho, g.Wo, g.C], data: y }, dx: { shape: [...x.shape], data: dx } };
}
