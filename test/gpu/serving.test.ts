/**
 * Serving on the GPU for real: an exported MNIST MLP served twice by one server, once on /device:GPU:0 (the
 * server's --device=gpu, i.e. ONNX Runtime's WebGPU execution provider) and once on the CPU (a per-model
 * `device: "cpu"`). gRPC Predict and Classify and REST Predict must agree within 1e-5, and with the session.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as fs from '../../src/index.js';
import type { ModelConfig } from '../../src/serving/config/model-server-config.js';
import { buildModel } from '../../src/train/models.js';
import { assertAllClose, gpuSkip } from './gpu-helpers.js';

const COUNT = 8;

describe('serving a model on the GPU beside the same model on the CPU', { skip: gpuSkip }, () => {
  let dir: string;
  let server: fs.RunningServer;
  let grpc: ReturnType<typeof fs.createClient>;
  let rest: ReturnType<typeof fs.createClient>;
  let images: Float32Array;
  let expected: number[];
  const logs: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-gpu-serving-'));
    const g = new fs.Graph();
    const model = fs.withGraph(g, () => buildModel('mlp', { seed: 3 }));
    // A CPU session makes the reference: the server's two copies are compared with it and with each other.
    const session = new fs.Session(g, { logger: () => {}, deviceCount: { GPU: 0 } });
    try {
      await session.run(fs.globalVariablesInitializer(g));
      images = fs.loadMnist({ trainLimit: 1, testLimit: COUNT }).test.images;
      const x = new fs.HostTensor('float32', [COUNT, 784], images);
      expected = (await session.run(model.scores, new Map([[model.x, x]]))).toNumbers();
      for (const base of ['mlp_gpu', 'mlp_cpu']) {
        await fs.exportModel(session, {
          exportBase: path.join(dir, base),
          version: 1,
          signatures: {
            serving_default: fs.classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
            predict_images: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
          },
        });
      }
    } finally {
      await session.close();
    }
    const config = (name: string, device?: 'cpu' | 'gpu'): ModelConfig => ({
      name,
      basePath: path.join(dir, name),
      modelPlatform: 'tensorflow',
      versionPolicy: { kind: 'latest', numVersions: 1 },
      versionLabels: {},
      ...(device ? { device } : {}),
    });
    server = await fs.startServer({
      // mlp_gpu takes the server's device (--device=gpu); mlp_cpu overrides it per model.
      device: 'gpu',
      modelConfig: { models: [config('mlp_gpu'), config('mlp_cpu', 'cpu')] },
      numWorkers: 2,
      maxNumLoadRetries: 0,
      fileSystemPollWaitSeconds: -1,
      grpcPort: 0,
      restPort: 0,
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    grpc = fs.createClient({ server: `127.0.0.1:${server.grpcPort}`, api: 'grpc' });
    rest = fs.createClient({ server: `127.0.0.1:${server.restPort}`, api: 'rest' });
  });

  after(async () => {
    grpc?.close();
    rest?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads both versions (AVAILABLE) and says the GPU model serves on /device:GPU:0', async () => {
    for (const name of ['mlp_gpu', 'mlp_cpu']) {
      assert.deepEqual(await grpc.status({ name }), [{ version: 1, state: 'AVAILABLE' }], name);
    }
    assert.ok(
      logs.some((l) => /^info --device=gpu: serving on \/device:GPU:0/.test(l)),
      logs.join('\n'),
    );
    assert.ok(!logs.some((l) => l.startsWith('error') || l.startsWith('warn')), logs.join('\n'));
    assert.equal(server.core.deviceOf('mlp_gpu'), 'gpu');
    assert.equal(server.core.deviceOf('mlp_cpu'), 'cpu');
  });

  it('gRPC Predict on the GPU model equals the CPU model and the session within 1e-5', async () => {
    const inputs = { images: new fs.HostTensor('float32', [COUNT, 784], images.slice()) };
    const target = (name: string) => ({ name, signatureName: 'predict_images' });
    const onGpu = await grpc.predict(target('mlp_gpu'), inputs);
    const onCpu = await grpc.predict(target('mlp_cpu'), inputs);
    assert.deepEqual(onGpu.outputs.scores?.shape, [COUNT, 10]);
    const gpu = onGpu.outputs.scores?.toNumbers() ?? [];
    const cpu = onCpu.outputs.scores?.toNumbers() ?? [];
    assertAllClose(gpu, cpu, { atol: 1e-5, rtol: 0, what: 'GPU vs CPU scores' });
    assertAllClose(gpu, expected, { atol: 1e-5, rtol: 0, what: 'GPU vs session scores' });
  });

  it('gRPC Classify on the GPU model equals the CPU model within 1e-5, labels in order', async () => {
    const examples = Array.from({ length: COUNT }, (_, i) => ({
      x: Array.from(images.subarray(i * 784, (i + 1) * 784)),
    }));
    const onGpu = await grpc.classify({ name: 'mlp_gpu' }, examples);
    const onCpu = await grpc.classify({ name: 'mlp_cpu' }, examples);
    assert.equal(onGpu.classifications.length, COUNT);
    onGpu.classifications.forEach((classes, i) => {
      const ref = onCpu.classifications[i] ?? [];
      assert.deepEqual(
        classes.map((c) => c.label),
        ref.map((c) => c.label),
      );
      assertAllClose(
        classes.map((c) => c.score),
        ref.map((c) => c.score),
        { atol: 1e-5, rtol: 0, what: `example ${i}` },
      );
    });
  });

  it('REST Predict on the GPU model, and many concurrent requests, give the same answers', async () => {
    const one = (i: number) => ({
      images: new fs.HostTensor('float32', [1, 784], images.slice(i * 784, (i + 1) * 784)),
    });
    const results = await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        (i % 2 === 0 ? rest : grpc).predict({ name: 'mlp_gpu', signatureName: 'predict_images' }, one(i)),
      ),
    );
    results.forEach((r, i) =>
      assertAllClose(r.outputs.scores?.toNumbers() ?? [], expected.slice(i * 10, (i + 1) * 10), {
        atol: 1e-5,
        rtol: 0,
        what: `request ${i}`,
      }),
    );
  });
});
