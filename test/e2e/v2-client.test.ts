/**
 * The typed client with `protocol: 'v2'` against a started server, on each of its three wires (gRPC raw contents,
 * REST JSON, REST binary): infer with reference values computed here, every datatype through an identity model,
 * health, metadata, config, statistics, the repository index, and errors as ServingClientErrors carrying the
 * server's message and status.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient, ServingClientError, type V2Client } from '../../src/client/index.js';
import { float16Bits, type DType } from '../../src/graph/dtype.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { FEATURES, referenceScores, tempBase, writeClassifier, writeIdentityModel } from '../serving/apis/fixtures.js';
import { hexElements } from '../helpers/text-elements.js';

/** y = Identity(x) over `dtype`, shape not declared (only the limits bound what a client sends). */
function writeIdentity(base: string, dtype: DType): void {
  writeIdentityModel(base, 1, dtype, []);
}

/**
 * One tensor per datatype, with values at the edges of its range. Over JSON, 64-bit integers stay within ±(2^53 - 1):
 * flowserve's REST JSON reader (TF Serving's rules) refuses integers it cannot hold in a double.
 */
function identityCases(json: boolean): HostTensor[] {
  const cases = IDENTITY_CASES.filter((t) => !json || (t.dtype !== 'int64' && t.dtype !== 'uint64'));
  if (!json) return cases;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return [
    ...cases,
    HostTensor.from('int64', [safe, -safe], [2]),
    new HostTensor('uint64', [1], BigUint64Array.from([safe])),
  ];
}

const IDENTITY_CASES: HostTensor[] = [
  HostTensor.from('float32', [
    [1.5, -2],
    [3.25, 1e-30],
  ]),
  HostTensor.from('float64', [1e300, -0.1], [2]),
  new HostTensor('float16', [3], Uint16Array.from([0.5, -65504, 1 / 1024].map(float16Bits))),
  HostTensor.from('int8', [-128, 127], [2]),
  HostTensor.from('int16', [-32768, 32767], [2]),
  HostTensor.from('int32', [-(2 ** 31), 2 ** 31 - 1], [2]),
  HostTensor.from('int64', [2n ** 60n + 1n, -(2n ** 63n)], [2]),
  HostTensor.from('uint8', [0, 255], [2]),
  HostTensor.from('uint16', [0, 65535], [2]),
  HostTensor.from('uint32', [0, 2 ** 32 - 1], [2]),
  new HostTensor('uint64', [1], BigUint64Array.from([2n ** 64n - 1n])),
  HostTensor.from('bool', [true, false, true], [3, 1]),
  HostTensor.from('string', ['héllo', '', 'a b'], [3]),
];

const WIRES = [
  { label: 'gRPC', api: 'grpc', binary: false },
  { label: 'REST JSON', api: 'rest', binary: false },
  { label: 'REST binary', api: 'rest', binary: true },
] as const;

