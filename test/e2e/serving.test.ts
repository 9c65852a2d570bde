/** End to end: startServer on ephemeral loopback ports, real gRPC and HTTP, a real ONNX servable in a temp dir. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { createClient, ServingClientError, type ServingClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import {
  CLASSES,
  FEATURES,
  LABELS,
  referenceScores,
  SLOW_SIZE,
  tempBase,
  writeClassifier,
  writeCorruptVersion,
  writeSlowModel,
} from '../serving/apis/fixtures.js';

const METRICS_PATH = '/monitoring/prometheus/metrics';
const X = [
  [0.5, -1, 2, 0.25],
  [1, 1, 1, 1],
];

function modelConfig(name: string, basePath: string, versionLabels: Record<string, number> = {}) {
  return {
    name,
    basePath,
    modelPlatform: 'tensorflow',
    versionPolicy: { kind: 'latest' as const, numVersions: 1 },
    versionLabels,
  };
}

function assertClose(actual: readonly number[], expected: readonly number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - (expected[i] as number)) <= tol, `[${i}] ${a} vs ${expected[i]}`));
}

async function rejectsWith(promise: Promise<unknown>, code: number, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ServingClientError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('flowserve server over gRPC and REST', () => {
  const base = tempBase();
  const clfBase = join(base, 'clf');
  const slowBase = join(base, 'slow');
  let server: RunningServer;
  let grpc: ServingClient;
  let rest: ServingClient;
  let restUrl: string;

  before(async () => {
    writeClassifier(clfBase, 1);
    writeSlowModel(slowBase, 1);
    server = await startServer({
      modelConfig: { models: [modelConfig('clf', clfBase, { stable: 1 }), modelConfig('slow', slowBase)] },
      allowVersionLabelsForUnavailableModels: true,
      fileSystemPollWaitSeconds: 0.1,
      maxNumLoadRetries: 0,
      numWorkers: 2,
      enableModelManagement: true,
      monitoring: { prometheus: { enable: true, path: METRICS_PATH } },
      grpcPort: 0,
      restPort: 0,
      log: () => undefined,
    });
    grpc = createClient({ server: `127.0.0.1:${server.grpcPort}` });
    rest = createClient({ server: `127.0.0.1:${server.restPort}`, api: 'rest' });
    restUrl = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    grpc?.close();
    rest?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('gRPC Predict returns the reference probabilities and fills model_spec', async () => {
    const x = HostTensor.from('float32', X);
    const result = await grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x });
    assert.deepEqual(result.model, { name: 'clf', version: 1, signatureName: 'predict_probs' });
    const probs = result.outputs.probabilities as HostTensor;
    assert.deepEqual(probs.shape, [2, CLASSES]);
    assertClose(probs.toNumbers(), [...referenceScores(X[0] as number[], 1), ...referenceScores(X[1] as number[], 1)]);
  });

  test('gRPC Classify returns every class with label and score in output order', async () => {
    const result = await grpc.classify(
      { name: 'clf' },
      X.map((x) => ({ x })),
    );
    assert.equal(result.model.signatureName, 'serving_default');
    result.classifications.forEach((classes, i) => {
      assert.deepEqual(
        classes.map((c) => c.label),
        LABELS,
      );
      assertClose(
        classes.map((c) => c.score),
        referenceScores(X[i] as number[], 1),
      );
    });
  });

  test('gRPC Classify with a context merges the context features', async () => {
    const result = await grpc.classify({ name: 'clf' }, [{}], { x: X[0] as number[] });
    assertClose(
      (result.classifications[0] ?? []).map((c) => c.score),
      referenceScores(X[0] as number[], 1),
    );
  });

  test('gRPC Regress and REST regress return the first probability', async () => {
    for (const client of [grpc, rest]) {
      const result = await client.regress(
        { name: 'clf', signatureName: 'regress_first' },
        X.map((x) => ({ x })),
      );
      assertClose(
        result.values,
        X.map((x) => referenceScores(x, 1)[0] as number),
      );
    }
  });

  test('GetModelMetadata carries the SignatureDefMap in an Any, over gRPC and REST', async () => {
    for (const client of [grpc, rest]) {
      const meta = await client.metadata({ name: 'clf' });
      assert.equal(meta.model.version, 1);
      assert.deepEqual(Object.keys(meta.signatures).sort(), ['predict_probs', 'regress_first', 'serving_default']);
      assert.deepEqual(meta.signatures.serving_default?.inputs.inputs, {
        name: 'x',
        dtype: 'float32',
        shape: [-1, FEATURES],
      });
      assert.equal(meta.signatures.serving_default?.method, 'tensorflow/serving/classify');
    }
  });

  test('GetModelStatus reports AVAILABLE over gRPC and REST', async () => {
    for (const client of [grpc, rest]) {
      assert.deepEqual(await client.status({ name: 'clf' }), [{ version: 1, state: 'AVAILABLE' }]);
    }
    const response = await fetch(`${restUrl}/v1/models/clf`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await response.json(), {
      model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
    });
  });

  test('a version label resolves to its version', async () => {
    const result = await grpc.classify({ name: 'clf', label: 'stable' }, [{ x: X[0] as number[] }]);
    assert.equal(result.model.version, 1);
  });

  test('unknown model, version, label and signature answer TF Serving codes naming them', async () => {
    const x = HostTensor.from('float32', X);
    await rejectsWith(grpc.predict({ name: 'nope' }, { x }), 5, /Servable not found for request: Latest\(nope\)/);
    await rejectsWith(grpc.predict({ name: 'clf', version: 7 }, { x }), 5, /Specific\(clf, 7\)/);
    await rejectsWith(
      grpc.predict({ name: 'clf', label: 'zzz' }, { x }),
      3,
      /Unrecognized servable version label: zzz/,
    );
    await rejectsWith(grpc.predict({ name: 'clf', signatureName: 'bogus' }, { x }), 9, /bogus/);
    await rejectsWith(
      grpc.classify({ name: 'clf', signatureName: 'bogus' }, [{ x: [1, 2, 3, 4] }]),
      3,
      /No signature was found with the name: bogus/,
    );
    await rejectsWith(grpc.status({ name: 'nope' }), 5, /nope/);
    await rejectsWith(rest.predict({ name: 'nope' }, { x }), 5, /nope/);
    await rejectsWith(rest.classify({ name: 'clf', label: 'zzz' }, [{ x: [1, 2, 3, 4] }]), 3, /zzz/);
  });

  test('wrong dtype, wrong shape and bad examples are INVALID_ARGUMENT', async () => {
    const asInt = HostTensor.from('int32', [[1, 2, 3, 4]]);
    await rejectsWith(grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x: asInt }), 3, /x|float/);
    const wrongShape = HostTensor.from('float32', [[1, 2, 3]]);
    await rejectsWith(grpc.predict({ name: 'clf', signatureName: 'predict_probs' }, { x: wrongShape }), 3, /x|shape|3/);
    await rejectsWith(grpc.classify({ name: 'clf' }, [{ x: [1, 2] }]), 3, /Key: x/);
    await rejectsWith(grpc.classify({ name: 'clf' }, [{ y: [1, 2, 3, 4] }]), 3, /Feature: x/);
    await rejectsWith(grpc.classify({ name: 'clf' }, []), 3, /Input is empty/);
  });

  test('a malformed protobuf is rejected with a gRPC error, not a crash', async () => {
    const raw = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(
          '/tensorflow.serving.PredictionService/Predict',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
          new Metadata(),
          {},
          (e) => resolve(e),
        );
      });
      assert.ok(err, 'expected an error');
      // The client's fault, not a server bug: INVALID_ARGUMENT, not grpc-js's INTERNAL "Error deserializing".
      assert.equal(err.code, 3, err.details);
      assert.match(err.details, /Could not parse the request as PredictRequest/);
    } finally {
      raw.close();
    }
  });

  test('REST predict: row and columnar formats, and TF Serving JSON errors', async () => {
    const post = (path: string, body: string) => fetch(restUrl + path, { method: 'POST', body });
    let res = await post('/v1/models/clf:predict', JSON.stringify({ signature_name: 'predict_probs', instances: X }));
    assert.equal(res.status, 200);
    const rows = (await res.json()) as { predictions: number[][] };
    assertClose(
      rows.predictions.flat(),
      X.flatMap((x) => referenceScores(x, 1)),
    );
    res = await post(
      '/v1/models/clf/versions/1:predict',
      JSON.stringify({ signature_name: 'predict_probs', inputs: { x: X } }),
    );
    const cols = (await res.json()) as { outputs: number[][] };
    assertClose(
      cols.outputs.flat(),
      X.flatMap((x) => referenceScores(x, 1)),
    );

    res = await post('/v1/models/clf:predict', '{"instances": [1, 2');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /JSON Parse error/);
    res = await post('/v1/models/clf:predict', JSON.stringify({ signature_name: 'nope', instances: X }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /Serving signature name: "nope" not found/);
    res = await post(
      '/v1/models/clf:predict',
      JSON.stringify({ signature_name: 'predict_probs', instances: [['a', 'b', 'c', 'd']] }),
    );
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /is not of expected type: float/);
    res = await post('/v1/models/missing:predict', JSON.stringify({ instances: X }));
    assert.equal(res.status, 404);
    res = await fetch(`${restUrl}/v1/models/clf:PREDICT`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /Malformed request: POST/);
    res = await fetch(`${restUrl}/elsewhere`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  });

  test('REST classify returns results as [label, score] pairs', async () => {
    const res = await fetch(`${restUrl}/v1/models/clf:classify`, {
      method: 'POST',
      body: JSON.stringify({ examples: X.map((x) => ({ x })) }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: [string, number][][] };
    body.results.forEach((row, i) => {
      assert.deepEqual(
        row.map(([label]) => label),
        LABELS,
      );
      assertClose(
        row.map(([, score]) => score),
        referenceScores(X[i] as number[], 1),
      );
    });
  });

  test('gRPC health reports SERVING', async () => {
    const raw = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    try {
      const response = await new Promise<Buffer>((resolve, reject) => {
        raw.makeUnaryRequest(
          '/grpc.health.v1.Health/Check',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x0a, 0x11, ...Buffer.from('PredictionService')]),
          new Metadata(),
          {},
          (e, r) => (e ? reject(e) : resolve(r as Buffer)),
        );
      });
      assert.deepEqual([...response], [0x08, 0x01]);
    } finally {
      raw.close();
    }
  });

  test('status and metrics answer within milliseconds while a slow model computes', async () => {
    const x = HostTensor.zeros('float32', [SLOW_SIZE, SLOW_SIZE]);
    // Each path answered once first, so that what is timed below is the answer, not a first use's costs (this
    // process's first fetch, the server's first scrape): alone on a slow machine the first status took 57–115 ms.
    for (const path of ['/v1/models/slow', METRICS_PATH]) await (await fetch(restUrl + path)).text();
    let done = false;
    const slow = grpc.predict({ name: 'slow' }, { x }).finally(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    const timings: number[] = [];
    for (const path of ['/v1/models/slow', METRICS_PATH]) {
      const t0 = performance.now();
      const res = await fetch(restUrl + path);
      await res.text();
      timings.push(performance.now() - t0);
      assert.equal(res.status, 200);
    }
    const stillRunning = !done;
    await slow;
    if (stillRunning) assert.ok(Math.max(...timings) < 100, `slow answers: ${timings.join(', ')} ms`);
    const metrics = await (await fetch(restUrl + METRICS_PATH)).text();
    assert.match(metrics, /request_count/);
  });

  test('requests for unknown model names count under one label, not one series per name', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${restUrl}/v1/models/nosuch-${i}:predict`, {
        method: 'POST',
        body: '{"instances":[1]}',
      });
      assert.equal(res.status, 404);
      await rejectsWith(
        grpc.predict({ name: `grpc-nosuch-${i}` }, { x: HostTensor.from('float32', [[1]]) }),
        5,
        /nosuch/,
      );
    }
    const metrics = await (await fetch(restUrl + METRICS_PATH)).text();
    assert.doesNotMatch(metrics, /nosuch/);
    assert.match(metrics, /request_count\{model_name="\(unknown\)",status="NOT_FOUND"\} [1-9]/);
    assert.match(metrics, /request_count\{model_name="clf",status="OK"\}/);
  });

  test('a new version dropped in while 8 clients send requests: no request fails and it gets served', async () => {
    let stop = false;
    let failures = 0;
    let sawVersion2 = false;
    const clients = Array.from({ length: 8 }, async (_, i) => {
      const client = i % 2 === 0 ? grpc : rest;
      while (!stop) {
        try {
          const r = await client.classify({ name: 'clf' }, [{ x: X[0] as number[] }]);
          const scores = (r.classifications[0] ?? []).map((c) => c.score);
          const v2 = referenceScores(X[0] as number[], 2);
          if (Math.abs((scores[0] as number) - (v2[0] as number)) < 1e-5) sawVersion2 = true;
        } catch (err) {
          failures++;
          console.error(err);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    writeClassifier(clfBase, 2);
    await waitFor(async () => sawVersion2);
    await waitFor(async () => (await grpc.status({ name: 'clf' })).some((s) => s.version === 1 && s.state === 'END'));
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(clients);
    assert.equal(failures, 0);
  });

  test('a corrupt version fails to load and the previous version keeps serving', async () => {
    writeCorruptVersion(clfBase, 3);
    await waitFor(async () =>
      (await grpc.status({ name: 'clf' })).some((s) => s.version === 3 && s.state === 'END' && s.error !== undefined),
    );
    const r = await grpc.classify({ name: 'clf' }, [{ x: X[0] as number[] }]);
    assert.equal(r.model.version, 2);
  });

  test('HandleReloadConfigRequest adds and removes a model', async () => {
    const extraBase = join(base, 'extra');
    writeClassifier(extraBase, 5);
    const keep = [
      { name: 'clf', basePath: clfBase },
      { name: 'slow', basePath: slowBase },
    ];
    await grpc.reload([...keep, { name: 'extra', basePath: extraBase }]);
    const r = await grpc.classify({ name: 'extra' }, [{ x: X[0] as number[] }]);
    assert.equal(r.model.version, 5);
    await grpc.reload(keep);
    await waitFor(async () => {
      try {
        await grpc.classify({ name: 'extra' }, [{ x: X[0] as number[] }]);
        return false;
      } catch (err) {
        return err instanceof ServingClientError && err.code === 5;
      }
    });
  });

  test('graceful close finishes the in-flight request', async () => {
    const x = HostTensor.zeros('float32', [SLOW_SIZE, SLOW_SIZE]);
    const inFlight = grpc.predict({ name: 'slow' }, { x });
    // A drain lets requests that reached the model finish; one still being received gets UNAVAILABLE.
    await waitFor(async () => server.core.requestsInFlight === 1);
    const closed = server.close();
    const result = await inFlight;
    assert.deepEqual(result.outputs.y?.shape, [SLOW_SIZE, SLOW_SIZE]);
    await closed;
  });
});
