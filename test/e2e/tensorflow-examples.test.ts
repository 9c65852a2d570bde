/**
 * Imported SavedModels whose classify/regress signatures parse serialized tf.Examples (ParseExample in TF1,
 * ParseExampleV2 inside TF2 functions), served as TF Serving serves them: the REST answers its own tests expect,
 * the same over gRPC as TF Serving's Python client builds the requests, and GetModelMetadata equal to the
 * metadata files TF Serving wrote for these fixtures (../shared/fixtures/tensorflow-serving, read in place).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadServicePackageDefinition, protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

const FIXTURES = TF_SERVING_FIXTURES;

const readJson = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, unknown>;

/** The fixtures as TF Serving served them when it wrote the metadata files: names and versions from model_spec. */
const MODELS = [
  { name: 'default', dir: 'saved_model_half_plus_two_cpu' },
  // Its metadata file was taken at version 123 of two; serving both keeps 123 addressable.
  { name: 'saved_model_half_plus_two_2_versions', dir: 'saved_model_half_plus_two_2_versions', all: true },
  { name: 'tf2', dir: 'saved_model_half_plus_two_tf2_cpu' },
];

function serverOptions(): ServerOptions {
  return {
    modelConfig: {
      models: MODELS.map(({ name, dir, all }) => ({
        name,
        basePath: join(FIXTURES, dir),
        modelPlatform: 'tensorflow',
        versionPolicy: all ? { kind: 'all' } : { kind: 'latest', numVersions: 1 },
        versionLabels: {},
      })),
    },
    fileSystemPollWaitSeconds: 0,
    maxNumLoadRetries: 0,
    numWorkers: 1,
    grpcPort: 0,
    restPort: 0,
    log: () => undefined,
  } as ServerOptions;
}

type Unary = (
  request: unknown,
  callback: (err: ServiceError | null, response: Record<string, unknown>) => void,
) => void;
interface PredictionStub {
  Classify: Unary;
  Regress: Unary;
  Predict: Unary;
  MultiInference: Unary;
  GetModelMetadata: Unary;
  close(): void;
}

function predictionStub(port: number): PredictionStub {
  const pkg = loadPackageDefinition(loadServicePackageDefinition()) as unknown as {
    tensorflow: { serving: { PredictionService: new (address: string, creds: unknown) => PredictionStub } };
  };
  return new pkg.tensorflow.serving.PredictionService(`127.0.0.1:${port}`, credentials.createInsecure());
}

function call(stub: PredictionStub, method: keyof Omit<PredictionStub, 'close'>, request: unknown) {
  return new Promise<Record<string, unknown>>((resolvePromise, reject) => {
    stub[method].call(stub, request, (err, response) => (err ? reject(err) : resolvePromise(response)));
  });
}

/** classification_pb2/regression_pb2 requests as TF Serving's Python tests build them: one float feature each. */
function exampleRequest(model: string, signature: string, examples: Record<string, number>[]) {
  return {
    model_spec: { name: model, signature_name: signature },
    input: {
      example_list: {
        examples: examples.map((features) => ({
          features: {
            feature: Object.fromEntries(
              Object.entries(features).map(([key, value]) => [key, { float_list: { value: [value] } }]),
            ),
          },
        })),
      },
    },
  };
}

