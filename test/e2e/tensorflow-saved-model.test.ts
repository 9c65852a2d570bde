/**
 * TensorFlow SavedModels served as TF Serving serves them (../shared/fixtures/tensorflow-serving, read in place):
 * the Docker quickstart, the REST answers TF Serving's own tests expect, metadata from the SignatureDefs, and
 * a TF2 model whose signature goes through StatefulPartitionedCall.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/serving/server.js';
import { fixtureServerOptions } from '../helpers/tf-serving-fixtures.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

/** ../shared/fixtures/tensorflow-serving beside the repository root (found from test/ and from dist/test/). */

describe('TensorFlow SavedModels over REST', () => {
  let server: StartedServer;
  let url: string;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(url + path, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    server = await startServer(
      fixtureServerOptions([
        { name: 'half_plus_two', dir: 'saved_model_half_plus_two_cpu' },
        { name: 'matrix', dir: 'matrix_half_plus_two' },
        { name: 'tf2', dir: 'saved_model_half_plus_two_tf2_cpu' },
      ]),
    );
    url = `http://127.0.0.1:${server.restPort}`;
  });
  after(async () => {
    await server?.close();
  });

  it('answers the Docker quickstart: [1, 2, 5] → [2.5, 3, 4.5], the signature shape [-1,1] not enforced', async () => {
    const res = await post('/v1/models/half_plus_two:predict', { instances: [1.0, 2.0, 5.0] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { predictions: [2.5, 3.0, 4.5] });
  });

  it('gives the row and columnar predict answers of TF Serving’s own tests', async () => {
    assert.deepEqual((await post('/v1/models/half_plus_two:predict', { instances: [2.0, 3.0, 4.0] })).body, {
      predictions: [3.0, 3.5, 4.0],
    });
    assert.deepEqual((await post('/v1/models/half_plus_two:predict', { inputs: [2.0, 3.0, 4.0] })).body, {
      outputs: [3.0, 3.5, 4.0],
    });
  });

  it('reports the version AVAILABLE under its SavedModel version number', async () => {
    const res = await fetch(`${url}/v1/models/half_plus_two`);
    assert.deepEqual(await res.json(), {
      model_version_status: [{ version: '123', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
    });
  });

  it('serves a SavedModel without variables with its [-1,3,3] shape', async () => {
    const x = [
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ],
    ];
    const res = await post('/v1/models/matrix:predict', { instances: x });
    assert.deepEqual(res.body, {
      predictions: [
        [
          [2.5, 3, 3.5],
          [4, 4.5, 5],
          [5.5, 6, 6.5],
        ],
      ],
    });
  });

  it('serves a TF2 SavedModel through its inlined StatefulPartitionedCall', async () => {
    const res = await post('/v1/models/tf2:predict', { instances: [1.0, 2.0, 5.0] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { predictions: [2.5, 3.0, 4.5] });
  });

  it('describes serving_default in /metadata with the SignatureDef’s tensor names, dtypes and shapes', async () => {
    const res = await fetch(`${url}/v1/models/half_plus_two/metadata`);
    const body = (await res.json()) as {
      metadata: { signature_def: { signature_def: Record<string, unknown> } };
    };
    assert.deepEqual(body.metadata.signature_def.signature_def.serving_default, {
      inputs: {
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
      },
      outputs: {
        y: {
          dtype: 'DT_FLOAT',
          tensor_shape: {
            dim: [
              { size: '-1', name: '' },
              { size: '1', name: '' },
            ],
            unknown_rank: false,
          },
          name: 'y:0',
        },
      },
      method_name: 'tensorflow/serving/predict',
      defaults: {},
    });
  });
});
