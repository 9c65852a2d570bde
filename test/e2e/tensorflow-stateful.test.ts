/**
 * Imported graphs that update variables keep their state per loaded version, as TensorFlow Serving's sessions do:
 * an `increment` signature (AssignAdd) changes what the next request of that version sees, over REST and gRPC;
 * concurrent increments never update from the same old value; a new version starts from its checkpoint again.
 * Both variable forms: TF1 ref variables (VariableV2 + AssignAdd) and TF2 resource variables behind
 * StatefulPartitionedCall (AssignAddVariableOp + ReadVariableOp ordered by a control edge).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient, type ServingClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { convertImportedModel, STATE_FILE, writeConvertedModel } from '../../src/import/convert.js';
import { readSavedModel } from '../../src/import/saved-model.js';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { writeTf1Counter, writeTf2Counter } from '../import/counter-saved-model-fixture.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

interface VersionStatus {
  version: string;
  state: string;
  status: { error_message: string };
}

function serverOptions(base: string, models: string[], extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    modelConfig: {
      models: models.map((name) => ({
        name,
        basePath: join(base, name),
        modelPlatform: 'tensorflow',
        versionPolicy: { kind: 'latest', numVersions: 1 },
        versionLabels: {},
      })),
    },
    fileSystemPollWaitSeconds: 0.05,
    maxNumLoadRetries: 0,
    numWorkers: 2,
    grpcPort: 0,
    restPort: 0,
    log: () => undefined,
    ...extra,
  } as ServerOptions;
}

/** Polls (bounded) until `version` of `model` is the only one AVAILABLE. */
async function waitForVersion(url: string, model: string, version: number): Promise<void> {
  let last: VersionStatus[] | undefined;
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${url}/v1/models/${model}`);
    if (res.status === 200) {
      last = ((await res.json()) as { model_version_status: VersionStatus[] }).model_version_status;
      const available = last.filter((s) => s.state === 'AVAILABLE').map((s) => s.version);
      if (available.length === 1 && available[0] === String(version)) return;
      const failed = last.find((s) => s.state === 'END' && s.status.error_message);
      if (failed) throw new Error(`${model}: ${failed.status.error_message}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${model} version ${version} never became the only one AVAILABLE: ${JSON.stringify(last)}`);
}

/** One REST predict of a scalar-output signature; returns the value. */
async function restValue(url: string, model: string, signature: string, inputs: object = {}): Promise<number> {
  const res = await fetch(`${url}/v1/models/${model}:predict`, {
    method: 'POST',
    body: JSON.stringify({ signature_name: signature, inputs }),
  });
  const body = (await res.json()) as { outputs?: number; error?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.outputs as number;
}

async function grpcValue(
  grpc: ServingClient,
  model: string,
  signature: string,
  inputs: Record<string, HostTensor> = {},
): Promise<number> {
  const result = await grpc.predict({ name: model, signatureName: signature }, inputs);
  return (result.outputs.value?.data as Float32Array)[0] as number;
}

describe('stateful imported graphs (variables updated by a signature)', () => {
  const base = mkdtempSync(join(tmpdir(), 'flowserve-stateful-'));
  const logs: string[] = [];
  let server: StartedServer;
  let url: string;
  let grpc: ServingClient;

  before(async () => {
    writeTf1Counter(join(base, 'counter', '1'), 5);
    writeTf2Counter(join(base, 'counter2', '1'), 10);
    writeTf1Counter(join(base, 'parallel', '1'), 0);
    writeTf1Counter(join(base, 'swapped', '1'), 100);
    // `flowserve convert` output: model.onnx + signatures.json + state.onnx keep the state machinery.
    writeTf1Counter(join(base, 'source', '1'), 40);
    const converted = await convertImportedModel(await readSavedModel(join(base, 'source', '1')));
    await writeConvertedModel(converted, join(base, 'converted', '1'));
    await writeConvertedModel(converted, join(base, 'stateless', '1'));
    rmSync(join(base, 'stateless', '1', STATE_FILE));
    server = await startServer(
      serverOptions(base, ['counter', 'counter2', 'parallel', 'swapped', 'converted'], {
        log: (_level, message) => logs.push(message),
      }),
    );
    url = `http://127.0.0.1:${server.restPort}`;
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
    for (const model of ['counter', 'counter2', 'parallel', 'swapped', 'converted'])
      await waitForVersion(url, model, 1);
  });
  after(async () => {
    grpc?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('TF1 AssignAdd: increment over REST and gRPC counts 6, 7, 8 from the checkpoint 5, and read then sees 8', async () => {
    assert.equal(await restValue(url, 'counter', 'read'), 5);
    assert.equal(await restValue(url, 'counter', 'increment'), 6);
    assert.equal(await grpcValue(grpc, 'counter', 'increment'), 7);
    assert.equal(await restValue(url, 'counter', 'increment'), 8);
    assert.equal(await restValue(url, 'counter', 'read'), 8);
    assert.equal(await grpcValue(grpc, 'counter', 'read'), 8);
  });

  it('TF1 AssignAdd of a fed delta returns its own new value, and Assign resets for the next request', async () => {
    const before = await restValue(url, 'counter', 'read');
    assert.equal(await restValue(url, 'counter', 'increment_by', { delta: 2.5 }), before + 2.5);
    assert.equal(
      await grpcValue(grpc, 'counter', 'increment_by', { delta: HostTensor.from('float32', -1) }),
      before + 1.5,
    );
    assert.equal(await restValue(url, 'counter', 'reset'), 0);
    assert.equal(await restValue(url, 'counter', 'read'), 0);
    assert.equal(await restValue(url, 'counter', 'increment'), 1);
  });

  it('TF2 resource variable: AssignAddVariableOp inside StatefulPartitionedCall counts 11, 12, 13, read sees 13', async () => {
    assert.equal(await restValue(url, 'counter2', 'read'), 10);
    assert.equal(await restValue(url, 'counter2', 'increment'), 11);
    assert.equal(await grpcValue(grpc, 'counter2', 'increment'), 12);
    assert.equal(await restValue(url, 'counter2', 'increment'), 13);
    assert.equal(await grpcValue(grpc, 'counter2', 'read'), 13);
  });

  it('50 concurrent increments (REST and gRPC mixed) return 50 distinct values and end at exactly +50', async () => {
    const runs = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0 ? restValue(url, 'parallel', 'increment') : grpcValue(grpc, 'parallel', 'increment'),
    );
    const values = await Promise.all(runs);
    assert.deepEqual(
      [...values].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(await restValue(url, 'parallel', 'read'), 50);
  });

  it('serves the state of a converted model (flowserve convert) from its state.onnx', async () => {
    assert.equal(await restValue(url, 'converted', 'increment'), 41);
    assert.equal(await grpcValue(grpc, 'converted', 'increment'), 42);
    assert.equal(await restValue(url, 'converted', 'read'), 42);
  });

  it('a converted stateful model without its state.onnx fails to load, naming the file', async () => {
    await assert.rejects(
      startServer(serverOptions(base, ['stateless'])),
      /stateless\/1\/state\.onnx is missing: signatures of this model update variables/,
    );
  });

  it('a new version starts from its own checkpoint, not from the state of the version it replaces', async () => {
    assert.equal(await restValue(url, 'swapped', 'increment'), 101);
    assert.equal(await restValue(url, 'swapped', 'increment'), 102);
    writeTf1Counter(join(base, 'swapped', '2'), 100);
    await waitForVersion(url, 'swapped', 2);
    assert.equal(await restValue(url, 'swapped', 'read'), 100);
    assert.equal(await restValue(url, 'swapped', 'increment'), 101);
  });
});