describe('tf.Example signatures of imported SavedModels', () => {
  let server: StartedServer;
  let url: string;
  let stub: PredictionStub;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(url + path, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    server = await startServer(serverOptions());
    url = `http://127.0.0.1:${server.restPort}`;
    stub = predictionStub(server.grpcPort as number);
  });
  after(async () => {
    stub?.close();
    await server?.close();
  });

  it('answers TF Serving’s REST classify and regress expectations for saved_model_half_plus_two_cpu', async () => {
    const classify = await post('/v1/models/default:classify', {
      signature_name: 'classify_x_to_y',
      examples: [{ x: 2.0 }],
    });
    assert.equal(classify.status, 200, JSON.stringify(classify.body));
    assert.deepEqual(classify.body, { results: [[['', 3.0]]] });
    const regress = await post('/v1/models/default:regress', {
      signature_name: 'regress_x_to_y',
      examples: [{ x: 2.0 }],
    });
    assert.deepEqual(regress.body, { results: [3.0] });
  });

  it('computes every example-parsing signature of both TF1 fixtures: y = 0.5x + 2, y2 = 0.5x + 3', async () => {
    const xs = [2.0, -1.0, 7.5];
    for (const model of ['default', 'saved_model_half_plus_two_2_versions']) {
      const y2 = await post(`/v1/models/${model}:regress`, {
        signature_name: 'regress_x_to_y2',
        examples: xs.map((x) => ({ x })),
      });
      assert.deepEqual(y2.body, { results: xs.map((x) => 0.5 * x + 3) }, model);
      const scores = await post(`/v1/models/${model}:classify`, {
        signature_name: 'classify_x_to_y',
        examples: xs.map((x) => ({ x, x2: 100 })),
      });
      assert.deepEqual(scores.body, { results: xs.map((x) => [['', 0.5 * x + 2]]) }, model);
    }
  });

  it('applies ParseExample’s rules: a required feature must be present, with its declared type and count', async () => {
    // x2 has a default ([0.0]) in the graph, x has none: x is required even where only x2's value is used.
    const missing = await post('/v1/models/default:regress', {
      signature_name: 'regress_x_to_y',
      examples: [{ x2: 1 }],
    });
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error), /Feature: x \(data type: float\) is required but could not be found/);
    const tooMany = await post('/v1/models/default:regress', {
      signature_name: 'regress_x_to_y',
      examples: [{ x: [1, 2] }],
    });
    assert.equal(tooMany.status, 400);
    assert.match(String(tooMany.body.error), /Key: x, Index: 0\. +Number of float values != expected/);
    await assert.rejects(
      call(stub, 'Regress', {
        model_spec: { name: 'default', signature_name: 'regress_x_to_y' },
        input: { example_list: { examples: [{ features: { feature: { x: { int64_list: { value: ['2'] } } } } }] } },
      }),
      (err: ServiceError) => err.code === 3 && /Key: x, Index: 0\. +Data types don't match/.test(err.details),
    );
  });

  it('serves Classify, Regress and MultiInference over gRPC as TF Serving’s Python client calls them', async () => {
    const classified = (await call(stub, 'Classify', exampleRequest('default', 'classify_x_to_y', [{ x: 2.0 }]))) as {
      result: { classifications: { classes: { label: string; score: number }[] }[] };
      model_spec: { name: string; signature_name: string; version: { value: string } };
    };
    assert.equal(classified.result.classifications.length, 1);
    assert.equal(classified.result.classifications[0]?.classes.length, 1);
    assert.equal(classified.result.classifications[0]?.classes[0]?.score, 3.0);
    assert.equal(classified.result.classifications[0]?.classes[0]?.label ?? '', '');
    assert.equal(classified.model_spec.name, 'default');
    assert.equal(classified.model_spec.signature_name, 'classify_x_to_y');
    assert.equal(classified.model_spec.version.value, '123');

    const regressed = (await call(
      stub,
      'Regress',
      exampleRequest('default', 'regress_x_to_y2', [{ x: 2.0 }, { x: 4.0 }]),
    )) as { result: { regressions: { value: number }[] } };
    assert.deepEqual(
      regressed.result.regressions.map((r) => r.value),
      [4.0, 5.0],
    );

    const multi = (await call(stub, 'MultiInference', {
      tasks: ['regress_x_to_y', 'regress_x_to_y2'].map((signature_name) => ({
        model_spec: { name: 'default', signature_name },
        method_name: 'tensorflow/serving/regress',
      })),
      input: exampleRequest('default', '', [{ x: 2.0 }]).input,
    })) as { results: { regression_result: { regressions: { value: number }[] } }[] };
    assert.deepEqual(
      multi.results.map((r) => r.regression_result.regressions.map((v) => v.value)),
      [[3.0], [4.0]],
    );

    const predicted = (await call(stub, 'Predict', {
      model_spec: { name: 'default' },
      inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 3 }] }, float_val: [1.0, 2.0, 5.0] } },
    })) as { outputs: { y: { float_val: number[] } } };
    assert.deepEqual(predicted.outputs.y.float_val, [2.5, 3.0, 4.5]);
  });

  it('serves the TF2 fixture’s classify/regress predict signatures through Classify and Regress (REST and gRPC)', async () => {
    // TF2 writes them as predict signatures over serialized tf.Examples; TF Serving (its method check off by
    // default) serves them through Classify and Regress, with the same answers as the TF1 fixture's.
    const classify = await post('/v1/models/tf2:classify', {
      signature_name: 'classify_x_to_y',
      examples: [{ x: 2.0 }],
    });
    assert.equal(classify.status, 200, JSON.stringify(classify.body));
    assert.deepEqual(classify.body, { results: [[['', 3.0]]] });
    const regress = await post('/v1/models/tf2:regress', {
      signature_name: 'regress_x_to_y2',
      examples: [{ x: 2.0 }, { x: -1.0 }],
    });
    assert.deepEqual(regress.body, { results: [4.0, 2.5] });
    const classified = (await call(stub, 'Classify', exampleRequest('tf2', 'classify_x_to_y', [{ x: 7.5 }]))) as {
      result: { classifications: { classes: { label: string; score: number }[] }[] };
    };
    assert.equal(classified.result.classifications[0]?.classes[0]?.score, 5.75);
    const regressed = (await call(
      stub,
      'Regress',
      exampleRequest('tf2', 'regress_x_to_y', [{ x: 2.0 }, { x: 4.0 }]),
    )) as {
      result: { regressions: { value: number }[] };
    };
    assert.deepEqual(
      regressed.result.regressions.map((r) => r.value),
      [3.0, 4.0],
    );
    // A predict signature that does not parse examples keeps TF Serving's method check message.
    const plain = await post('/v1/models/tf2:regress', { signature_name: 'serving_default', examples: [{ x: 2.0 }] });
    assert.equal(plain.status, 400);
    assert.match(
      String(plain.body.error),
      /Expected regression signature method_name to be tensorflow\/serving\/regress/,
    );
  });

  it('takes serialized tf.Examples as a Predict string tensor: gRPC string_val bytes and REST {"b64"}', async () => {
    const exampleType = protobufRoot().lookupType('tensorflow.Example');
    const serialize = (x: number) =>
      Buffer.from(
        exampleType
          .encode(exampleType.fromObject({ features: { feature: { x: { float_list: { value: [x] } } } } }))
          .finish(),
      );
    const xs = [2.0, 4.0, -3.0];
    const predicted = (await call(stub, 'Predict', {
      model_spec: { name: 'tf2', signature_name: 'regress_x_to_y' },
      inputs: { inputs: { dtype: 7, tensor_shape: { dim: [{ size: xs.length }] }, string_val: xs.map(serialize) } },
    })) as { outputs: { outputs: { float_val: number[]; tensor_shape: { dim: { size: string }[] } } } };
    assert.deepEqual(predicted.outputs.outputs.float_val, [3.0, 4.0, 0.5]);
    assert.deepEqual(
      predicted.outputs.outputs.tensor_shape.dim.map((d) => Number(d.size)),
      [3, 1],
    );
    // The TF1 fixture's example-parsing signatures take them the same way.
    const tf1 = (await call(stub, 'Predict', {
      model_spec: { name: 'default', signature_name: 'regress_x_to_y2' },
      inputs: { inputs: { dtype: 7, tensor_shape: { dim: [{ size: 1 }] }, string_val: [serialize(2.0)] } },
    })) as { outputs: { outputs: { float_val: number[] } } };
    assert.deepEqual(tf1.outputs.outputs.float_val, [4.0]);

    const rest = await post('/v1/models/tf2:predict', {
      signature_name: 'classify_x_to_y',
      instances: xs.map((x) => ({ b64: serialize(x).toString('base64') })),
    });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.deepEqual(rest.body, { predictions: [[3.0], [4.0], [0.5]] });

    const garbage = await post('/v1/models/tf2:predict', {
      signature_name: 'regress_x_to_y',
      instances: [{ b64: Buffer.from([0xff, 0xff, 0xff]).toString('base64') }],
    });
    assert.equal(garbage.status, 400);
    assert.match(String(garbage.body.error), /Could not parse example input/);
    const missing = await post('/v1/models/tf2:predict', {
      signature_name: 'regress_x_to_y',
      instances: [{ b64: '' }],
    });
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error), /Feature: x \(data type: float\) is required but could not be found/);
  });

  it('answers GET /metadata equal to TF Serving’s metadata files, field for field', async () => {
    const cases = [
      { path: '/v1/models/default/metadata', file: 'half_plus_two_model_metadata.json' },
      {
        path: '/v1/models/saved_model_half_plus_two_2_versions/versions/123/metadata',
        file: 'saved_model_half_plus_two_2_versions_metadata.json',
      },
    ];
    for (const { path, file } of cases) {
      const res = await fetch(url + path);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), readJson(file), file);
    }
  });

  it('describes the TF2 model’s signatures as its metadata file does (model_spec and the init op aside)', async () => {
    const expected = readJson('saved_model_half_plus_two_tf2_2_versions_metadata.json') as {
      metadata: { signature_def: { signature_def: Record<string, unknown> } };
    };
    // __saved_model_init_op is not a signature anything can call (method_name "", a NoOp "output" of DT_INVALID).
    const { __saved_model_init_op: _initOp, ...callable } = expected.metadata.signature_def.signature_def;
    const res = await fetch(`${url}/v1/models/tf2/metadata`);
    const body = (await res.json()) as typeof expected & { model_spec: unknown };
    assert.deepEqual(body.metadata.signature_def.signature_def, callable);
    assert.deepEqual(body.model_spec, { name: 'tf2', signature_name: '', version: '123' });
  });

  it('returns the same SignatureDefs through gRPC GetModelMetadata, int64 sizes and enums as TF writes them', async () => {
    const response = (await call(stub, 'GetModelMetadata', {
      model_spec: { name: 'default' },
      metadata_field: ['signature_def'],
    })) as { metadata: { signature_def: { type_url: string; value: Uint8Array } } };
    const any = response.metadata.signature_def;
    assert.equal(any.type_url, 'type.googleapis.com/tensorflow.serving.SignatureDefMap');
    const type = protobufRoot().lookupType('tensorflow.serving.SignatureDefMap');
    const decoded = type.toObject(type.decode(any.value), {
      longs: String,
      enums: String,
      defaults: true,
      arrays: true,
      objects: true,
    });
    const expected = readJson('half_plus_two_model_metadata.json') as {
      metadata: { signature_def: Record<string, unknown> };
    };
    assert.deepEqual(JSON.parse(JSON.stringify(decoded)), expected.metadata.signature_def);
  });
});
