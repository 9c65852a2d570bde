/**
 * Triton's extensions on inference.GRPCInferenceService: ModelConfig, ModelStatistics, RepositoryIndex,
 * RepositoryModelLoad and RepositoryModelUnload, their errors, and the v2 protocol label on the request metrics.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { defaultBatchingParameters } from '../../src/serving/config/batching-parameters.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

const root = protobufRoot();
const type = (name: string) => root.lookupType(`inference.${name}`);

function call<T = Record<string, unknown>>(
  client: Client,
  method: string,
  request: Record<string, unknown>,
): Promise<{ err: ServiceError | null; response?: T }> {
  const requestType = type(`${method}Request`);
  const responseType = type(`${method}Response`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/inference.GRPCInferenceService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(requestType.encode(requestType.fromObject(request)).finish()),
      new Metadata(),
      {},
      (err, value) =>
        resolve(
          err || !value
            ? { err }
            : {
                err: null,
                response: responseType.toObject(responseType.decode(value as Buffer), {
                  longs: Number,
                  enums: String,
                  defaults: true,
                  arrays: true,
                  oneofs: true,
                }) as T,
              },
        ),
    );
  });
}

function inferRequest(model: string, rows: number): Record<string, unknown> {
  const raw = Buffer.alloc(rows * 4 * 4);
  for (let i = 0; i < rows * 4; i++) raw.writeFloatLE(i / 10, i * 4);
  return {
    model_name: model,
    inputs: [{ name: 'inputs', datatype: 'FP32', shape: [rows, 4] }],
    raw_input_contents: [raw],
  };
}

describe('GRPCInferenceService extensions', () => {
  const base = tempBase('flowserve-grpc-v2-ext-');
  let plain: RunningServer;
  let explicit: RunningServer;
  let plainClient: Client;
  let explicitClient: Client;

  before(async () => {
    writeClassifier(join(base, 'clf'), 1);
    writeClassifier(join(base, 'clf'), 2);
    const models = singleModelConfig('clf', join(base, 'clf')).models;
    const common = { fileSystemPollWaitSeconds: -1, numWorkers: 1, grpcPort: 0, log: () => {} };
    plain = await startServer({
      modelConfig: { models },
      batching: { ...defaultBatchingParameters(), maxBatchSize: 8, batchTimeoutMicros: 500 },
      monitoring: { prometheus: { enable: true, path: '/monitoring/prometheus/metrics' } },
      ...common,
    });
    explicit = await startServer({ modelConfig: { models }, modelControlMode: 'explicit', ...common });
    plainClient = new Client(`127.0.0.1:${plain.grpcPort}`, credentials.createInsecure());
    explicitClient = new Client(`127.0.0.1:${explicit.grpcPort}`, credentials.createInsecure());
  });

  after(async () => {
    plainClient?.close();
    explicitClient?.close();
    await plain?.close();
    await explicit?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('ServerMetadata advertises the extensions this service implements', async () => {
    const { response } = await call<{ extensions: string[] }>(plainClient, 'ServerMetadata', {});
    for (const extension of ['model_configuration', 'statistics', 'model_repository']) {
      assert.ok(response?.extensions.includes(extension), `${extension} in ${response?.extensions.join(', ')}`);
    }
  });

  test('ModelConfig: Triton model config with max_batch_size, dims and dynamic_batching; NOT_FOUND when unknown', async () => {
    const { err, response } = await call<{
      config: {
        name: string;
        platform: string;
        max_batch_size: number;
        input: { name: string; data_type: string; dims: number[] }[];
        output: { name: string; data_type: string; dims: number[] }[];
        dynamic_batching?: { max_queue_delay_microseconds: number };
        scheduling_choice?: string;
      };
    }>(plainClient, 'ModelConfig', { name: 'clf' });
    assert.equal(err, null, String(err?.details));
    const config = response?.config;
    assert.equal(config?.name, 'clf');
    assert.equal(config?.max_batch_size, 8);
    assert.deepEqual(
      config?.input.map((i) => [i.name, i.data_type, i.dims]),
      [['inputs', 'TYPE_FP32', [4]]],
    );
    assert.deepEqual(
      config?.output.map((o) => [o.name, o.data_type, o.dims]),
      [['scores', 'TYPE_FP32', [3]]],
    );
    assert.equal(config?.scheduling_choice, 'dynamic_batching');
    assert.equal(config?.dynamic_batching?.max_queue_delay_microseconds, 500);
    const missing = await call(plainClient, 'ModelConfig', { name: 'nope' });
    assert.equal(missing.err?.code, status.NOT_FOUND, String(missing.err?.details));
  });

  test('ModelStatistics counts v2 gRPC inferences: inference_count by items, success, and the version', async () => {
    const stats = async () => {
      const { err, response } = await call<{
        model_stats: {
          name: string;
          version: string;
          inference_count: number;
          execution_count: number;
          inference_stats: { success: { count: number; ns: number } };
        }[];
      }>(plainClient, 'ModelStatistics', { name: 'clf' });
      assert.equal(err, null, String(err?.details));
      return response?.model_stats ?? [];
    };
    const before = (await stats()).find((s) => s.version === '2');
    assert.ok(before, 'statistics for the served version 2');
    const { err } = await call(plainClient, 'ModelInfer', inferRequest('clf', 3));
    assert.equal(err, null, String(err?.details));
    const afterwards = (await stats()).find((s) => s.version === '2');
    assert.equal(afterwards?.name, 'clf');
    assert.equal((afterwards?.inference_count ?? 0) - before.inference_count, 3);
    assert.equal((afterwards?.inference_stats.success.count ?? 0) - before.inference_stats.success.count, 1);
    assert.ok((afterwards?.inference_stats.success.ns ?? 0) > before.inference_stats.success.ns);
    const missing = await call(plainClient, 'ModelStatistics', { name: 'nope' });
    assert.equal(missing.err?.code, status.NOT_FOUND, String(missing.err?.details));
  });

  test('v2 gRPC requests are counted with protocol="v2", v1 Predict with protocol="v1"', async () => {
    await call(plainClient, 'ModelInfer', inferRequest('clf', 1));
    await call(plainClient, 'ModelReady', { name: 'clf' });
    const metrics = await plain.core.metrics.metrics();
    assert.match(
      metrics,
      /flowserve_requests_total\{[^}]*API="ModelInfer"[^}]*entrypoint="GRPC"[^}]*protocol="v2"[^}]*status="OK"\} [1-9]/,
    );
    assert.match(metrics, /flowserve_requests_total\{[^}]*API="ModelReady"[^}]*protocol="v2"/);
  });

  test('RepositoryIndex lists the versions with their states; ready=true keeps the ready ones', async () => {
    const { err, response } = await call<{ models: { name: string; version: string; state: string }[] }>(
      plainClient,
      'RepositoryIndex',
      { ready: true },
    );
    assert.equal(err, null, String(err?.details));
    assert.deepEqual(
      response?.models.map((m) => [m.name, m.version, m.state]),
      [['clf', '2', 'READY']],
    );
  });

  test('RepositoryModelLoad/Unload are refused without --model_control_mode=explicit', async () => {
    const load = await call(plainClient, 'RepositoryModelLoad', { model_name: 'clf' });
    assert.equal(load.err?.code, status.UNAVAILABLE, String(load.err?.details));
    assert.match(load.err?.details ?? '', /model_control_mode/);
    const unload = await call(plainClient, 'RepositoryModelUnload', { model_name: 'clf' });
    assert.equal(unload.err?.code, status.UNAVAILABLE, String(unload.err?.details));
  });

  test('explicit mode: unload stops serving the model, load serves it again (config parameter honoured)', async () => {
    const ready = async () =>
      (await call<{ ready: boolean }>(explicitClient, 'ModelReady', { name: 'clf' })).response?.ready;
    assert.equal(await ready(), true);
    const unload = await call(explicitClient, 'RepositoryModelUnload', {
      model_name: 'clf',
      parameters: { unload_dependents: { bool_param: false } },
    });
    assert.equal(unload.err, null, String(unload.err?.details));
    assert.equal(await ready(), false);
    const refused = await call(explicitClient, 'ModelInfer', inferRequest('clf', 1));
    assert.ok(refused.err, 'an unloaded model does not answer');
    const load = await call(explicitClient, 'RepositoryModelLoad', {
      model_name: 'clf',
      parameters: { config: { string_param: JSON.stringify({ version_policy: { all: {} } }) } },
    });
    assert.equal(load.err, null, String(load.err?.details));
    assert.equal(await ready(), true);
    const index = await call<{ models: { version: string; state: string }[] }>(explicitClient, 'RepositoryIndex', {
      ready: true,
    });
    assert.deepEqual(index.response?.models.map((m) => m.version).sort(), ['1', '2']);
    const bad = await call(explicitClient, 'RepositoryModelLoad', {
      model_name: 'clf',
      parameters: { nonsense: { int64_param: 3 } },
    });
    assert.equal(bad.err?.code, status.INVALID_ARGUMENT, String(bad.err?.details));
    assert.match(bad.err?.details ?? '', /unknown load parameter/);
  });
});