describe('stateful imported graphs with batching on', () => {
  const base = mkdtempSync(join(tmpdir(), 'flowserve-stateful-batching-'));
  const logs: string[] = [];
  let server: StartedServer;
  let url: string;

  before(async () => {
    writeTf1Counter(join(base, 'batched', '1'), 0);
    server = await startServer(
      serverOptions(base, ['batched'], {
        log: (_level, message) => logs.push(message),
        batching: {
          maxBatchSize: 32,
          batchTimeoutMicros: 20_000,
          maxEnqueuedBatches: 100,
          numBatchThreads: 1,
          allowedBatchSizes: [],
          padVariableLengthInputs: false,
          threadPoolName: 'batch_threads',
          enableLargeBatchSplitting: false,
          maxExecutionBatchSize: 32,
        },
      }),
    );
    url = `http://127.0.0.1:${server.restPort}`;
    await waitForVersion(url, 'batched', 1);
  });
  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('does not merge updates into one batch: 20 concurrent add_each [1] each see their own new counter', async () => {
    // Merged, the 20 requests would run one AssignAdd of 20 and all answer 21.
    const values = await Promise.all(
      Array.from({ length: 20 }, () => restValue(url, 'batched', 'add_each', { deltas: [1] })),
    );
    assert.deepEqual(
      values.map((v) => (v as unknown as number[])[0] as number).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    assert.equal(await restValue(url, 'batched', 'read'), 20);
    assert.ok(
      logs.some((l) => /'add_each'.*update variables and are not batched/.test(l)),
      logs.join('\n'),
    );
  });
});
