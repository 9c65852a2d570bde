import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as fs from '../../src/index.js';

const { onnx } = onnxProto;

/** Op types of the ONNX model a session lowered for its only executable, with their counts. */
async function loweredOpCounts(sess: fs.Session): Promise<Record<string, number>> {
  type Step = { lowered: { model: Uint8Array } };
  const cache = (sess as unknown as { cache: Map<string, Promise<{ steps: Step[] }>> }).cache;
  const [executable] = [...cache.values()];
  const graph = onnx.ModelProto.decode(((await executable)?.steps[0] as Step).lowered.model).graph;
  const counts: Record<string, number> = {};
  for (const n of graph?.node ?? []) counts[n.opType as string] = (counts[n.opType as string] ?? 0) + 1;
  return counts;
}

/** The nodes of the ONNX model a session lowered for its only executable. */
async function loweredNodes(sess: fs.Session): Promise<onnxProto.onnx.INodeProto[]> {
  type Step = { lowered: { model: Uint8Array } };
  const cache = (sess as unknown as { cache: Map<string, Promise<{ steps: Step[] }>> }).cache;
  const [executable] = [...cache.values()];
  return onnx.ModelProto.decode(((await executable)?.steps[0] as Step).lowered.model).graph?.node ?? [];
}

describe('training step graph', () => {
  it('a float32 conv filter gradient on the CPU is one 3-D Conv over the batch, equal to the sum it stands for', async () => {
    const g = new fs.Graph();
    const [N, H, W, C, K, O] = [3, 6, 5, 2, 3, 4];
    const { x, grad } = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, H, W, C], name: 'x' });
      const f = fs.constant(
        Array.from({ length: K * K * C * O }, (_, i) => ((i * 37) % 11) / 10 - 0.5),
        { shape: [K, K, C, O], name: 'f' },
      );
      const y = fs.conv2d(x, f, { strides: 2, padding: 'SAME' });
      const dyWeights = fs.constant(
        Array.from({ length: N * 3 * 3 * O }, (_, i) => ((i * 13) % 7) / 7 - 0.4),
        { shape: [N, 3, 3, O] },
      );
      return { x, grad: fs.gradients(fs.reduceSum(fs.mul(y, dyWeights)), [f])[0] as fs.Tensor };
    });
    const sess = new fs.Session(g, { logger: () => {}, deviceCount: { GPU: 0 } });
    const xs = Array.from({ length: N * H * W * C }, (_, i) => ((i * 29) % 17) / 8 - 1);
    const df = (
      await sess.run(grad, new Map([[x, new fs.HostTensor('float32', [N, H, W, C], Float32Array.from(xs))]]))
    ).toNumbers();
    // dW[i,j,c,o] = Σ_{n,h,w} x[n, 2h+i-pt, 2w+j-pl, c] · dY[n,h,w,o] in float64; TensorFlow's SAME pads the 6 rows
    // by pt = 0 above (1 below) and the 5 columns by pl = 1 on each side.
    const dy = (n: number, h: number, w: number, o: number) => (((((n * 3 + h) * 3 + w) * O + o) * 13) % 7) / 7 - 0.4;
    const xv = (n: number, h: number, w: number, c: number) =>
      h < 0 || h >= H || w < 0 || w >= W ? 0 : (xs[((n * H + h) * W + w) * C + c] as number);
    df.forEach((v, idx) => {
      const [i, j, c, o] = [
        Math.floor(idx / (K * C * O)),
        Math.floor(idx / (C * O)) % K,
        Math.floor(idx / O) % C,
        idx % O,
      ];
      let want = 0;
      for (let n = 0; n < N; n++)
        for (let h = 0; h < 3; h++)
          for (let w = 0; w < 3; w++) want += xv(n, 2 * h + i, 2 * w + j - 1, c) * dy(n, h, w, o);
      assert.ok(Math.abs(v - want) < 1e-5, `dW[${i},${j},${c},${o}] = ${v}, expected ${want}`);
    });
    const convs = (await loweredNodes(sess)).filter((n) => n.opType === 'Conv');
    const volumeConvs = convs.filter((n) => n.attribute?.find((a) => a.name === 'dilations')?.ints?.length === 3);
    // The forward convolution is 2-D; the filter gradient one 3-D Conv (not a 2-D Conv per input channel's taps).
    assert.equal(convs.length, 2, JSON.stringify(convs.map((n) => n.name)));
    assert.equal(volumeConvs.length, 1);
    await sess.close();
  });

  it("a mean softmax cross-entropy's gradient has no per-example copy of dY and a constant seed", async () => {
    const g = new fs.Graph();
    const { x, y, grad } = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, 3], name: 'x' });
      const y = fs.placeholder('float32', { shape: [null, 2], name: 'y' });
      const w = fs.constant([1, -1, 0.5, 2, 0, -0.5], { shape: [3, 2], name: 'w' });
      const loss = fs.reduceMean(fs.softmaxCrossEntropyWithLogits({ labels: y, logits: fs.matmul(x, w) }));
      return { x, y, grad: fs.gradients(loss, [w])[0] as fs.Tensor };
    });
    const sess = new fs.Session(g, { logger: () => {}, deviceCount: { GPU: 0 } });
    const feeds = new Map<fs.Tensor, number[][]>([
      [
        x,
        [
          [1, 2, 3],
          [0, -1, 1],
        ],
      ],
      [
        y,
        [
          [1, 0],
          [0, 1],
        ],
      ],
    ]);
    const dw = (await sess.run(grad, feeds)).toNumbers();
    // dL/dW = xᵀ (softmax(xW) − y) / batch, computed here in float64.
    const logits = [
      [1 * 1 + 2 * 0.5 + 3 * 0, 1 * -1 + 2 * 2 + 3 * -0.5],
      [0 * 1 + -1 * 0.5 + 1 * 0, 0 * -1 + -1 * 2 + 1 * -0.5],
    ];
    const p = logits
      .map(([a, b]) => [1 / (1 + Math.exp((b as number) - (a as number))), 0])
      .map(([q]) => [q as number, 1 - (q as number)]);
    const d = p.map((row, i) => row.map((v, j) => (v - (i === j ? 1 : 0)) / 2));
    const xs = feeds.get(x) as number[][];
    const want = [0, 1, 2].flatMap((r) =>
      [0, 1].map((c) => d.reduce((s, drow, i) => s + (xs[i]?.[r] as number) * (drow[c] as number), 0)),
    );
    dw.forEach((v, i) => assert.ok(Math.abs(v - (want[i] as number)) < 1e-6, `dW[${i}] = ${v}, expected ${want[i]}`));
    const ops = await loweredOpCounts(sess);
    // One Shape (the batch size for the mean's divisor) and no Shape of the scalar loss for the seed; three Expands:
    // the seed (constant inputs, which ONNX Runtime folds), the divisor's ones, the mean's dY.
    assert.equal(ops.Shape, 1, JSON.stringify(ops));
    assert.equal(ops.Expand, 3, JSON.stringify(ops));
    await sess.close();
  });
});
