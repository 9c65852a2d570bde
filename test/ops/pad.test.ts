import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { fusedBatchNorm } from '../../src/ops/batch-norm.js';
import { pad } from '../../src/ops/pad.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { randomNd, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

/** Reference pad of a row-major array: index maps per TensorFlow's CONSTANT / REFLECT / SYMMETRIC definitions. */
function padRef(x: Nd, paddings: [number, number][], mode: 'CONSTANT' | 'REFLECT' | 'SYMMETRIC', value = 0): Nd {
  const outShape = x.shape.map(
    (d, i) => d + (paddings[i] as [number, number])[0] + (paddings[i] as [number, number])[1],
  );
  const size = outShape.reduce((a, b) => a * b, 1);
  const data: number[] = [];
  for (let flat = 0; flat < size; flat++) {
    let rest = flat;
    const idx = outShape.map(() => 0);
    for (let i = outShape.length - 1; i >= 0; i--) {
      idx[i] = rest % (outShape[i] as number);
      rest = Math.floor(rest / (outShape[i] as number));
    }
    let inside = true;
    const src = idx.map((o, i) => {
      const d = x.shape[i] as number;
      let s = o - (paddings[i] as [number, number])[0];
      if (s < 0) {
        if (mode === 'CONSTANT') inside = false;
        s = mode === 'REFLECT' ? -s : -s - 1;
      } else if (s >= d) {
        if (mode === 'CONSTANT') inside = false;
        s = mode === 'REFLECT' ? 2 * d - 2 - s : 2 * d - 1 - s;
      }
      return s;
    });
    if (!inside) {
      data.push(value);
      continue;
    }
    const at = src.reduce((a, s, i) => a * (x.shape[i] as number) + s, 0);
    data.push(x.data[at] as number);
  }
  return { shape: outShape, data };
}

describe('Pad, PadV2, MirrorPad', () => {
  const x = randomNd([3, 4, 2], 21);
  const paddings: [number, number][] = [
    [1, 2],
    [0, 3],
    [2, 0],
  ];
  for (const dtype of ['float32', 'float64', 'int32'] as const) {
    const xv = dtype === 'int32' ? { shape: x.shape, data: x.data.map((v) => Math.round(v * 10)) } : x;
    it(`Pad with zeros, constant paddings (${dtype})`, async () => {
      const out = await evaluate((t) => pad(t, paddings), [host(xv, dtype)]);
      const expected = padRef(xv, paddings, 'CONSTANT');
      assert.deepEqual(out.shape, expected.shape);
      assertClose(out.toNumbers(), expected.data, 1e-6, 1e-6, 'Pad');
    });
    it(`PadV2 with constant_values (${dtype})`, async () => {
      const out = await evaluate((t) => pad(t, paddings, { constantValue: -3 }), [host(xv, dtype)]);
      assertClose(out.toNumbers(), padRef(xv, paddings, 'CONSTANT', -3).data, 1e-6, 1e-6, 'PadV2');
    });
    for (const mode of ['REFLECT', 'SYMMETRIC'] as const) {
      it(`MirrorPad ${mode} up to its limit (${dtype})`, async () => {
        // REFLECT may pad dim − 1, SYMMETRIC dim: both at the limit on one axis.
        const p: [number, number][] = [
          [2, mode === 'REFLECT' ? 2 : 3],
          [3, 1],
          [1, mode === 'REFLECT' ? 1 : 2],
        ];
        const out = await evaluate((t) => pad(t, p, { mode }), [host(xv, dtype)]);
        const expected = padRef(xv, p, mode);
        assert.deepEqual(out.shape, expected.shape);
        assertClose(out.toNumbers(), expected.data, 1e-6, 1e-6, mode);
      });
    }
  }

  it('Pad and MirrorPad REFLECT take paddings fed at run time (int64), with unknown output dims', async () => {
    const g = new fs.Graph();
    const { xs, ps, y, r } = fs.withGraph(g, () => {
      const xs = fs.placeholder('float32', { shape: [3, 4, 2], name: 'x' });
      const ps = fs.placeholder('int64', { shape: [3, 2], name: 'paddings' });
      return { xs, ps, y: pad(xs, ps), r: pad(xs, ps, { mode: 'REFLECT' }) };
    });
    assert.deepEqual(y.shape, [null, null, null]);
    const sess = new fs.Session(g, { logger: () => {} });
    try {
      const feeds = new Map<Tensor, HostTensor>([
        [xs, host(x, 'float32')],
        [ps, HostTensor.from('int64', paddings.flat().map(BigInt), [3, 2])],
      ]);
      const [py] = (await sess.run([y], feeds)) as HostTensor[];
      assertClose(py?.toNumbers() ?? [], padRef(x, paddings, 'CONSTANT').data, 1e-6, 1e-6, 'fed Pad');
      const reflectP: [number, number][] = [
        [1, 2],
        [0, 3],
        [1, 0],
      ];
      const [pr2] = (await sess.run(
        [r],
        new Map([...feeds, [ps, HostTensor.from('int64', reflectP.flat().map(BigInt), [3, 2])]]),
      )) as HostTensor[];
      assertClose(pr2?.toNumbers() ?? [], padRef(x, reflectP, 'REFLECT').data, 1e-6, 1e-6, 'fed REFLECT');
    } finally {
      await sess.close();
    }
  });

  it('Pad gradient is the slice over the input (float64, numeric)', async () => {
    await gradcheck((t) => pad(t, paddings), [x]);
    await gradcheck((t) => pad(t, paddings, { constantValue: 2 }), [x]);
  });

  it('refuses negative paddings, REFLECT past dim − 1 and a paddings shape that is not [rank, 2]', () => {
    const g = new fs.Graph();
    const xs = fs.withGraph(g, () => fs.placeholder('float32', { shape: [3, 4], name: 'x' }));
    const bad = (p: number[][], mode?: 'REFLECT' | 'SYMMETRIC') => () => fs.withGraph(g, () => pad(xs, p, { mode }));
    assert.throws(
      bad([
        [0, -1],
        [0, 0],
      ]),
      (e: unknown) => e instanceof InvalidArgument && /non-negative: 0 -1/.test(e.message),
    );
    assert.throws(
      bad(
        [
          [3, 0],
          [0, 0],
        ],
        'REFLECT',
      ),
      /minus 1: 3, 0 greater than 2 for dimension 0/,
    );
    assert.doesNotThrow(
      bad(
        [
          [3, 0],
          [0, 0],
        ],
        'SYMMETRIC',
      ),
    );
    assert.throws(
      bad(
        [
          [4, 0],
          [0, 0],
        ],
        'SYMMETRIC',
      ),
      /greater than 3 for dimension 0/,
    );
    assert.throws(bad([[1, 1]]), /first dimension of paddings must be the rank of inputs\[2,2\]/);
  });
});

