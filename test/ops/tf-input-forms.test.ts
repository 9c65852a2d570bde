/**
 * TensorFlow's own input conventions on existing defs, as an imported GraphDef uses them: reduction_indices,
 * ConcatV2's trailing axis and ExpandDims' axis are constant int inputs rather than attrs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import type { OpDef } from '../../src/graph/op-def.js';
import { ConcatV2, ExpandDims, Max, Mean, Prod, Sum, reduceProd } from '../../src/ops/index.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import { randomNd, reduceRef, type Nd } from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

function addTf(def: OpDef, inputs: Tensor[], attrs: Record<string, unknown> = {}, name = def.type): Tensor {
  return (inputs[0] as Tensor).graph.addOp({ def, inputs, attrs, name }).output;
}

const axesConst = (t: Tensor, axes: number[] | number, dtype: 'int32' | 'int64' = 'int32') =>
  fs.constant(typeof axes === 'number' ? axes : axes, { graph: t.graph, dtype, name: 'reduction_indices' });

/** Product over axes in float64 (reduceRef has no product). */
function prodRef(x: Nd, axes: number[], keepDims: boolean): Nd {
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array<number>(outShape.reduce((a, b) => a * b, 1)).fill(1);
  x.data.forEach((v, flat) => {
    let rest = flat;
    let at = 0;
    let stride = 1;
    for (let i = rank - 1; i >= 0; i--) {
      const idx = rest % (x.shape[i] as number);
      rest = Math.floor(rest / (x.shape[i] as number));
      if (!axes.includes(i)) at += idx * stride;
      stride *= outShape[i] as number;
    }
    out[at] = (out[at] as number) * v;
  });
  return { shape: keepDims ? outShape : x.shape.filter((_, i) => !axes.includes(i)), data: out };
}

describe('reductions with a reduction_indices input (TensorFlow form)', () => {
  const x = randomNd([2, 3, 4], 41);
  for (const [def, kind] of [
    [Sum, 'sum'],
    [Mean, 'mean'],
    [Max, 'max'],
  ] as const) {
    it(`${def.type} over negative and repeated axes, keep_dims both ways`, async () => {
      for (const keepDims of [false, true]) {
        const out = await evaluate((t) => addTf(def, [t, axesConst(t, [-1, 1, 2], 'int64')], { keepDims }), [host(x)]);
        const expected = reduceRef(x, kind, [1, 2], keepDims);
        assert.deepEqual(out.shape, expected.shape);
        assertClose(out.toNumbers(), expected.data, 1e-12, 1e-12, `${def.type} keepDims=${keepDims}`);
      }
    });
  }

  it('Mean over the spatial axes (global average pooling, as TF.js emotion has it), and its gradient', async () => {
    const img = randomNd([2, 4, 4, 3], 42);
    const out = await evaluate(
      (t) => addTf(Mean, [t, axesConst(t, [1, 2])], { keepDims: false }),
      [host(img, 'float32')],
    );
    assertClose(out.toNumbers(), reduceRef(img, 'mean', [1, 2]).data, 1e-6, 1e-6, 'gap');
    await gradcheck((t) => addTf(Mean, [t, axesConst(t, [1, 2])], { keepDims: true }), [img]);
  });

  it('a scalar axis and an empty axis list (no reduction) work as TensorFlow', async () => {
    const one = await evaluate((t) => addTf(Sum, [t, axesConst(t, 0)], { keepDims: false }), [host(x)]);
    assertClose(one.toNumbers(), reduceRef(x, 'sum', [0]).data, 1e-12, 1e-12, 'scalar axis');
    const none = await evaluate(
      (t) => addTf(Sum, [t, fs.constant(HostTensor.from('int32', [], [0]), { graph: t.graph })], { keepDims: false }),
      [host(x)],
    );
    assertClose(none.toNumbers(), x.data, 0, 0, 'empty axes');
  });

  it('Prod multiplies over axes, through the helper and the TensorFlow form', async () => {
    const small = randomNd([2, 3, 2], 43, 0.5, 1.5);
    const a = await evaluate((t) => reduceProd(t, [0, 2]), [host(small)]);
    assertClose(a.toNumbers(), prodRef(small, [0, 2], false).data, 1e-12, 1e-12, 'prod');
    const ints = { shape: [2, 3, 2], data: [1, -2, 3, 2, 0, 5, -1, 4, 2, 2, 3, -3] };
    const b = await evaluate((t) => addTf(Prod, [t, axesConst(t, [-2])], { keepDims: true }), [host(ints, 'int32')]);
    assert.deepEqual(b.shape, [2, 1, 2]);
    assert.deepEqual(b.toNumbers(), prodRef(ints, [1], true).data);
  });

  it('refuses reduction_indices computed at run time, and out-of-range axes, naming the op', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const t = fs.placeholder('float32', { shape: [2, 3], name: 'x' });
      const fed = fs.placeholder('int32', { shape: [1], name: 'axes' });
      assert.throws(
        () => addTf(Sum as OpDef, [t, fed], { keepDims: false }, 'sum_fed'),
        (e: unknown) => e instanceof InvalidArgument && /'sum_fed'.*'axes:0' must be a constant/.test(e.message),
      );
      assert.throws(
        () => addTf(Sum as OpDef, [t, axesConst(t, [2])], { keepDims: false }, 'sum_far'),
        (e: unknown) => e instanceof InvalidArgument && /'sum_far'.*axis 2 is out of range/.test(e.message),
      );
    });
  });
});

describe('ConcatV2 and ExpandDims with axis inputs (TensorFlow form)', () => {
  it('ConcatV2 joins along a negative constant axis given as the last input, with gradients', async () => {
    const a = randomNd([2, 3], 44);
    const b = randomNd([2, 1], 45);
    const build = (x: Tensor, y: Tensor) =>
      addTf(ConcatV2, [x, y, fs.constant(-1, { graph: x.graph, dtype: 'int32', name: 'axis' })]);
    const out = await evaluate(build, [host(a), host(b)]);
    assert.deepEqual(out.shape, [2, 4]);
    const expected = [0, 1].flatMap((r) => [...a.data.slice(3 * r, 3 * r + 3), b.data[r] as number]);
    assertClose(out.toNumbers(), expected, 0, 0, 'concat');
    await gradcheck(build, [a, b]);
  });

  it('ExpandDims takes its axis as an input, negative counting from rank + 1', async () => {
    const a = randomNd([2, 3], 46);
    const out = await evaluate(
      (x) => addTf(ExpandDims, [x, fs.constant(-1, { graph: x.graph, dtype: 'int64', name: 'dim' })]),
      [host(a)],
    );
    assert.deepEqual(out.shape, [2, 3, 1]);
    assertClose(out.toNumbers(), a.data, 0, 0, 'expand');
    await gradcheck(
      (x) => addTf(ExpandDims, [x, fs.constant(0, { graph: x.graph, dtype: 'int32', name: 'dim' })]),
      [a],
    );
  });

  it('refuses a fed axis by name', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const t = fs.placeholder('float32', { shape: [2, 3] });
      const fed = fs.placeholder('int32', { shape: [], name: 'ax' });
      assert.throws(
        () => g.addOp({ def: ConcatV2, inputs: [t, t, fed], name: 'cat' }),
        (e: unknown) => e instanceof InvalidArgument && /'cat'.*'ax:0' must be a constant scalar/.test(e.message),
      );
    });
  });
});
