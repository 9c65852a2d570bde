/**
 * The chapter's own export, TF Serving's legacy SessionBundle (../shared/fixtures/tensorflow-serving, read in
 * place), served as TF Serving served it; the broken `bad_half_plus_two` failing alone; and --saved_model_tags.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type ServingClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { fixtureServerOptions } from '../helpers/tf-serving-fixtures.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

/** As TF Serving's tests, but ports open at once: some of these versions are meant to fail. */
const sessionBundleServerOptions = (models: { name: string; dir: string }[], extra: Partial<ServerOptions> = {}) =>
  fixtureServerOptions(models, { waitForModels: false, ...extra });

interface VersionStatus {
  version: string;
  state: string;
  status: { error_code: string; error_message: string };
}

/** Polls the REST status until every version of `model` has settled (AVAILABLE or END); bounded. */
async function settledStatus(url: string, model: string): Promise<VersionStatus[]> {
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${url}/v1/models/${model}`);
    if (res.status === 200) {
      const body = (await res.json()) as { model_version_status: VersionStatus[] };
      if (body.model_version_status.every((v) => v.state === 'AVAILABLE' || v.state === 'END')) {
        return body.model_version_status;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`model ${model} did not settle`);
}

describe('the legacy SessionBundle (export.meta + V1 checkpoint)', () => {
  let server: StartedServer;
  let url: string;
  let grpc: ServingClient;

  before(async () => {
    server = await startServer(
      sessionBundleServerOptions([
        { name: 'bundle', dir: 'session_bundle_half_plus_two' },
        { name: 'bad', dir: 'bad_half_plus_two' },
      ]),
    );
    url = `http://127.0.0.1:${server.restPort}`;
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
  });
  after(async () => {
    grpc?.close();
    await server?.close();
  });

  it('serves y = 0.5x + 2 over REST through the named inputs/outputs signatures', async () => {
    assert.equal((await settledStatus(url, 'bundle'))[0]?.state, 'AVAILABLE');
    const res = await fetch(`${url}/v1/models/bundle:predict`, {
      method: 'POST',
      body: JSON.stringify({ signature_name: 'predict', instances: [1.0, 2.0, 5.0] }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { predictions: [2.5, 3.0, 4.5] });
  });

  it('serves the same over gRPC Predict, with the output alias of the generic signature', async () => {
    await settledStatus(url, 'bundle');
    const result = await grpc.predict(
      { name: 'bundle', signatureName: 'predict' },
      { x: HostTensor.from('float32', [[-4], [0.5]]) },
    );
    assert.deepEqual(Object.keys(result.outputs), ['y']);
    assert.deepEqual(Array.from(result.outputs.y?.data as Float32Array), [0, 2.25]);
    assert.equal(result.model.version, 123);
  });

  it('describes the up-converted signatures in metadata, typed from the graph', async () => {
    await settledStatus(url, 'bundle');
    const res = await fetch(`${url}/v1/models/bundle/metadata`);
    const body = (await res.json()) as {
      metadata: { signature_def: { signature_def: Record<string, { method_name: string; inputs: object }> } };
    };
    const predict = body.metadata.signature_def.signature_def.predict;
    assert.equal(predict?.method_name, 'tensorflow/serving/predict');
    assert.deepEqual(predict?.inputs, {
      x: {
        dtype: 'DT_FLOAT',
        tensor_shape: {
          dim: [
            { size: '-1', name: '' },
            { size: '1', name: '' },
          ],
          unknown_rank: false,
        },
        name: 'x:0',
      },
    });
  });

  it('ends bad_half_plus_two in END with an error naming its export.meta, while the good bundle keeps serving', async () => {
    const [status] = await settledStatus(url, 'bad');
    assert.equal(status?.state, 'END');
    assert.match(status?.status.error_message ?? '', /bad_half_plus_two\/00000123\/export\.meta/);
    assert.match(status?.status.error_message ?? '', /Expected exactly one signatures proto/);
    const res = await fetch(`${url}/v1/models/bundle:predict`, {
      method: 'POST',
      body: JSON.stringify({ signature_name: 'predict', instances: [4.0] }),
    });
    assert.deepEqual(await res.json(), { predictions: [4.0] });
  });
});

describe('--saved_model_tags', () => {
  let server: StartedServer | undefined;
  after(async () => {
    await server?.close();
  });

  it('fails the load of a SavedModel without that tag set, naming the tag sets it has', async () => {
    server = await startServer(
      sessionBundleServerOptions(
        [
          { name: 'tagged', dir: 'saved_model_half_plus_two_cpu' },
          { name: 'matrix', dir: 'matrix_half_plus_two' },
        ],
        { savedModelTags: ['serve', 'tpu'] },
      ),
    );
    const url = `http://127.0.0.1:${server.restPort}`;
    const [status] = await settledStatus(url, 'tagged');
    assert.equal(status?.state, 'END');
    assert.match(status?.status.error_message ?? '', /supplied tags: \{ serve, tpu \}/);
    assert.match(status?.status.error_message ?? '', /Available tag sets: \{ serve \}/);
    assert.match(status?.status.error_message ?? '', /saved_model_half_plus_two_cpu\/00000123\/saved_model\.pb/);
  });
});
