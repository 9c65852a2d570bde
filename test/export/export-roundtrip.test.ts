import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { exportModel, type ExportOptions } from '../../src/export/export.js';
import { classificationSignature, predictSignature } from '../../src/export/signatures.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { globalVariablesInitializer } from '../../src/ops/variables.js';
import { Session } from '../../src/runtime/session.js';
import { mlp, type MnistModel } from '../../src/train/models.js';

const BATCH = 4;

/** A deterministic batch of "images" in [0, 1). */
function images(): Float32Array {
  const x = new Float32Array(BATCH * 784);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 1000) / 1000;
  return x;
}

describe('exportModel round trip', () => {
  let base: string;
  let session: Session;
  let model: MnistModel;
  let options: ExportOptions;

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'flowserve-export-'));
    const graph = new Graph();
    const init = withGraph(graph, () => {
      model = mlp({ seed: 3, graph });
      return globalVariablesInitializer(graph);
    });
    session = new Session(graph, { logger: () => {} });
    await session.run(init);
    options = {
      exportBase: base,
      version: 1,
      signatures: {
        serving_default: classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
        predict_images: predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
      },
    };
  });
  after(async () => {
    await session.close();
    await rm(base, { recursive: true, force: true });
  });

  it('is written atomically: only the final all-digit directory ever appears, always complete', async () => {
    const seenIncomplete: string[] = [];
    let done = false;
    const exporting = exportModel(session, options).finally(() => {
      done = true;
    });
    while (!done) {
      for (const entry of await readdir(base).catch(() => [] as string[])) {
        if (!/^\d+$/.test(entry)) continue;
        const files = await readdir(path.join(base, entry)).catch(() => [] as string[]);
        if (!files.includes('model.onnx') || !files.includes('signatures.json')) seenIncomplete.push(entry);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await exporting;
    assert.deepEqual(seenIncomplete, []);
    assert.deepEqual(await readdir(base), ['00000001']);
    assert.equal(result.versionDir, path.join(base, '00000001'));
    assert.deepEqual((await readdir(result.versionDir)).sort(), ['model.onnx', 'signatures.json', 'variables']);
  });

  it('the exported model.onnx runs in plain onnxruntime-node with the training session outputs', async () => {
    const x = images();
    const expected = (await session.run(model.scores, {
      'x:0': new HostTensor('float32', [BATCH, 784], x),
    })) as HostTensor;
    const ortSession = await ort.InferenceSession.create(path.join(base, '00000001', 'model.onnx'));
    try {
      assert.deepEqual(ortSession.inputNames, ['x']);
      assert.deepEqual(ortSession.outputNames, ['y']);
      const out = await ortSession.run({ x: new ort.Tensor('float32', x, [BATCH, 784]) });
      const y = out.y as ort.Tensor;
      assert.deepEqual(y.dims, [BATCH, 10]);
      const got = y.data as Float32Array;
      const want = expected.data as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs((got[i] as number) - (want[i] as number)));
      assert.ok(maxDiff <= 1e-6, `max |difference| ${maxDiff}`);
      // Rows are probability distributions (an independent check that the scores are a softmax).
      for (let r = 0; r < BATCH; r++) {
        const sum = Array.from(got.subarray(r * 10, r * 10 + 10)).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${r} sums to ${sum}`);
      }
    } finally {
      await ortSession.release();
    }
  });

  it('signatures.json names the chapter tensors', async () => {
    const file = JSON.parse(await readFile(path.join(base, '00000001', 'signatures.json'), 'utf8')) as {
      default: string;
      signatures: Record<string, { method: string; inputs: Record<string, unknown>; outputs: Record<string, unknown> }>;
    };
    assert.equal(file.default, 'serving_default');
    assert.deepEqual(Object.keys(file.signatures).sort(), ['predict_images', 'serving_default']);
    const cls = file.signatures.serving_default;
    assert.equal(cls?.method, 'tensorflow/serving/classify');
    assert.deepEqual(cls?.inputs, { inputs: { name: 'x', dtype: 'float32', shape: [-1, 784] } });
    assert.deepEqual(cls?.outputs, { scores: { name: 'y', dtype: 'float32', shape: [-1, 10] } });
    const predict = file.signatures.predict_images;
    assert.equal(predict?.method, 'tensorflow/serving/predict');
    assert.deepEqual(predict?.inputs, { images: { name: 'x', dtype: 'float32', shape: [-1, 784] } });
    assert.deepEqual(predict?.outputs, { scores: { name: 'y', dtype: 'float32', shape: [-1, 10] } });
  });

  it('refuses to overwrite an existing version unless asked, and leaves it intact', async () => {
    const model1 = path.join(base, '00000001', 'model.onnx');
    const before = await stat(model1);
    await assert.rejects(exportModel(session, options), (err: Error) => {
      assert.equal(err.name, 'AlreadyExists');
      assert.ok(err.message.includes(path.join(base, '00000001')), err.message);
      return true;
    });
    assert.equal((await stat(model1)).mtimeMs, before.mtimeMs);
    await exportModel(session, { ...options, overwrite: true });
    assert.deepEqual(await readdir(base), ['00000001']);
    await exportModel(session, { ...options, version: 2 });
    assert.deepEqual((await readdir(base)).sort(), ['00000001', '00000002']);
  });
});
