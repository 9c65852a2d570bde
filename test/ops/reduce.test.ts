import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { nd, randomNd, reduceRef, type Nd, type ReduceKind } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

type Reducer = (x: fs.TensorLike, axes?: number | readonly number[], options?: fs.ReduceOptions) => Tensor;
const REDUCERS: [string, Reducer, ReduceKind][] = [
  ['reduceSum', fs.reduceSum, 'sum'],
  ['reduceMean', fs.reduceMean, 'mean'],
  ['reduceMax', fs.reduceMax, 'max'],
  ['reduceMin', fs.reduceMin, 'min'],
];
const AXES: [string, number | number[] | undefined][] = [
  ['all axes', undefined],
  ['axis 0', 0],
  ['axis -1', -1],
  ['axes [0, 2]', [0, 2]],
  ['no axes ([])', []],
];

describe('reductions forward', () => {
  const x = randomNd([2, 3, 4], 5, -2, 2);
  for (const [name, op, kind] of REDUCERS) {
    for (const [label, axes] of AXES) {
      for (const keepDims of [false, true]) {
        it(`${name} over ${label}, keepDims ${keepDims}`, async () => {
          const out = await evaluate((t) => op(t, axes, { keepDims }), [host(x)]);
          const list = axes === undefined ? undefined : typeof axes === 'number' ? [axes] : axes;
          const expected = reduceRef(x, kind, list, keepDims);
          assert.deepEqual(out.shape, expected.shape);
          assertClose(out.toNumbers(), expected.data, 1e-14, 1e-14, name);
        });
      }
    }
  }
  it('the static shape follows keepDims, with unknown dims kept', () => {
    fs.withGraph(new fs.Graph(), () => {
      const p = fs.placeholder('float32', { shape: [null, 3, 4] });
      assert.deepEqual(fs.reduceSum(p, 1).shape, [null, 4]);
      assert.deepEqual(fs.reduceMean(p, [1, 2], { keepDims: true }).shape, [null, 1, 1]);
      assert.deepEqual(fs.reduceMax(p).shape, []);
    });
  });
  for (const dtype of ['int32', 'int64'] as const) {
    it(`reduceSum, reduceMax and reduceMin work on ${dtype}`, async () => {
      const i = nd([2, 3], [1, -5, 3, 4, 2, -6]);
      assert.deepEqual((await evaluate((t) => fs.reduceSum(t, 1), [host(i, dtype)])).toNumbers(), [-1, 0]);
      assert.deepEqual((await evaluate((t) => fs.reduceMax(t, 0), [host(i, dtype)])).toNumbers(), [4, 2, 3]);
      assert.deepEqual((await evaluate((t) => fs.reduceMin(t), [host(i, dtype)])).toNumbers(), [-6]);
    });
  }
  it('an out-of-range axis names the op', () => {
    fs.withGraph(new fs.Graph(), () => {
      const p = fs.placeholder('float32', { shape: [2, 3] });
      assert.throws(
        () => fs.reduceSum(p, 2, { name: 'total' }),
        (e: Error) => e instanceof InvalidArgument && /total/.test(e.message),
      );
      assert.throws(() => fs.reduceMean(fs.constant([true])), InvalidArgument);
    });
  });
});

describe('argMax', () => {
  const x = randomNd([3, 4], 9);
  it('returns int64 indices by default (TensorFlow output_type)', async () => {
    for (const axis of [0, 1, -1]) {
      const out = await evaluate((t) => fs.argMax(t, axis), [host(x)]);
      assert.equal(out.dtype, 'int64');
      assert.deepEqual(out.toNumbers(), reduceRef(x, 'argmax', [axis]).data);
    }
  });
  it('outputType int32 casts', async () => {
    const out = await evaluate((t) => fs.argMax(t, 1, { outputType: 'int32' }), [host(x, 'float32')]);
    assert.equal(out.dtype, 'int32');
    assert.deepEqual(out.toNumbers(), reduceRef(x, 'argmax', [1]).data);
  });
  it('has a GPU kernel only for int64 results, and no gradient', () => {
    // The WebGPU EP's ArgMax writes int64; output_type int32 needs a Cast of int64, which it lacks (src/ops/kernels.ts).
    assert.deepEqual(fs.ArgMax.kernelConstraints?.GPU?.types?.output_type, ['int64']);
    fs.withGraph(new fs.Graph(), () => {
      const p = fs.placeholder('float64', { shape: [3, 4] });
      const y = fs.add(fs.reduceSum(p), fs.reduceSum(fs.cast(fs.argMax(p, 1), 'float64')));
      assert.ok(gradients(y, [p])[0]);
    });
  });
});

describe('reduction gradients (numeric check, float64)', () => {
  const x = randomNd([2, 3, 4], 17, -2, 2);
  for (const [name, op] of REDUCERS) {
    for (const [label, axes] of AXES) {
      for (const keepDims of [false, true]) {
        it(`${name} over ${label}, keepDims ${keepDims}`, async () => {
          await gradcheck((t) => op(t as Tensor, axes, { keepDims }), [x]);
        });
      }
    }
  }
  it('reduceMean with an unknown batch dim divides by the run-time count', async () => {
    for (const axes of [0, [0, 1], undefined]) {
      await gradcheck((t) => fs.reduceMean(t as Tensor, axes), [x], { shapes: [[null, 3, 4]] });
    }
  });
  it('reduceSum with an unknown batch dim', async () => {
    await gradcheck((t) => fs.reduceSum(t as Tensor, 0), [x], { shapes: [[null, 3, null]] });
  });
  it('reduceMax splits the gradient evenly among ties (TensorFlow parity)', async () => {
    const g = new fs.Graph();
    const dx = fs.withGraph(g, () => {
      const p = fs.constant(
        [
          [1, 3, 3],
          [2, 0, 2],
        ],
        { dtype: 'float64' },
      );
      return gradients(fs.reduceMax(p, 1), [p])[0] as Tensor;
    });
    const sess = new fs.Session(g, { logger: () => {} });
    const out = (await sess.run(dx)) as HostTensor;
    await sess.close();
    assert.deepEqual(out.toNumbers(), [0, 0.5, 0.5, 0.5, 0, 0.5]);
  });
});
