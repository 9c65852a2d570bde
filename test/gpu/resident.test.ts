/**
 * A tensor that one GPU partition makes and only a later GPU partition reads stays in device memory (ONNX Runtime's
 * `gpu-buffer` output fed straight into the next session): it is listed in `lastRunMetadata.resident`, not in
 * `transfers`, the numbers equal the CPU-only session's, and no device buffer outlives a run.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { DeviceTensor } from '../../src/runtime/ort.js';
import { assertAllClose, CPU0, CPU_ONLY, GPU0, gpuSkip } from './gpu-helpers.js';

const quiet = { logger: () => {} };

/**
 * GPU stage 0: h = x·w, r = relu(h) · CPU stage 1: m = max(h) · GPU stage 2: y = r · m.
 * `r` goes from GPU stage 0 to GPU stage 2 without visiting the host; `h` and `m` cross devices.
 */
function stagedGraph() {
  const g = new fs.Graph();
  const t = fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, 3], name: 'x' });
    const w = fs.constant(
      [
        [1, -2, 0.5, 3],
        [-1, 0.25, 2, -0.5],
        [0.5, 1, -1, 1],
      ],
      { name: 'w' },
    );
    const h = fs.matmul(x, w, { name: 'h' });
    const r = fs.relu(h, { name: 'r' });
    const m = g.device('/cpu:0', () => fs.reduceMax(h, undefined, { name: 'm' }));
    const y = fs.mul(r, m, { name: 'y' });
    return { x, y };
  });
  return { g, ...t };
}

const X = [
  [1, 2, 3],
  [-1, 0.5, 2],
];

describe('tensors kept on the GPU between partitions', { skip: gpuSkip }, () => {
  it('passes a GPU→GPU tensor in device memory and the rest as counted transfers', async () => {
    const { g, x, y } = stagedGraph();
    const sess = new fs.Session(g, quiet);
    const ref = new fs.Session(g, { ...CPU_ONLY, ...quiet });
    try {
      const got = await sess.run(y, [[x, X]]);
      const meta = sess.lastRunMetadata;
      assert.ok(meta);
      assert.deepEqual(
        meta.partitions.map((p) => [p.device, p.stage]),
        [
          [GPU0, 0],
          [CPU0, 1],
          [GPU0, 2],
        ],
      );
      assert.deepEqual(meta.resident, [{ tensor: 'r:0', device: GPU0, bytes: 2 * 4 * 4 }]);
      assert.deepEqual(
        meta.transfers.map((t) => [t.tensor, t.from, t.to, t.bytes]),
        [
          ['h:0', GPU0, CPU0, 2 * 4 * 4],
          ['m:0', CPU0, GPU0, 4],
        ],
      );
      const want = await ref.run(y, [[x, X]]);
      assert.deepEqual(got.shape, [2, 4]);
      assertAllClose(got.data as Float32Array, want.data as Float32Array, { what: 'y' });
    } finally {
      await sess.close();
      await ref.close();
    }
  });

  it('frees the device buffer of every run (ONNX Runtime frees it only on dispose)', async () => {
    const { g, x, y } = stagedGraph();
    const sess = new fs.Session(g, quiet);
    const dispose = DeviceTensor.prototype.dispose;
    let disposed = 0;
    DeviceTensor.prototype.dispose = function (this: DeviceTensor) {
      disposed++;
      dispose.call(this);
    };
    try {
      const first = await sess.run(y, [[x, X]]);
      for (let i = 0; i < 20; i++) await sess.run(y, [[x, X]]);
      assert.equal(disposed, 21, 'one resident tensor per run, each disposed');
      await assert.rejects(sess.run(y, [[x, [[1, 2]]]]), /Cannot feed value of shape \[1,2\]/);
      assert.deepEqual((await sess.run(y, [[x, X]])).data, first.data);
    } finally {
      DeviceTensor.prototype.dispose = dispose;
      await sess.close();
    }
  });

  it('keeps nothing resident when the tensor is also fetched or read on the CPU', async () => {
    const { g, x, y } = stagedGraph();
    const r = g.tensor('r:0');
    const sess = new fs.Session(g, quiet);
    try {
      const [rv, yv] = await sess.run([r, y], [[x, X]]);
      assert.deepEqual(sess.lastRunMetadata?.resident, []);
      assert.deepEqual(rv?.shape, [2, 4]);
      assert.deepEqual(yv?.shape, [2, 4]);
    } finally {
      await sess.close();
    }
  });

  it('keeps a GPU variable in device memory between runs, frees each replaced value, and reads it back', async () => {
    const g = new fs.Graph();
    const { v, inc } = fs.withGraph(g, () => {
      const v = new fs.Variable([1, 2, 3], { name: 'v' });
      return { v, inc: v.assignAdd(fs.constant([1, 1, 1]), { name: 'inc' }) };
    });
    const dispose = DeviceTensor.prototype.dispose;
    let disposed = 0;
    DeviceTensor.prototype.dispose = function (this: DeviceTensor) {
      disposed++;
      dispose.call(this);
    };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gpu-vars-'));
    const sess = new fs.Session(g, quiet);
    try {
      await sess.run(fs.globalVariablesInitializer(g));
      for (let i = 0; i < 10; i++) await sess.run(inc.op);
      assert.deepEqual(sess.lastRunMetadata?.residentVariables, ['v']);
      assert.deepEqual(sess.lastRunMetadata?.transfers, []);
      assert.equal(disposed, 10, 'each update frees the value it replaces');
      assert.deepEqual((await sess.readVariable(v)).toNumbers(), [11, 12, 13]);
      assert.deepEqual((await sess.run(v.value)).toNumbers(), [11, 12, 13], 'a fetch reads it too');

      // The Saver reads through the same copy; restoring writes host values, which the next step takes.
      const ckpt = await new fs.Saver().save(sess, path.join(dir, 'model.ckpt'));
      sess.writeVariable(v, new fs.HostTensor('float32', [3], Float32Array.from([0, 0, 0])));
      assert.equal(disposed, 11);
      await sess.run(inc.op);
      assert.deepEqual((await sess.readVariable(v)).toNumbers(), [1, 1, 1]);
      await new fs.Saver().restore(sess, ckpt);
      assert.deepEqual((await sess.readVariable(v)).toNumbers(), [11, 12, 13]);
      assert.equal(disposed, 12);
      await sess.run(inc.op);
      assert.deepEqual((await sess.readVariable(v)).toNumbers(), [12, 13, 14]);
    } finally {
      await sess.close();
      DeviceTensor.prototype.dispose = dispose;
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(disposed, 13, 'close frees the last value');
    await assert.rejects(sess.readVariable(v), /closed Session/);
  });
});
