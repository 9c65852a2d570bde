/**
 * `flowserve client mnist --protocol v2` and `flowserve bench --protocol v2` against a served MNIST softmax model
 * trained a few steps here: the v2 wires (gRPC, REST JSON, REST binary) must give exactly the error rate that v1's
 * Classify gives on the same model, and the commands must print it as v1 does.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { evaluateMnist } from '../../src/cli/client-mnist.js';
import * as fs from '../../src/index.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { buildModel } from '../../src/train/models.js';
import { runProcess, type ProcessResult } from '../helpers/run-process.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const NUM_TESTS = 200;

function runCli(args: readonly string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, [MAIN, ...args], { timeoutMs: 60_000 });
}

describe('client mnist and bench with --protocol v2', () => {
  let dir: string;
  let server: fs.RunningServer;
  let v1Rate: number;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-client-v2-'));
    const g = new fs.Graph();
    const model = fs.withGraph(g, () => buildModel('softmax', { seed: 3 }));
    const session = new fs.Session(g, { logger: () => {} });
    try {
      await session.run(fs.globalVariablesInitializer(g));
      const train = fs.withGraph(g, () => new fs.GradientDescentOptimizer(0.5).minimize(model.loss));
      const { train: split } = fs.loadMnist({ trainLimit: 500, testLimit: 0 });
      const labels = new Float32Array(500 * 10);
      split.labels.forEach((l, i) => (labels[i * 10 + l] = 1));
      for (let step = 0; step < 10; step++) {
        await session.run(
          train,
          new Map([
            [model.x, new fs.HostTensor('float32', [500, 784], split.images)],
            [model.labels, new fs.HostTensor('float32', [500, 10], labels)],
          ]),
        );
      }
      await fs.exportModel(session, {
        exportBase: path.join(dir, 'mnist'),
        version: 1,
        signatures: {
          serving_default: fs.classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
          predict_images: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
        },
      });
    } finally {
      await session.close();
    }
    server = await fs.startServer({
      modelConfig: singleModelConfig('mnist', path.join(dir, 'mnist')),
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    v1Rate = await evaluateMnist({
      server: `127.0.0.1:${server.grpcPort}`,
      api: 'grpc',
      modelName: 'mnist',
      numTests: NUM_TESTS,
      concurrency: 4,
    });
  });

  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the trained model classifies better than chance over v1, so equal rates below mean equal predictions', () => {
    assert.ok(v1Rate < 0.5, `v1 error rate ${v1Rate}`);
  });

  for (const wire of [
    { api: 'grpc', binary: false },
    { api: 'rest', binary: false },
    { api: 'rest', binary: true },
  ] as const) {
    it(`v2 over ${wire.api}${wire.binary ? ' binary' : ''} gives v1's error rate on the same model`, async () => {
      const rate = await evaluateMnist({
        server: `127.0.0.1:${wire.api === 'grpc' ? server.grpcPort : server.restPort}`,
        api: wire.api,
        protocol: 'v2',
        binary: wire.binary,
        modelName: 'mnist',
        numTests: NUM_TESTS,
        concurrency: 4,
      });
      assert.equal(rate, v1Rate);
    });
  }

  it('`client mnist --protocol v2 --api rest --binary` prints the same "Inference error rate" line as v1', async () => {
    const result = await runCli([
      'client',
      'mnist',
      '--protocol',
      'v2',
      '--api',
      'rest',
      '--binary',
      '--server',
      `127.0.0.1:${server.restPort}`,
      '--num_tests',
      String(NUM_TESTS),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Inference error rate: ${(v1Rate * 100).toFixed(1)}%$`, 'm'));
  });

  it('`bench --protocol v2` load-tests v2 infer over gRPC and REST binary', async () => {
    for (const [api, extra, title] of [
      ['grpc', [], /^grpc v2 infer mnist batch 2$/m],
      ['rest', ['--binary'], /^rest binary v2 infer mnist batch 2$/m],
    ] as const) {
      const port = api === 'grpc' ? server.grpcPort : server.restPort;
      const result = await runCli([
        'bench',
        '--protocol',
        'v2',
        '--api',
        api,
        ...extra,
        '--server',
        `127.0.0.1:${port}`,
        '--requests',
        '20',
        '--concurrency',
        '1,2',
        '--batch',
        '2',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, title);
      assert.match(result.stdout, /^2 +20 +0 +/m);
    }
  });

  it('--binary outside v2 REST is refused, not ignored', async () => {
    const result = await runCli(['client', 'mnist', '--protocol', 'v2', '--api', 'grpc', '--binary']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /--binary applies to --protocol v2 --api rest/);
  });
});
