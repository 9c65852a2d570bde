/**
 * The chapter's device-placement examples on a real WebGPU adapter: where TensorFlow puts ops when a GPU exists,
 * what log_device_placement prints, the CPU→GPU copies a device scope causes, and soft placement of /gpu:1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPlacementDemo } from '../../src/cli/demo-placement.js';
import * as fs from '../../src/index.js';
import { CPU0, GPU0, gpuSkip } from './gpu-helpers.js';

const CHAPTER_RESULT = [
  [22, 28],
  [49, 64],
];

/** a (2×3) · b (3×2); `abDevice` is the device scope around a and b, `matmulDevice` the one around the MatMul. */
function chapterGraph(abDevice?: string, matmulDevice?: string) {
  const g = new fs.Graph();
  const c = fs.withGraph(g, () => {
    const make = () => ({
      a: fs.constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' }),
      b: fs.constant([1, 2, 3, 4, 5, 6], { shape: [3, 2], name: 'b' }),
    });
    const { a, b } = abDevice ? g.device(abDevice, make) : make();
    return matmulDevice ? g.device(matmulDevice, () => fs.matmul(a, b)) : fs.matmul(a, b);
  });
  return { g, c };
}

describe("the chapter's placement examples on GPU:0", { skip: gpuSkip }, () => {
  it('default placement puts MatMul, a and b on GPU:0 and logs them as TensorFlow does', async () => {
    const { g, c } = chapterGraph();
    const lines: string[] = [];
    const sess = new fs.Session(g, { logDevicePlacement: true, logger: (l) => lines.push(l) });
    try {
      assert.deepEqual((await sess.run(c))?.toArray(), CHAPTER_RESULT);
      assert.equal(lines[0], 'Device mapping:', lines.join('\n'));
      assert.match(
        lines[1] ?? '',
        /^\/job:localhost\/replica:0\/task:0\/device:GPU:0 -> device: 0, name: .+, pci bus id: /,
      );
      assert.deepEqual(lines.slice(2), [`MatMul: (MatMul): ${GPU0}`, `a: (Const): ${GPU0}`, `b: (Const): ${GPU0}`]);
      assert.deepEqual(
        [...sess.placement()].map(([op, d]) => `${op.name}@${d.name}`),
        [`a@${GPU0}`, `b@${GPU0}`, `MatMul@${GPU0}`],
      );
      const meta = sess.lastRunMetadata;
      assert.deepEqual(
        meta?.partitions.map((p) => p.device),
        [GPU0],
      );
      assert.deepEqual(meta?.transfers, []);
      assert.equal(sess.devices[0]?.name, GPU0, 'GPU first: it has the higher priority');
      assert.deepEqual(sess.devices[0]?.executionProviders, ['webgpu']);
    } finally {
      await sess.close();
    }
  });

  it("with tf.device('/cpu:0') around a and b, the consts stay on the CPU and their values are copied to the GPU", async () => {
    const { g, c } = chapterGraph('/cpu:0');
    const lines: string[] = [];
    const sess = new fs.Session(g, { logDevicePlacement: true, logger: (l) => lines.push(l) });
    try {
      assert.deepEqual((await sess.run(c))?.toArray(), CHAPTER_RESULT);
      assert.deepEqual(lines.slice(2), [`MatMul: (MatMul): ${GPU0}`, `a: (Const): ${CPU0}`, `b: (Const): ${CPU0}`]);
      const meta = sess.lastRunMetadata;
      assert.deepEqual(
        meta?.partitions.map((p) => [p.device, p.stage, p.ops]),
        [
          [CPU0, 0, ['a', 'b']],
          [GPU0, 1, ['MatMul']],
        ],
      );
      // Two float32 [2,3] / [3,2] tensors: 24 bytes each, CPU:0 → GPU:0 (TensorFlow's _Send/_Recv pairs).
      assert.deepEqual(
        [...(meta?.transfers ?? [])].sort((x, y) => x.tensor.localeCompare(y.tensor)),
        [
          { tensor: 'a:0', from: CPU0, to: GPU0, bytes: 24 },
          { tensor: 'b:0', from: CPU0, to: GPU0, bytes: 24 },
        ],
      );
      // The second run reuses the executable and copies the same tensors again.
      assert.deepEqual((await sess.run(c))?.toArray(), CHAPTER_RESULT);
      assert.equal(sess.lastRunMetadata?.cacheHit, true);
      assert.equal(sess.lastRunMetadata?.transfers.length, 2);
    } finally {
      await sess.close();
    }
  });

  it("with tf.device('/gpu:1') and soft placement the MatMul lands on GPU:0; without it, the TensorFlow error", async () => {
    const { g, c } = chapterGraph(undefined, '/gpu:1');
    const lines: string[] = [];
    const soft = new fs.Session(g, {
      allowSoftPlacement: true,
      logDevicePlacement: true,
      logger: (l) => lines.push(l),
    });
    try {
      assert.deepEqual((await soft.run(c))?.toArray(), CHAPTER_RESULT);
      assert.ok(lines.includes(`MatMul: (MatMul): ${GPU0}`), lines.join('\n'));
      assert.ok(
        lines.includes(`Soft placement: op 'MatMul' requested /device:GPU:1, placed on ${GPU0}`),
        lines.join('\n'),
      );
    } finally {
      await soft.close();
    }
    const hard = new fs.Session(g, { logger: () => {} });
    try {
      await assert.rejects(hard.run(c), (e: unknown) => {
        assert.ok(e instanceof fs.InvalidArgument, String(e));
        assert.match(
          e.message,
          /^Cannot assign a device for operation MatMul: .*explicitly assigned to \/device:GPU:1/,
        );
        // GPU:0 exists, so the hint is not "no WebGPU adapter".
        assert.doesNotMatch(e.message, /no WebGPU adapter/);
        return true;
      });
    } finally {
      await hard.close();
    }
  });

  it('`flowserve demo placement` prints the GPU placements and [[22, 28], [49, 64]] for every example', async () => {
    const lines: string[] = [];
    await runPlacementDemo((l) => lines.push(l));
    const text = lines.join('\n');
    assert.equal(lines.filter((l) => l === '[[22, 28], [49, 64]]').length, 3, text);
    assert.equal(lines.filter((l) => l === `MatMul: (MatMul): ${GPU0}`).length, 3, text);
    assert.ok(lines.includes(`a: (Const): ${CPU0}`), text);
    assert.match(text, /explicitly assigned to \/device:GPU:1/);
  });

  it('a session with device_count {GPU: 0} keeps the same graph on the CPU', async () => {
    const { g, c } = chapterGraph();
    const lines: string[] = [];
    const sess = new fs.Session(g, { logDevicePlacement: true, deviceCount: { GPU: 0 }, logger: (l) => lines.push(l) });
    try {
      assert.deepEqual((await sess.run(c))?.toArray(), CHAPTER_RESULT);
      assert.deepEqual(lines, [
        'Device mapping: no known devices.',
        `MatMul: (MatMul): ${CPU0}`,
        `a: (Const): ${CPU0}`,
        `b: (Const): ${CPU0}`,
      ]);
    } finally {
      await sess.close();
    }
  });
});
