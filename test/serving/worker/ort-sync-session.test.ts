import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { createSyncSession } from '../../../src/serving/worker/ort-sync-session.js';
import { affineModel, tempRepo, type TempRepo } from '../core/model-fixtures.js';

describe("onnxruntime-node's native session, run synchronously", () => {
  let repo: TempRepo;
  let modelPath: string;

  before(async () => {
    repo = await tempRepo();
    modelPath = join(await repo.addVersion('affine', 1, affineModel(2, 1)), 'model.onnx');
  });

  after(() => repo.remove());

  it('is what the installed onnxruntime-node gets, and computes before it returns, as the public run does', async () => {
    // Pins the binding's shape: when an upgrade changes it, this fails and ort-sync-session.ts needs a look (the
    // server itself would fall back to the public, asynchronous run).
    const session = createSyncSession(modelPath);
    assert.ok(session, 'the native binding is not as ort-sync-session.ts expects');
    const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, -1, 0, 0.5, 10]), [2, 4]);
    const results = session.run({ x }, ['y']);
    assert.ok(results.y instanceof ort.Tensor);
    assert.deepEqual(results.y.dims, [2, 4]);
    assert.deepEqual([...(results.y.data as Float32Array)], [3, 5, 7, 9, -1, 1, 2, 21]);
    const reference = await ort.InferenceSession.create(modelPath);
    const expected = await reference.run({ x });
    assert.deepEqual([...(results.y.data as Float32Array)], [...(expected.y?.data as Float32Array)]);
    await reference.release();
    session.release();
  });

  it("throws ONNX Runtime's own error for inputs it refuses, and refuses runs once released", () => {
    const session = createSyncSession(modelPath);
    assert.ok(session);
    const wrong = new ort.Tensor('float32', new Float32Array(6), [2, 3]);
    assert.throws(() => session.run({ x: wrong }, ['y']), /invalid dimensions/i);
    session.release();
    const x = new ort.Tensor('float32', new Float32Array(4), [1, 4]);
    assert.throws(() => session.run({ x }, ['y']), /released/);
    session.release(); // a second release does nothing
  });

  it('a file that is not a model throws at load', async () => {
    const path = join(await repo.addVersion('broken', 1, new Uint8Array([1, 2, 3])), 'model.onnx');
    assert.throws(() => createSyncSession(path));
  });
});
