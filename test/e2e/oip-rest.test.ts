/** The Open Inference Protocol's REST routes (/v2) on a real server: every endpoint, JSON and binary, and errors. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_VERSION_POLICY, validateModelServerConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { binaryBody, readBinaryResponse, type V2Response } from '../helpers/oip-rest.js';
import { referenceScores, tempBase, writeClassifier, writeTwoOutputClassifier } from '../serving/apis/fixtures.js';

const METRICS_PATH = '/monitoring/prometheus/metrics';

function assertScores(actual: ArrayLike<number>, rows: number[][], version = 1): void {
  const expected = rows.flatMap((x) => referenceScores(x, version));
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs((actual[i] as number) - expected[i]!) < 1e-5, `score ${i}`);
}

describe('Open Inference Protocol over REST', () => {
  let base: string;
  let server: RunningServer;
  let root: string;
  const rows = [
    [0.5, -1, 2, 0.25],
    [1, 2, 3, 4],
  ];
  const infer = (model: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${root}/v2/models/${model}/infer`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  before(async () => {
    base = tempBase('flowserve-oip-rest-');
    writeClassifier(join(base, 'clf'), 1);
    writeClassifier(join(base, 'clf'), 2);
    writeTwoOutputClassifier(join(base, 'two'), 1);
    const entry = (name: string) => ({
      name,
      basePath: join(base, name),
      modelPlatform: 'tensorflow',
      versionPolicy: name === 'clf' ? { kind: 'all' as const } : DEFAULT_VERSION_POLICY,
      versionLabels: {},
    });
    server = await startServer({
      modelConfig: validateModelServerConfig({ models: [entry('clf'), entry('two')] }),
      grpcPort: 0,
      restPort: 0,
      monitoring: { prometheus: { enable: true, path: METRICS_PATH } },
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('GET /v2 names the server and lists only the extensions it implements', async () => {
    const res = await fetch(`${root}/v2`);
    assert.equal(res.status, 200);
    const json = (await res.json()) as { name: string; version: string; extensions: string[] };
    assert.equal(json.name, 'flowserve');
    assert.match(json.version, /^\d+\.\d+\.\d+/);
    for (const ext of ['binary_tensor_data', 'model_configuration', 'statistics', 'model_repository']) {
      assert.ok(json.extensions.includes(ext), ext);
    }
    assert.ok(!json.extensions.includes('system_shared_memory'));
  });

  test('health: live and ready answer 200; another verb is 405', async () => {
    assert.equal((await fetch(`${root}/v2/health/live`)).status, 200);
    assert.equal((await fetch(`${root}/v2/health/ready`)).status, 200);
    const post = await fetch(`${root}/v2/health/ready`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.deepEqual(await post.json(), { error: 'Method Not Allowed' });
  });

  test('model metadata lists the loaded versions and the default signature as protocol tensors', async () => {
    const res = await fetch(`${root}/v2/models/clf`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      name: 'clf',
      versions: ['2', '1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'inputs', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'scores', datatype: 'FP32', shape: [-1, 3] }],
    });
    assert.equal((await fetch(`${root}/v2/models/clf/versions/1`)).status, 200);
    const missing = await fetch(`${root}/v2/models/nope`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /nope/);
    assert.equal((await fetch(`${root}/v2/models/clf/versions/9`)).status, 404);
  });

  test('model ready: 200 for a loaded version, 400 with an error for an unknown model or version', async () => {
    assert.equal((await fetch(`${root}/v2/models/clf/ready`)).status, 200);
    assert.equal((await fetch(`${root}/v2/models/clf/versions/1/ready`)).status, 200);
    const notReady = await fetch(`${root}/v2/models/clf/versions/7/ready`);
    assert.equal(notReady.status, 400);
    assert.equal(((await notReady.json()) as { error: string }).error, 'Model version not ready');
    assert.equal((await fetch(`${root}/v2/models/nope/ready`)).status, 400);
  });

  test('JSON infer: nested and flat data give the same scores; id echoed; the latest version answers', async () => {
    for (const data of [rows, rows.flat()]) {
      const res = await infer(
        'clf',
        JSON.stringify({ id: 'req-7', inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4], data }] }),
      );
      assert.equal(res.status, 200);
      assert.match(String(res.headers.get('content-type')), /^application\/json/);
      const json = (await res.json()) as V2Response;
      assert.equal(json.model_name, 'clf');
      assert.equal(json.model_version, '2');
      assert.equal(json.id, 'req-7');
      assert.deepEqual(json.outputs[0]?.shape, [2, 3]);
      assert.equal(json.outputs[0]?.datatype, 'FP32');
      assertScores(json.outputs[0]?.data as number[], rows, 2);
    }
  });

  test('a version in the path selects it; signature_name selects the signature', async () => {
    const res = await fetch(`${root}/v2/models/clf/versions/1/infer`, {
      method: 'POST',
      body: JSON.stringify({
        parameters: { signature_name: 'predict_probs' },
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: rows[0] }],
      }),
    });
    assert.equal(res.status, 200);
    const json = (await res.json()) as V2Response;
    assert.equal(json.model_version, '1');
    assert.equal(json.outputs[0]?.name, 'probabilities');
    assertScores(json.outputs[0]?.data as number[], [rows[0]!], 1);
    const unknown = await infer(
      'clf',
      JSON.stringify({
        parameters: { signature_name: 'nope' },
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: rows[0] }],
      }),
    );
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { error: string }).error, /signature_name 'nope' not found.*predict_probs/);
  });

  test('outputs: a requested subset comes back alone, in the order asked', async () => {
    const input = { name: 'inputs', datatype: 'FP32', shape: [2, 4], data: rows };
    const all = (await (await infer('two', JSON.stringify({ inputs: [input] }))).json()) as V2Response;
    assert.deepEqual(
      all.outputs.map((o) => o.name),
      ['scores', 'first'],
    );
    const res = await infer('two', JSON.stringify({ inputs: [input], outputs: [{ name: 'first' }] }));
    const json = (await res.json()) as V2Response;
    assert.deepEqual(
      json.outputs.map((o) => [o.name, o.shape]),
      [['first', [2, 1]]],
    );
    const expected = rows.map((x) => referenceScores(x, 1)[0]!);
    json.outputs[0]?.data?.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-5));
  });

  test('binary: inputs as binary_data_size chunks, outputs binary on request, with the framing clients read', async () => {
    const x = new Float32Array(rows.flat());
    const header = {
      inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4], parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'first', parameters: { binary_data: true } }, { name: 'scores' }],
    };
    const { body, headerLength } = binaryBody(header, [new Uint8Array(x.buffer)]);
    // No Content-Type, as Triton's Python client sends it, then application/octet-stream.
    for (const headers of [{}, { 'content-type': 'application/octet-stream' }] as Record<string, string>[]) {
      const res = await infer('two', body, { 'inference-header-content-length': String(headerLength), ...headers });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      const { json, tail } = await readBinaryResponse(res);
      assert.deepEqual(json.outputs[0], {
        name: 'first',
        datatype: 'FP32',
        shape: [2, 1],
        parameters: { binary_data_size: 8 },
      });
      assertScores(json.outputs[1]?.data as number[], rows, 1);
      const first = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + tail.length));
      assert.deepEqual(
        Array.from(first),
        Array.from(json.outputs[1]?.data as number[])
          .filter((_, i) => i % 3 === 0)
          .map(Math.fround),
      );
    }
  });

  test('binary_data_output makes every output binary, in output order', async () => {
    const res = await infer(
      'two',
      JSON.stringify({
        parameters: { binary_data_output: true },
        inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4], data: rows[0] }],
      }),
    );
    const { json, tail } = await readBinaryResponse(res);
    assert.deepEqual(
      json.outputs.map((o) => o.parameters?.binary_data_size),
      [12, 4],
    );
    const values = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 16));
    assertScores(values.subarray(0, 3), [rows[0]!], 1);
    assert.equal(values[3], values[0]);
  });

  test('a raw binary request (header length 0) is the only input; all outputs come back binary', async () => {
    const x = new Float32Array(rows.flat());
    const res = await infer('clf', Buffer.from(x.buffer), { 'inference-header-content-length': '0' });
    assert.equal(res.status, 200);
    const { json, tail } = await readBinaryResponse(res);
    assert.deepEqual(json.outputs[0]?.shape, [2, 3]);
    assertScores(new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 24)), rows, 2);
  });

  const errorCases: [string, string | Buffer, Record<string, string>, number, RegExp][] = [
    [
      'unknown input',
      '{"inputs":[{"name":"z","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}',
      {},
      400,
      /unexpected inference input 'z' for model 'clf'/,
    ],
    ['missing input', '{"inputs":[]}', {}, 400, /expected 1 inputs but got 0 inputs.*missing: inputs/],
    [
      'wrong datatype',
      '{"inputs":[{"name":"inputs","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}',
      {},
      400,
      /data-type is 'FP64', but model 'clf' expects 'FP32'/,
    ],
    [
      'wrong shape',
      '{"inputs":[{"name":"inputs","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}]}',
      {},
      400,
      /unexpected shape for input 'inputs'.*Expected \[-1,4\], got \[2,2\]/,
    ],
    [
      'too few elements',
      '{"inputs":[{"name":"inputs","datatype":"FP32","shape":[2,4],"data":[1,2,3,4]}]}',
      {},
      400,
      /needs 8 elements, but its data holds 4/,
    ],
    [
      'unknown datatype',
      '{"inputs":[{"name":"inputs","datatype":"FLOAT","shape":[1,4],"data":[1,2,3,4]}]}',
      {},
      400,
      /invalid datatype 'FLOAT'/,
    ],
    [
      'BF16',
      '{"inputs":[{"name":"inputs","datatype":"BF16","shape":[1,4],"data":[1,2,3,4]}]}',
      {},
      400,
      /BF16 is not supported/,
    ],
    [
      'unknown output',
      '{"inputs":[{"name":"inputs","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}],"outputs":[{"name":"q"}]}',
      {},
      400,
      /unexpected inference output 'q'/,
    ],
    ['reserved parameter', '{"parameters":{"triton_x":1},"inputs":[]}', {}, 400, /reserved for Triton/],
    [
      'data and binary_data_size',
      '{"inputs":[{"name":"inputs","datatype":"FP32","shape":[1,4],"data":[1,2,3,4],"parameters":{"binary_data_size":16}}]}',
      {},
      400,
      /both 'data' and the parameter 'binary_data_size'/,
    ],
    ['malformed JSON', '{"inputs":[', {}, 400, /JSON Parse error/],
    [
      'a header longer than the body',
      '{"inputs":[]}',
      { 'inference-header-content-length': '999' },
      400,
      /larger than the request body \(13 bytes\)/,
    ],
    [
      'a header length that is no number',
      '{"inputs":[]}',
      { 'inference-header-content-length': '-1' },
      400,
      /not a byte count/,
    ],
    ['unknown model', '{"inputs":[]}', {}, 404, /nope|not found/i],
  ];
  for (const [what, body, headers, status, message] of errorCases) {
    test(`infer errors: ${what} → ${status} {"error": …}`, async () => {
      const res = await infer(what === 'unknown model' ? 'nope' : 'clf', body, headers);
      assert.equal(res.status, status);
      const json = (await res.json()) as { error: string };
      assert.match(json.error, message);
    });
  }

  test('binary sizes are checked against the body and the shape before anything is decoded', async () => {
    const header = (size: number, shape = [1, 4]) => ({
      inputs: [{ name: 'inputs', datatype: 'FP32', shape, parameters: { binary_data_size: size } }],
    });
    const cases: [unknown, number, RegExp][] = [
      [header(1 << 30), 16, /binary_data_size 1073741824 runs past the end of the request body: only 16 bytes/],
      [header(8), 16, /holds 16 bytes after its JSON header, but the inputs' binary_data_size sum to 8/],
      [
        header(12),
        12,
        /unexpected size for input 'inputs', expecting 16 bytes for FP32 \[1,4\], but binary_data_size is 12/,
      ],
      [header(16, [1 << 20, 4]), 16, /expecting 16777216 bytes for FP32 \[1048576,4\]/],
    ];
    for (const [head, tailBytes, message] of cases) {
      const { body, headerLength } = binaryBody(head, [new Uint8Array(tailBytes)]);
      const res = await infer('clf', body, { 'inference-header-content-length': String(headerLength) });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, message);
    }
  });

  test('unknown /v2 paths are 404 {"error":"Not Found"}, a GET of infer is 405', async () => {
    const res = await fetch(`${root}/v2/nothing/here`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: 'Not Found' });
    assert.equal((await fetch(`${root}/v2/models/clf/infer`)).status, 405);
    assert.equal((await fetch(`${root}/v2/`)).status, 404);
  });

  test('config, stats and repository routes answer through the extension functions', async () => {
    const config = (await (await fetch(`${root}/v2/models/clf/config`)).json()) as { name: string; input: unknown[] };
    assert.equal(config.name, 'clf');
    assert.equal(config.input.length, 1);
    const stats = await fetch(`${root}/v2/models/clf/stats`);
    assert.equal(stats.status, 200);
    const json = (await stats.json()) as { model_stats: { name: string; inference_count: number }[] };
    assert.ok(json.model_stats.some((s) => s.name === 'clf' && s.inference_count > 0));
    const everything = (await (await fetch(`${root}/v2/models/stats`)).json()) as { model_stats: { name: string }[] };
    assert.ok(everything.model_stats.some((s) => s.name === 'two'));
    const index = await fetch(`${root}/v2/repository/index`, { method: 'POST', body: '{"ready": true}' });
    assert.equal(index.status, 200);
    const entries = (await index.json()) as { name: string; state: string }[];
    assert.ok(entries.some((e) => e.name === 'clf' && e.state === 'READY'));
    // The default --model_control_mode refuses changes.
    const load = await fetch(`${root}/v2/repository/models/clf/load`, { method: 'POST' });
    assert.ok(load.status >= 400);
    assert.match(((await load.json()) as { error: string }).error, /model_control_mode|explicit/);
  });

  test('v2 requests are counted with protocol="v2", v1 requests with protocol="v1"', async () => {
    await infer(
      'clf',
      JSON.stringify({ inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4], data: rows[0] }] }),
    );
    await fetch(`${root}/v1/models/clf:predict`, { method: 'POST', body: JSON.stringify({ instances: [rows[0]] }) });
    const text = await (await fetch(`${root}${METRICS_PATH}`)).text();
    assert.match(
      text,
      /flowserve_requests_total\{model_name="clf",version="2",API="ModelInfer",entrypoint="REST",protocol="v2",status="OK"\} \d+/,
    );
    assert.match(
      text,
      /flowserve_requests_total\{model_name="clf",version="2",API="predict",entrypoint="REST",protocol="v1",status="OK"\} \d+/,
    );
    // Unknown model names from clients never become label values.
    await infer('random-name-123', '{"inputs":[]}');
    assert.doesNotMatch(await (await fetch(`${root}${METRICS_PATH}`)).text(), /random-name-123/);
  });
});
