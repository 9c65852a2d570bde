import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { buildModel } from '../../src/train/models.js';

/**
 * The chapter's pipeline in one process: a softmax model in a Session, exported as version 1, served over gRPC and
 * REST; Classify and Predict must give the session's own outputs. With a GPU the session computes on GPU:0 and the
 * server on the CPU: the scores then agree within float32 tolerance (1e-5), not to the last bit.
 */
describe('train → export → serve', () => {
  let dir: string;
  let session: fs.Session;
  let model: ReturnType<typeof buildModel>;
  let server: fs.RunningServer;
  let images: Float32Array;
  const count = 6;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-pipeline-'));
    const g = new fs.Graph();
    model = fs.withGraph(g, () => buildModel('softmax', { seed: 7 }));
    session = new fs.Session(g, { logger: () => {} });
    await session.run(fs.globalVariablesInitializer(g));
    // A few SGD steps so the weights are not the initial zeros.
    const train = fs.withGraph(g, () => new fs.GradientDescentOptimizer(0.5).minimize(model.loss));
    const { train: split, test } = fs.loadMnist({ trainLimit: 200, testLimit: count });
    const labels = new Float32Array(200 * 10);
    split.labels.forEach((l, i) => (labels[i * 10 + l] = 1));
    for (let step = 0; step < 5; step++) {
      await session.run(
        train,
        new Map([
          [model.x, new fs.HostTensor('float32', [200, 784], split.images)],
          [model.labels, new fs.HostTensor('float32', [200, 10], labels)],
        ]),
      );
    }
    images = test.images;
    await fs.exportModel(session, {
      exportBase: path.join(dir, 'mnist'),
      version: 1,
      signatures: {
        serving_default: fs.classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
        predict_images: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
      },
    });
    server = await fs.startServer({
      modelConfig: singleModelConfig('mnist', path.join(dir, 'mnist')),
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
  });

  after(async () => {
    await server?.close();
    await session?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function sessionScores(): Promise<number[][]> {
    const out = await session.run(
      model.scores,
      new Map([[model.x, new fs.HostTensor('float32', [count, 784], images)]]),
    );
    return out?.toArray() as number[][];
  }

  it('Classify over gRPC returns the session scores for each tf.Example', async () => {
    const expected = await sessionScores();
    const client = fs.createClient({ server: `127.0.0.1:${server.grpcPort}`, api: 'grpc' });
    try {
      const examples = Array.from({ length: count }, (_, i) => ({
        x: Array.from(images.subarray(i * 784, (i + 1) * 784)),
      }));
      const result = await client.classify({ name: 'mnist' }, examples);
      assert.equal(result.model.version, 1);
      result.classifications.forEach((classes, i) => {
        assert.deepEqual(
          classes.map((c) => c.label),
          ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        );
        classes.forEach((c, k) =>
          assert.ok(Math.abs(c.score - (expected[i]?.[k] ?? NaN)) < 1e-5, `example ${i} class ${k}`),
        );
      });
    } finally {
      client.close();
    }
  });

  it('Predict over REST returns the session scores', async () => {
    const expected = await sessionScores();
    const client = fs.createClient({ server: `127.0.0.1:${server.restPort}`, api: 'rest' });
    try {
      const result = await client.predict(
        { name: 'mnist', signatureName: 'predict_images' },
        { images: new fs.HostTensor('float32', [count, 784], images.slice(0, count * 784)) },
      );
      const scores = result.outputs.scores?.toArray() as number[][];
      scores.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - (expected[i]?.[k] ?? NaN)) < 1e-5)));
    } finally {
      client.close();
    }
  });

  it('Open Inference Protocol infer (REST /v2, JSON and binary) gives the same scores as Predict over REST v1', async () => {
    const client = fs.createClient({ server: `127.0.0.1:${server.restPort}`, api: 'rest' });
    let v1: number[];
    try {
      const result = await client.predict(
        { name: 'mnist', signatureName: 'predict_images' },
        { images: new fs.HostTensor('float32', [count, 784], images.slice(0, count * 784)) },
      );
      v1 = result.outputs.scores?.toNumbers() as number[];
    } finally {
      client.close();
    }
    const url = `http://127.0.0.1:${server.restPort}/v2/models/mnist/infer`;
    const pixels = Array.from(images.subarray(0, count * 784));
    const input = { name: 'images', datatype: 'FP32', shape: [count, 784] };
    const parameters = { signature_name: 'predict_images' };
    const json = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ parameters, inputs: [{ ...input, data: pixels }] }),
    });
    assert.equal(json.status, 200);
    const answer = (await json.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
    assert.deepEqual(answer.outputs[0]?.shape, [count, 10]);
    // Both paths print float32 values that read back to the same float32: the scores agree exactly.
    assert.deepEqual(answer.outputs[0]?.data.map(Math.fround), v1.map(Math.fround));

    const header = Buffer.from(
      JSON.stringify({
        parameters: { ...parameters, binary_data_output: true },
        inputs: [{ ...input, parameters: { binary_data_size: count * 784 * 4 } }],
      }),
    );
    const raw = Buffer.from(images.buffer, images.byteOffset, count * 784 * 4);
    const binary = await fetch(url, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, raw]),
    });
    assert.equal(binary.status, 200);
    const bytes = Buffer.from(await binary.arrayBuffer());
    const jsonLength = Number(binary.headers.get('inference-header-content-length'));
    const scores = new Float32Array(bytes.buffer.slice(bytes.byteOffset + jsonLength, bytes.byteOffset + bytes.length));
    assert.deepEqual(Array.from(scores), v1.map(Math.fround));
  });
});
