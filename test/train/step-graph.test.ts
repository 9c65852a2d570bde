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

describe('training step graph', () => {
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