describe('v2 client against a started server', () => {
  let base: string;
  let server: RunningServer;
  const clients: V2Client[] = [];

  before(async () => {
    base = tempBase('flowserve-v2-client-');
    writeClassifier(join(base, 'clf'), 1);
    for (const t of IDENTITY_CASES) writeIdentity(join(base, `id_${t.dtype}`), t.dtype);
    const names = ['clf', ...IDENTITY_CASES.map((t) => `id_${t.dtype}`)];
    server = await startServer({
      modelConfig: {
        models: names.map((name) => ({
          name,
          basePath: join(base, name),
          modelPlatform: 'tensorflow',
          versionPolicy: { kind: 'latest' as const, numVersions: 1 },
          versionLabels: {},
        })),
      },
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  function connect(wire: (typeof WIRES)[number]): V2Client {
    const port = wire.api === 'grpc' ? server.grpcPort : server.restPort;
    const client = createClient({ server: `127.0.0.1:${port}`, api: wire.api, protocol: 'v2', binary: wire.binary });
    clients.push(client);
    return client;
  }

  for (const wire of WIRES) {
    describe(wire.label, () => {
      it('infer returns the classifier probabilities, the model, its version and the echoed id', async () => {
        const client = connect(wire);
        const rows = [
          [0.5, -1, 2, 0],
          [1, 1, -3, 0.25],
        ];
        const result = await client.infer(
          { name: 'clf', signatureName: 'predict_probs' },
          { x: HostTensor.from('float32', rows) },
          { id: `req-${wire.label}` },
        );
        assert.equal(result.modelName, 'clf');
        assert.equal(result.modelVersion, '1');
        assert.equal(result.id, `req-${wire.label}`);
        const probs = result.outputs.probabilities;
        assert.ok(probs, `outputs: ${Object.keys(result.outputs).join(', ')}`);
        assert.deepEqual(probs.shape, [2, 3]);
        assert.equal(result.tensors[0]?.datatype, 'FP32');
        const got = probs.toNumbers();
        rows.forEach((row, i) =>
          referenceScores(row, 1).forEach((p, k) => assert.ok(Math.abs((got[i * 3 + k] as number) - p) < 1e-6)),
        );
      });

      it('every datatype comes back unchanged through an identity model', async () => {
        const client = connect(wire);
        for (const t of identityCases(wire.api === 'rest' && !wire.binary)) {
          const result = await client.infer({ name: `id_${t.dtype}` }, { x: t });
          const y = result.outputs.y;
          assert.ok(y, `${t.dtype}: no output y`);
          assert.equal(y.dtype, t.dtype);
          assert.deepEqual(y.shape, t.shape, t.dtype);
          if (t.dtype === 'string') assert.deepEqual(hexElements(y), hexElements(t));
          else assert.deepEqual(Array.from(y.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>));
        }
      });

      it('health, server metadata, model metadata and readiness', async () => {
        const client = connect(wire);
        assert.equal(await client.serverLive(), true);
        assert.equal(await client.serverReady(), true);
        assert.equal(await client.modelReady({ name: 'clf' }), true);
        assert.equal(await client.modelReady({ name: 'clf', version: 1 }), true);
        assert.equal(await client.modelReady({ name: 'clf', version: 7 }), false);
        const meta = await client.serverMetadata();
        assert.equal(meta.name, 'flowserve');
        assert.ok(meta.extensions.includes('binary_tensor_data'), meta.extensions.join(','));
        const model = await client.modelMetadata({ name: 'clf' });
        assert.equal(model.name, 'clf');
        assert.deepEqual(model.versions, ['1']);
        assert.deepEqual(model.inputs, [{ name: 'inputs', datatype: 'FP32', shape: [-1, FEATURES] }]);
        assert.deepEqual(model.outputs, [{ name: 'scores', datatype: 'FP32', shape: [-1, 3] }]);
      });

      it('errors carry the server message, the gRPC code and the HTTP status', async () => {
        const client = connect(wire);
        const x = HostTensor.from('float32', [[1, 2, 3, 4]]);
        await assert.rejects(client.infer({ name: 'no_such_model' }, { x }), (err: unknown) => {
          assert.ok(err instanceof ServingClientError, String(err));
          assert.equal(err.grpcCode, 5);
          assert.equal(err.httpStatus, 404);
          assert.match(err.message, /no_such_model/);
          return true;
        });
        await assert.rejects(
          client.infer({ name: 'clf', signatureName: 'predict_probs' }, { wrong: x }),
          (err: unknown) => {
            assert.ok(err instanceof ServingClientError, String(err));
            assert.equal(err.grpcCode, 3);
            assert.equal(err.httpStatus, 400);
            assert.match(err.message, /wrong/);
            return true;
          },
        );
        await assert.rejects(client.modelMetadata({ name: 'no_such_model' }), (err: unknown) => {
          assert.ok(err instanceof ServingClientError, String(err));
          assert.equal(err.grpcCode, 5);
          return true;
        });
      });

      it('model config, statistics counted from this test, and the repository index', async () => {
        const client = connect(wire);
        const config = await client.modelConfig({ name: 'clf' });
        assert.equal(config.name, 'clf');
        assert.deepEqual(
          config.input?.map((i) => [i.name, i.data_type]),
          [['inputs', 'TYPE_FP32']],
        );
        const before = (await client.modelStatistics({ name: 'clf' }))[0];
        await client.infer(
          { name: 'clf', signatureName: 'predict_probs' },
          { x: HostTensor.from('float32', [[0, 0, 0, 1]]) },
        );
        const stats = await client.modelStatistics({ name: 'clf' });
        assert.equal(stats.length, 1);
        const after = stats[0];
        assert.equal(after?.name, 'clf');
        assert.equal(after?.version, '1');
        assert.equal((after?.inference_count ?? 0) - (before?.inference_count ?? 0), 1);
        assert.equal((after?.inference_stats.success?.count ?? 0) - (before?.inference_stats.success?.count ?? 0), 1);
        assert.ok((await client.modelStatistics()).some((s) => s.name === 'id_bool'));
        const index = await client.repositoryIndex();
        assert.ok(
          index.some((m) => m.name === 'clf' && m.state === 'READY'),
          JSON.stringify(index),
        );
        // Model control is off by default: load is refused with the server's reason.
        await assert.rejects(client.loadModel('clf'), (err: unknown) => {
          assert.ok(err instanceof ServingClientError, String(err));
          assert.match(err.message, /model_control_mode/);
          return true;
        });
      });
    });
  }
});
