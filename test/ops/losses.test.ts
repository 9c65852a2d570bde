import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { HostTensor, InvalidArgument, type Tensor } from '../../src/index.js';
import { gradients } from '../../src/train/gradients.js';
import { assertClose, evaluate, gradcheck } from '../helpers/gradcheck.js';
import {
  randomNd,
  softmaxCrossEntropyRef,
  softmaxRef,
  sparseSoftmaxCrossEntropyRef,
  type Nd,
} from '../helpers/reference.js';

const host = (x: Nd, dtype: fs.DType = 'float64') => HostTensor.from(dtype, x.data, x.shape);

/** Rows of positive labels summing to 1. */
function labelDistribution(shape: number[], seed: number): Nd {
  const raw = randomNd(shape, seed, 0.1, 1);
  const c = shape[shape.length - 1] as number;
  const data = raw.data.map((v, i) => {
    const row = Math.floor(i / c);
    return v / raw.data.slice(row * c, (row + 1) * c).reduce((p, q) => p + q, 0);
  });
  return { shape, data };
}

describe('softmaxCrossEntropyWithLogits', () => {
  const logits = randomNd([3, 5], 1, -3, 3);
  const labels = labelDistribution([3, 5], 2);
  for (const dtype of ['float32', 'float64'] as const) {
    it(`gives one loss per example (${dtype})`, async () => {
      const out = await evaluate(
        (y, z) => fs.softmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
        [host(labels, dtype), host(logits, dtype)],
      );
      assert.deepEqual(out.shape, [3]);
      const tol = dtype === 'float32' ? 1e-5 : 1e-13;
      assertClose(out.toNumbers(), softmaxCrossEntropyRef(labels, logits).data, tol, tol);
    });
  }
  it('gradient w.r.t. logits and labels (numeric, float64)', async () => {
    await gradcheck(
      (y, z) => fs.softmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
      [labels, logits],
    );
  });
  it('gradient w.r.t. logits is softmax − labels for dL/dloss = 1', async () => {
    const g = new fs.Graph();
    const dz = fs.withGraph(g, () => {
      const z = fs.constant(host(logits));
      const loss = fs.softmaxCrossEntropyWithLogits({ labels: host(labels), logits: z });
      return gradients(loss, [z])[0] as Tensor;
    });
    const sess = new fs.Session(g, { logger: () => {} });
    const out = (await sess.run(dz)) as HostTensor;
    await sess.close();
    const sm = softmaxRef(logits);
    assertClose(
      out.toNumbers(),
      sm.data.map((p, i) => p - (labels.data[i] as number)),
      1e-13,
      1e-14,
    );
  });
  it('works with an unknown batch dim (gradient too)', async () => {
    await gradcheck(
      (y, z) => fs.softmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
      [labels, logits],
      {
        shapes: [
          [null, 5],
          [null, 5],
        ],
      },
    );
  });
  it('rejects mismatched shapes and dtypes, naming the op', () => {
    fs.withGraph(new fs.Graph(), () => {
      const z = fs.placeholder('float32', { shape: [2, 3] });
      const bad = fs.placeholder('float32', { shape: [2, 4] });
      assert.throws(
        () => fs.softmaxCrossEntropyWithLogits({ labels: bad, logits: z, name: 'xent' }),
        /'xent'.*\[2,4\].*\[2,3\]/,
      );
      const y64 = fs.placeholder('float64', { shape: [2, 3] });
      assert.throws(() => fs.softmaxCrossEntropyWithLogits({ labels: y64, logits: z }), InvalidArgument);
    });
  });
});

describe('sparseSoftmaxCrossEntropyWithLogits', () => {
  const logits = randomNd([4, 3], 3, -3, 3);
  const labels = [2, 0, 1, 2];
  for (const labelType of ['int32', 'int64'] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`picks −log softmax at the label (${labelType} labels, ${dtype} logits)`, async () => {
        const out = await evaluate(
          (y, z) => fs.sparseSoftmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
          [HostTensor.from(labelType, labels), host(logits, dtype)],
        );
        assert.equal(out.dtype, dtype);
        const tol = dtype === 'float32' ? 1e-5 : 1e-13;
        assertClose(out.toNumbers(), sparseSoftmaxCrossEntropyRef(labels, logits).data, tol, tol);
      });
    }
    it(`gradient w.r.t. logits (numeric, float64, ${labelType} labels)`, async () => {
      await gradcheck(
        (z, y) => fs.sparseSoftmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
        [logits],
        { fixed: [HostTensor.from(labelType, labels)] },
      );
    });
  }
  it('gradient is softmax − one_hot(labels), with an unknown batch dim', async () => {
    await gradcheck(
      (z, y) => fs.sparseSoftmaxCrossEntropyWithLogits({ labels: y as Tensor, logits: z as Tensor }),
      [logits],
      { shapes: [[null, 3]], fixed: [HostTensor.from('int32', labels)] },
    );
    const g = new fs.Graph();
    const dz = fs.withGraph(g, () => {
      const z = fs.constant(host(logits));
      const loss = fs.sparseSoftmaxCrossEntropyWithLogits({ labels: HostTensor.from('int64', labels), logits: z });
      return gradients(loss, [z])[0] as Tensor;
    });
    const sess = new fs.Session(g, { logger: () => {} });
    const out = (await sess.run(dz)) as HostTensor;
    await sess.close();
    const sm = softmaxRef(logits);
    const expected = sm.data.map((p, i) => p - (labels[Math.floor(i / 3)] === i % 3 ? 1 : 0));
    assertClose(out.toNumbers(), expected, 1e-13, 1e-14);
  });
  it('rejects float labels and mismatched batch shapes', () => {
    fs.withGraph(new fs.Graph(), () => {
      const z = fs.placeholder('float32', { shape: [4, 3] });
      assert.throws(
        () => fs.sparseSoftmaxCrossEntropyWithLogits({ labels: fs.placeholder('float32', { shape: [4] }), logits: z }),
        InvalidArgument,
      );
      assert.throws(
        () =>
          fs.sparseSoftmaxCrossEntropyWithLogits({
            labels: fs.placeholder('int32', { shape: [5] }),
            logits: z,
            name: 'sx',
          }),
        /'sx'.*\[5\].*\[4,3\]/,
      );
    });
  });
});
