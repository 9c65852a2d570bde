/**
 * The serving bench's servers (bench/serve-servers.ts) over the models bench/serve.ts writes: a batching flowserve
 * child answers Predict on each model the batching pairs measure (softmax, CNN, MLP) with one row of ten scores, so
 * that `bench:serve` cannot break without a test failing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, credentials } from '@grpc/grpc-js';
import { PREDICT, removeServedModels, writeBodies, writeServedModels } from '../../bench/serve.js';
import { spawnServer, type ServerProcess } from '../../bench/serve-servers.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';

describe('bench:serve servers', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-bench-servers-'));
  const base = join(scratch, 'mnist');
  let server: ServerProcess | undefined;
  const { messages } = writeBodies(
    scratch,
    Array.from({ length: 784 }, (_, i) => (i % 13) / 13),
  );

  before(async () => {
    await writeServedModels(base);
    server = await spawnServer('flowserve-batching', base);
  });

  after(async () => {
    await server?.stop();
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  });

  const predict = (message: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const client = new Client(`127.0.0.1:${(server as ServerProcess).grpcPort}`, credentials.createInsecure());
      client.makeUnaryRequest(
        PREDICT,
        (b: Buffer) => b,
        (b: Buffer) => b,
        message,
        (err, value) => {
          client.close();
          if (err) reject(err);
          else resolve(value as Buffer);
        },
      );
    });

  for (const model of ['predict', 'predictCnn', 'predictMlp'] as const) {
    it(`answers ${model} with one row of ten scores that sum to 1`, async () => {
      const PredictResponse = protobufRoot().lookupType('tensorflow.serving.PredictResponse');
      const response = PredictResponse.toObject(PredictResponse.decode(await predict(messages[model])), {
        longs: Number,
      }) as { outputs: Record<string, { tensor_shape: { dim: { size: number }[] }; float_val: number[] }> };
      const scores = response.outputs.scores;
      assert.ok(scores, 'a scores output');
      assert.deepEqual(
        scores.tensor_shape.dim.map((d) => d.size),
        [1, 10],
      );
      const sum = scores.float_val.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `the scores sum to ${sum}`);
    });
  }
});