describe('FusedBatchNormV3 (inference)', () => {
  for (const format of ['NHWC', 'NCHW'] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`normalises per channel with epsilon (${format}, ${dtype})`, async () => {
        const shape = format === 'NHWC' ? [2, 3, 2, 4] : [2, 4, 3, 2];
        const x = randomNd(shape, 31);
        const [scale, offset, mean] = [32, 33, 34].map((s) => randomNd([4], s));
        const variance = randomNd([4], 35, 0, 2);
        const eps = 0.001;
        const out = await evaluate(
          (a, s, o, m, v) => fusedBatchNorm(a, s, o, m, v, { epsilon: eps, dataFormat: format }),
          [x, scale, offset, mean, variance].map((t) => host(t as Nd, dtype)),
        );
        const expected = x.data.map((v, i) => {
          const c = format === 'NHWC' ? i % 4 : Math.floor(i / 6) % 4;
          const [sc, of, mu, va] = [scale, offset, mean, variance].map((t) => (t as Nd).data[c] as number);
          return ((v - (mu as number)) * (sc as number)) / Math.sqrt((va as number) + eps) + (of as number);
        });
        const tol = dtype === 'float32' ? 2e-5 : 1e-12;
        assertClose(out.toNumbers(), expected, tol, tol, format);
      });
    }
  }

  it('returns the given mean and variance as batch_mean and batch_variance, and refuses training mode', async () => {
    const g = new fs.Graph();
    const { y, op } = fs.withGraph(g, () => {
      const ins = [
        fs.constant(HostTensor.from('float32', [1, 2, 3, 4], [1, 1, 2, 2])),
        ...[
          [1, 1],
          [0, 0],
          [0.5, -1],
          [4, 9],
        ].map((v) => fs.constant(HostTensor.from('float32', v, [2]))),
      ] as Tensor[];
      const y = fusedBatchNorm(
        ins[0] as Tensor,
        ins[1] as Tensor,
        ins[2] as Tensor,
        ins[3] as Tensor,
        ins[4] as Tensor,
        { epsilon: 0 },
      );
      return { y, op: y.op };
    });
    assert.equal(op.outputs.length, 6);
    const sess = new fs.Session(g, { logger: () => {} });
    try {
      const [yv, bm, bv] = (await sess.run([y, op.outputs[1] as Tensor, op.outputs[2] as Tensor])) as HostTensor[];
      assertClose(yv?.toNumbers() ?? [], [0.25, 1, 1.25, 5 / 3], 1e-6, 1e-6, 'y');
      assert.deepEqual(bm?.toNumbers(), [0.5, -1]);
      assert.deepEqual(bv?.toNumbers(), [4, 9]);
    } finally {
      await sess.close();
    }
    const g2 = new fs.Graph();
    assert.throws(
      () =>
        fs.withGraph(g2, () => {
          const c = fs.constant(HostTensor.from('float32', [1], [1]));
          const x4 = fs.constant(HostTensor.from('float32', [1], [1, 1, 1, 1]));
          return g2.addOp({
            def: fs.FusedBatchNormV3,
            inputs: [x4, c, c, c, c],
            attrs: { epsilon: 0.001, dataFormat: 'NHWC', isTraining: true },
            name: 'bn',
          });
        }),
      (e: unknown) => e instanceof InvalidArgument && /'bn' \(FusedBatchNormV3\): is_training=true/.test(e.message),
    );
  });
});
