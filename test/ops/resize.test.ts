/**
 * ResizeBilinear and ResizeNearestNeighbor against float64 references written from TensorFlow's kernels
 * (resize_bilinear_op.cc: compute_interpolation_weights; resize_nearest_neighbor_op.cc), for each of
 * TensorFlow's three coordinate conventions, up- and downsampling.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { resizeImages, type ResizeAttrs } from '../../src/ops/resize.js';
import { assertClose, evaluate } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float32') => HostTensor.from(dtype, x.data, x.shape);

function scaleOf(inSize: number, outSize: number, alignCorners: boolean): number {
  return alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
}

/** Source coordinate of output index i (TF's HalfPixelScaler / LegacyScaler). */
function sourceCoord(i: number, scale: number, halfPixel: boolean): number {
  return halfPixel ? (i + 0.5) * scale - 0.5 : i * scale;
}

function resizeRef(x: Nd, [oh, ow]: [number, number], method: 'bilinear' | 'nearest', attrs: ResizeAttrs): Nd {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const align = attrs.align_corners === true;
  const half = attrs.half_pixel_centers === true;
  const at = (b: number, y: number, xx: number, ch: number) => x.data[((b * h + y) * w + xx) * c + ch] as number;
  const sh = scaleOf(h, oh, align);
  const sw = scaleOf(w, ow, align);
  const data: number[] = [];
  // Bilinear: lower/upper source cells and the lerp weight per output index.
  const weights = (i: number, scale: number, inSize: number) => {
    const v = sourceCoord(i, scale, half);
    const f = Math.floor(v);
    return { lo: Math.max(f, 0), hi: Math.min(Math.ceil(v), inSize - 1), lerp: v - f };
  };
  // Nearest: TF floors (x + 0.5)·scale with half pixel centers, roundf(x·scale) with align_corners, else floors.
  const nearest = (i: number, scale: number, inSize: number) => {
    const v = half ? (i + 0.5) * scale : i * scale;
    return Math.max(0, Math.min(align ? Math.round(v) : Math.floor(v), inSize - 1));
  };
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let ch = 0; ch < c; ch++) {
          if (method === 'nearest') {
            data.push(at(b, nearest(y, sh, h), nearest(xx, sw, w), ch));
            continue;
          }
          const wy = weights(y, sh, h);
          const wx = weights(xx, sw, w);
          const top = at(b, wy.lo, wx.lo, ch) + (at(b, wy.lo, wx.hi, ch) - at(b, wy.lo, wx.lo, ch)) * wx.lerp;
          const bottom = at(b, wy.hi, wx.lo, ch) + (at(b, wy.hi, wx.hi, ch) - at(b, wy.hi, wx.lo, ch)) * wx.lerp;
          data.push(top + (bottom - top) * wy.lerp);
        }
  return { shape: [n, oh, ow, c], data };
}

const modes: [string, ResizeAttrs][] = [
  ['asymmetric (TF default)', {}],
  ['align_corners', { align_corners: true }],
  ['half_pixel_centers', { half_pixel_centers: true }],
];

describe('ResizeBilinear and ResizeNearestNeighbor (NHWC)', () => {
  const x = randomNd([2, 3, 5, 2], 61);
  const sizes: [number, number][] = [
    [7, 9],
    [2, 3],
    [1, 1],
    [6, 10],
  ];
  for (const method of ['bilinear', 'nearest'] as const) {
    for (const [label, attrs] of modes) {
      it(`${method}, ${label}: up, down, to 1×1 and by exact factors`, async () => {
        for (const size of sizes) {
          const out = await evaluate((t) => resizeImages(t, size, { method, ...attrs }), [host(x)]);
          const expected = resizeRef(x, size, method, attrs);
          assert.deepEqual(out.shape, expected.shape);
          assertClose(out.toNumbers(), expected.data, 1e-5, 1e-5, `${method} ${label} ${size.join('x')}`);
        }
      });
    }
  }

  it('ResizeBilinear of int32 images outputs float32; ResizeNearestNeighbor keeps int32 and float64', async () => {
    const ints = { shape: x.shape, data: x.data.map((v) => Math.round(v * 100)) };
    const bil = await evaluate((t) => resizeImages(t, [4, 7], { half_pixel_centers: true }), [host(ints, 'int32')]);
    assert.equal(bil.dtype, 'float32');
    assertClose(bil.toNumbers(), resizeRef(ints, [4, 7], 'bilinear', { half_pixel_centers: true }).data, 1e-5, 1e-4);
    for (const dtype of ['int32', 'float64'] as const) {
      const src = dtype === 'int32' ? ints : x;
      for (const [label, attrs] of modes) {
        for (const size of [[5, 8] as [number, number], [2, 2] as [number, number]]) {
          const nn = await evaluate((t) => resizeImages(t, size, { method: 'nearest', ...attrs }), [host(src, dtype)]);
          assert.equal(nn.dtype, dtype);
          assertClose(nn.toNumbers(), resizeRef(src, size, 'nearest', attrs).data, 0, 0, `nearest ${dtype} ${label}`);
        }
      }
    }
  });

  it('an unknown batch dimension resizes per run', async () => {
    const g = new fs.Graph();
    const { xs, y } = fs.withGraph(g, () => {
      const xs = fs.placeholder('float32', { shape: [null, 3, 5, 2], name: 'x' });
      return { xs, y: resizeImages(xs, [6, 4], { align_corners: true }) };
    });
    assert.deepEqual(y.shape, [null, 6, 4, 2]);
    const sess = new fs.Session(g, { logger: () => {} });
    try {
      const [out] = (await sess.run([y], new Map<Tensor, HostTensor>([[xs, host(x)]]))) as HostTensor[];
      assertClose(out?.toNumbers() ?? [], resizeRef(x, [6, 4], 'bilinear', { align_corners: true }).data, 1e-5, 1e-5);
    } finally {
      await sess.close();
    }
  });

  it("refuses what TensorFlow refuses, with TensorFlow's messages", () => {
    const g = new fs.Graph();
    const [img, flat] = fs.withGraph(g, () => [
      fs.placeholder('float32', { shape: [1, 3, 3, 1], name: 'img' }),
      fs.placeholder('float32', { shape: [3, 3], name: 'flat' }),
    ]);
    const refused = (re: RegExp) => (err: unknown) => err instanceof InvalidArgument && re.test(err.message);
    const build =
      (t: Tensor, size: [number, number], attrs: ResizeAttrs = {}) =>
      () =>
        fs.withGraph(g, () => resizeImages(t, size, attrs));
    assert.throws(
      build(img as Tensor, [2, 2], { align_corners: true, half_pixel_centers: true }),
      refused(/align_corners must be False/),
    );
    assert.throws(build(flat as Tensor, [2, 2]), refused(/input must be 4-dimensional \(NHWC\), got shape \[3,3\]/));
    assert.throws(build(img as Tensor, [0, 2]), refused(/output dimensions must be positive, got \[0, 2\]/));
  });
});
