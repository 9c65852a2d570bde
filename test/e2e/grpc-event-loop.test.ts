/**
 * gRPC's worst cases against a server in its own process (test/helpers/server-child.ts): the hostile headers of
 * issue 9 (findings 1 and 2) and large valid Predict, ModelInfer and ModelStreamInfer exchanges, while gRPC health
 * checks run every 20 ms. The bound is the same as for REST (test/helpers/event-loop-bounds.ts): the CPU one turn of
 * the event loop used, and the delay the server held its own loop, ≤ 50 ms (doubled on an overloaded machine).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { assertLoopDelay, loadDescription, turnCpuBound, type LoopStats } from '../helpers/event-loop-bounds.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { tempBase, writeIdentityModel, writeRowSumModel } from '../serving/apis/fixtures.js';

const FEATURES = 1024;
const MiB = 1024 * 1024;

/** A raw BYTES element's prefix: its length, 4 bytes little-endian. */
function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(length);
  return prefix;
}

describe('gRPC: no request holds the event loop', () => {
  const base = tempBase('flowserve-grpc-loop-');
  let server: ServerProcess;
  let client: Client;
  const predictType = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
  const healthType = protobufRoot().lookupType('grpc.health.v1.HealthCheckRequest');

  const call = (method: string, bytes: Uint8Array) =>
    new Promise<{ err: ServiceError | null; value?: Buffer }>((resolve) =>
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        new Metadata(),
        {},
        (err, value) => resolve({ err, value: value as Buffer | undefined }),
      ),
    );
  /** One message on a bidirectional stream (ModelStreamInfer), then the stream's end; the status's code. */
  const streamOnce = (method: string, bytes: Uint8Array) =>
    new Promise<{ err: ServiceError | null }>((resolve) => {
      const stream = client.makeBidiStreamRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        new Metadata(),
        {},
      );
      let replies = 0;
      stream.on('data', () => replies++);
      stream.on('error', (err: ServiceError) => resolve({ err }));
      stream.on('status', (status: { code: number }) => {
        if (status.code === 0) {
          assert.equal(replies, 1, 'one reply on the stream');
          resolve({ err: null });
        }
      });
      stream.write(Buffer.from(bytes));
      stream.end();
    });
  const predict = (model: string, tensor: Record<string, unknown>) =>
    predictType.encode(predictType.fromObject({ model_spec: { name: model }, inputs: { x: tensor } })).finish();
  const dims = (...sizes: (number | string)[]) => ({ dim: sizes.map((size) => ({ size })) });
  const modelInferType = protobufRoot().lookupType('inference.ModelInferRequest');
  const modelInfer = (message: Record<string, unknown>) =>
    modelInferType.encode(modelInferType.fromObject(message)).finish();

  before(async () => {
    writeIdentityModel(join(base, 'anyf'), 1, 'float32', []);
    writeIdentityModel(join(base, 'str'), 1, 'string', []);
    writeRowSumModel(join(base, 'sum'), 1, FEATURES);
    server = await startServerProcess(['anyf', 'str', 'sum'].map((name) => [name, join(base, name)] as const));
    client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
    });
    // Warm up (JIT, the worker's session) so that the measured requests pay only for themselves.
    const warm = await call(
      '/tensorflow.serving.PredictionService/Predict',
      predict('sum', { dtype: 1, tensor_shape: dims(1, FEATURES), float_val: [1] }),
    );
    assert.equal(warm.err, null);
  });

  after(async () => {
    client?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('hostile headers and valid Predicts of up to 30 MiB, with health checks every 20 ms', async () => {
    const rows = (30 * MiB) / (FEATURES * 4);
    const content = new Float32Array(rows * FEATURES).map((_, i) => (i % 7) * 0.25);
    // [name, message, expected status code, method (default: Predict)]
    const requests: [string, Uint8Array, number, string?][] = [
      [
        '16 MiB tensor_content',
        predict('sum', {
          dtype: 1,
          tensor_shape: dims((16 * MiB) / (FEATURES * 4), FEATURES),
          tensor_content: Buffer.from(content.buffer, 0, 16 * MiB),
        }),
        0,
      ],
      [
        '30 MiB tensor_content',
        predict('sum', { dtype: 1, tensor_shape: dims(rows, FEATURES), tensor_content: Buffer.from(content.buffer) }),
        0,
      ],
      [
        '30 MiB float_val (packed)',
        predict('sum', { dtype: 1, tensor_shape: dims(rows, FEATURES), float_val: Array.from(content) }),
        0,
      ],
      [
        '30 MB string over [1,784]',
        predict('str', { dtype: 7, tensor_shape: dims(1, 784), string_val: [Buffer.alloc(30_000_000, 0x61)] }),
        3,
      ],
      [
        'one 24 MiB string, and its reply',
        predict('str', { dtype: 7, tensor_shape: dims(1), string_val: [Buffer.alloc(24 * MiB, 0x61)] }),
        0,
      ],
      [
        'ModelInfer, one 24 MiB BYTES element, and its reply',
        modelInfer({
          model_name: 'str',
          inputs: [
            { name: 'x', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.alloc(24 * MiB, 0x61)] } },
          ],
        }),
        0,
        '/inference.GRPCInferenceService/ModelInfer',
      ],
      [
        'ModelStreamInfer, one raw 24 MiB BYTES element, and its raw reply',
        modelInfer({
          model_name: 'str',
          inputs: [{ name: 'x', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [Buffer.concat([lengthPrefix(24 * MiB), Buffer.alloc(24 * MiB, 0x62)])],
        }),
        0,
        '/inference.GRPCInferenceService/ModelStreamInfer',
      ],
      [
        '130,000,000 strings',
        predict('str', { dtype: 7, tensor_shape: dims(130_000_000), string_val: [Buffer.from('12345678')] }),
        3,
      ],
      ['3.2 GB of floats', predict('anyf', { dtype: 1, tensor_shape: dims(800_000_000), float_val: [1] }), 3],
      ['[2^20, 2^20]', predict('anyf', { dtype: 1, tensor_shape: dims(2 ** 20, 2 ** 20), float_val: [1] }), 3],
      [
        '[100000, 784] from one value',
        predict('anyf', { dtype: 1, tensor_shape: dims(100_000, 784), float_val: [1] }),
        3,
      ],
      [
        '1,000,000 empty strings (priced 1 KiB each)',
        predict('str', { dtype: 7, tensor_shape: dims(1_000_000), string_val: [Buffer.alloc(0)] }),
        3,
      ],
      [
        '50,000 strings',
        predict('str', { dtype: 7, tensor_shape: dims(50_000), string_val: [Buffer.from('a short sentence')] }),
        0,
      ],
    ];
    let checking = true;
    let checks = 0;
    const health = (async () => {
      const request = healthType.encode(healthType.fromObject({ service: '' })).finish();
      while (checking) {
        const { err } = await call('/grpc.health.v1.Health/Check', request);
        assert.equal(err, null);
        checks++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const results: { name: string; code: number; expected: number; stats: LoopStats }[] = [];
    try {
      for (const [name, bytes, expected, method] of requests) {
        await server.command('reset');
        const { err } = method?.endsWith('/ModelStreamInfer')
          ? await streamOnce(method, bytes)
          : await call(method ?? '/tensorflow.serving.PredictionService/Predict', bytes);
        const stats: LoopStats = await server.command('stats');
        results.push({ name, code: err?.code ?? 0, expected, stats });
      }
    } finally {
      checking = false;
      await health;
    }
    const load = loadDescription();
    for (const r of results) {
      console.log(
        `gRPC ${r.name}: code ${r.code}, most CPU in one turn ${r.stats.maxTurnCpuMs?.toFixed(1)} ms, ` +
          `max loop delay ${r.stats.maxDelayMs?.toFixed(1)} ms, ${r.stats.maxHeldMs?.toFixed(1)} ms of it not ` +
          `waiting for a core (${load})`,
      );
    }
    console.log(`${checks} health checks answered meanwhile`);
    for (const r of results) {
      assert.equal(r.code, r.expected, r.name);
      assert.ok(
        (r.stats.maxTurnCpuMs as number) <= turnCpuBound(),
        `${r.name}: one turn of the event loop used ${r.stats.maxTurnCpuMs} ms of CPU`,
      );
      assertLoopDelay(r.stats, r.name);
    }
  });
});
