import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { depthwiseConv2d, type ConvPadding } from '../../src/ops/depthwise-conv.js';
import { assertClose, evaluate } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType) => HostTensor.from(dtype, x.data, x.shape);

/**
 * Float64 depthwise convolution written from TensorFlow's definition: output[n, oh, ow, c·M + m] =
 * Σ_{i,j} input[n, oh·sh + i·dh − pad_top, ow·sw + j·dw − pad_left, c] · filter[i, j, c, m], zero outside.
 */
function depthwiseRef(
  x: Nd,
  f: Nd,
  [sh, sw]: [number, number],
  [dh, dw]: [number, number],
  padding: ConvPadding,
  explicit: [number, number, number, number] = [0, 0, 0, 0],
): Nd {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const [kh, kw, , M] = f.shape as [number, number, number, number];
  const axis = (size: number, k: number, s: number, d: number, before: number, after: number) => {
    const kEff = (k - 1) * d + 1;
    if (padding === 'SAME') {
      const out = Math.ceil(size / s);
      const total = Math.max((out - 1) * s + kEff - size, 0);
      return [out, Math.floor(total / 2)];
    }
    if (padding === 'VALID') return [Math.floor((size - kEff) / s) + 1, 0];
    return [Math.floor((size + before + after - kEff) / s) + 1, before];
  };
  const [Ho, pt] = axis(H, kh, sh, dh, explicit[0], explicit[1]) as [number, number];
  const [Wo, pl] = axis(W, kw, sw, dw, explicit[2], explicit[3]) as [number, number];
  const out = new Array<number>(N * Ho * Wo * C * M).fill(0);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let c = 0; c < C; c++)
          for (let m = 0; m < M; m++) {
            let s = 0;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const h = oh * sh + i * dh - pt;
                const w = ow * sw + j * dw - pl;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                s +=
                  (x.data[((n * H + h) * W + w) * C + c] as number) *
                  (f.data[((i * kw + j) * C + c) * M + m] as number);
              }
            out[(((n * Ho + oh) * Wo + ow) * C + c) * M + m] = s;
          }
  return { shape: [N, Ho, Wo, C * M], data: out };
}

interface Case {
  label: string;
  x: number[];
  f: number[];
  strides: [number, number];
  dilations: [number, number];
  padding: ConvPadding;
  explicit?: [number, number, number, number];
}

const CASES: Case[] = [
  { label: 'VALID stride 1', x: [2, 5, 5, 3], f: [3, 3, 3, 1], strides: [1, 1], dilations: [1, 1], padding: 'VALID' },
  {
    label: 'SAME stride 2 on odd sizes (asymmetric padding)',
    x: [1, 7, 6, 2],
    f: [3, 3, 2, 1],
    strides: [2, 2],
    dilations: [1, 1],
    padding: 'SAME',
  },
  {
    label: 'SAME with channel multiplier 2 and an even kernel',
    x: [1, 5, 4, 3],
    f: [2, 2, 3, 2],
    strides: [1, 1],
    dilations: [1, 1],
    padding: 'SAME',
  },
  { label: 'SAME dilation 2', x: [1, 7, 7, 2], f: [3, 3, 2, 1], strides: [1, 1], dilations: [2, 2], padding: 'SAME' },
  {
    label: 'VALID stride 2 with different row and column strides',
    x: [1, 8, 9, 2],
    f: [3, 2, 2, 2],
    strides: [2, 3],
    dilations: [1, 1],
    padding: 'VALID',
  },
  {
    label: 'EXPLICIT padding (uneven, as TF.js Pad folding emits)',
    x: [1, 6, 6, 2],
    f: [3, 3, 2, 1],
    strides: [2, 2],
    dilations: [1, 1],
    padding: 'EXPLICIT',
    explicit: [0, 1, 1, 2],
  },
];

describe('DepthwiseConv2dNative', () => {
  for (const k of CASES) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${k.label} (${dtype})`, async () => {
        const x = randomNd(k.x, 11);
        const f = randomNd(k.f, 12);
        const e = k.explicit;
        const out = await evaluate(
          (a, b) =>
            depthwiseConv2d(a as Tensor, b as Tensor, {
              // TensorFlow's NHWC form for strides and dilations.
              strides: [1, ...k.strides, 1],
              dilations: [1, ...k.dilations, 1],
              padding: k.padding,
              ...(e ? { explicitPaddings: [0, 0, e[0], e[1], e[2], e[3], 0, 0] } : {}),
            }),
          [host(x, dtype), host(f, dtype)],
        );
        const expected = depthwiseRef(x, f, k.strides, k.dilations, k.padding, e);
        assert.deepEqual(out.shape, expected.shape);
        const tol = dtype === 'float32' ? 1e-5 : 1e-13;
        assertClose(out.toNumbers(), expected.data, tol, tol, k.label);
      });
    }
  }

  it('keeps an unknown batch dimension and infers the output shape statically', () => {
    const g = new fs.Graph();
    const y = fs.withGraph(g, () =>
      depthwiseConv2d(
        fs.placeholder('float32', { shape: [null, 9, 9, 4] }),
        fs.placeholder('float32', { shape: [3, 3, 4, 2] }),
        { strides: [1, 2, 2, 1], padding: 'SAME' },
      ),
    );
    assert.deepEqual(y.shape, [null, 5, 5, 8]);
  });

  it('refuses a filter whose in_channels differ from the input depth, naming both shapes', () => {
    const g = new fs.Graph();
    assert.throws(
      () =>
        fs.withGraph(g, () =>
          depthwiseConv2d(
            fs.placeholder('float32', { shape: [1, 5, 5, 3] }),
            fs.placeholder('float32', { shape: [3, 3, 2, 1] }),
            { padding: 'SAME', name: 'dw' },
          ),
        ),
      (e: unknown) => e instanceof InvalidArgument && /'dw'.*3 vs 2.*\[1,5,5,3\].*\[3,3,2,1\]/.test(e.message),
    );
  });

  it('refuses batch strides and malformed explicit paddings', () => {
    const g = new fs.Graph();
    const make = (options: Parameters<typeof depthwiseConv2d>[2]) => () =>
      fs.withGraph(g, () =>
        depthwiseConv2d(
          fs.placeholder('float32', { shape: [1, 5, 5, 1] }),
          fs.placeholder('float32', { shape: [3, 3, 1, 1] }),
          options,
        ),
      );
    assert.throws(make({ strides: [2, 1, 1, 1], padding: 'SAME' }), /strides \[2,1,1,1\] must be 1 in the batch/);
    assert.throws(make({ padding: 'EXPLICIT', explicitPaddings: [0, 0, 1, 1] }), /8 non-negative integers/);
    assert.throws(make({ padding: 'EXPLICIT', explicitPaddings: [1, 0, 1, 1, 1, 1, 0, 0] }), /only pad the height/);
    assert.throws(make({ padding: 'VALID', strides: [1, 1], dilations: [3, 3] }), /effective filter size 7/);
  });
});
