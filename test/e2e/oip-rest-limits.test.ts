/**
 * Hostile /v2 requests: sizes checked against the limits before anything is allocated, the JSON reader's bounds, and
 * a free event loop while 30 MB bodies (binary and JSON) are read, in a server running in its own process.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_VERSION_POLICY, validateModelServerConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { binaryBody } from '../helpers/oip-rest.js';
import { assertLoopDelay, loadDescription, turnCpuBound, type LoopStats } from '../helpers/event-loop-bounds.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { tempBase, writeClassifier, writeIdentityModel, writeRowSumModel } from '../serving/apis/fixtures.js';

const FEATURES = 1024;
const BODY_BYTES = 30 * 1024 * 1024;

async function errorOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: string }).error;
}

describe('/v2 infer under hostile input: limits before allocation', () => {
  let base: string;
  let server: RunningServer;
  let root: string;
  const post = (model: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${root}/v2/models/${model}/infer`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  before(async () => {
    base = tempBase('flowserve-oip-limits-');
    writeClassifier(join(base, 'clf'), 1);
    writeIdentityModel(join(base, 'text'), 1, 'string', [-1]);
    const entry = (name: string) => ({
      name,
      basePath: join(base, name),
      modelPlatform: 'tensorflow',
      versionPolicy: DEFAULT_VERSION_POLICY,
      versionLabels: {},
    });
    server = await startServer({
      modelConfig: validateModelServerConfig({ models: [entry('clf'), entry('text')] }),
      grpcPort: 0,
      restPort: 0,
      limits: { maxInputBytes: 4096 },
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a binary input larger than --max_input_bytes is refused naming the flag', async () => {
    const x = new Float32Array(512 * 4);
    const { body, headerLength } = binaryBody(
      {
        inputs: [{ name: 'inputs', datatype: 'FP32', shape: [512, 4], parameters: { binary_data_size: x.byteLength } }],
      },
      [new Uint8Array(x.buffer)],
    );
    const res = await post('clf', body, { 'inference-header-content-length': String(headerLength) });
    assert.equal(res.status, 400);
    assert.match(
      await errorOf(res),
      /input 'inputs' \(float \[512,4\]\) would decode to 8\.0 KiB.*--max_input_bytes=4096/,
    );
  });

  test('BYTES elements are priced by count too, before they are built', async () => {
    const res = await post(
      'text',
      JSON.stringify({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [8], data: new Array(8).fill('a') }] }),
    );
    assert.equal(res.status, 400);
    assert.match(await errorOf(res), /--max_input_bytes=4096/);
  });

  test('a huge shape with little data is refused as a count mismatch, never allocated', async () => {
    const res = await post(
      'clf',
      JSON.stringify({ inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2 ** 40, 4], data: [1, 2, 3, 4] }] }),
    );
    assert.equal(res.status, 400);
    assert.match(await errorOf(res), /needs Infinity elements|needs \d+ elements, but its data holds 4/);
  });

  test('a rank over 254, negative dims and non-integer dims are refused', async () => {
    const cases: [unknown[], RegExp][] = [
      [new Array(300).fill(1), /rank 300 exceeds the maximum rank 254/],
      [[-1, 4], /'shape' must be an array of non-negative integers/],
      [[1.5, 4], /'shape' must be an array of non-negative integers/],
    ];
    for (const [shape, message] of cases) {
      const res = await post(
        'clf',
        JSON.stringify({ inputs: [{ name: 'inputs', datatype: 'FP32', shape, data: [] }] }),
      );
      assert.equal(res.status, 400);
      assert.match(await errorOf(res), message);
    }
  });

  test('JSON nested past the reader depth limit is refused', async () => {
    const deep = `{"inputs":[{"name":"inputs","datatype":"FP32","shape":[1],"data":${'['.repeat(600)}1${']'.repeat(600)}}]}`;
    const res = await post('clf', deep);
    assert.equal(res.status, 400);
    assert.match(await errorOf(res), /Nesting depth \d+ exceeds the maximum depth 512/);
  });

  test('error bodies stay small whatever the request quotes', async () => {
    const res = await post(
      'clf',
      JSON.stringify({ inputs: [{ name: 'n'.repeat(1 << 20), datatype: 'FP32', shape: [1], data: [1] }] }),
    );
    assert.equal(res.status, 400);
    assert.ok((await res.text()).length < 2048);
  });
});

describe('/v2 infer: 30 MB bodies do not hold the event loop', () => {
  let base: string;
  let server: ServerProcess;
  let url: string;

  before(async () => {
    base = tempBase('flowserve-oip-loop-');
    writeRowSumModel(join(base, 'sum'), 1, FEATURES);
    server = await startServerProcess([['sum', join(base, 'sum')]]);
    url = `http://127.0.0.1:${server.restPort}/v2/models/sum`;
    const warm = await fetch(`${url}/infer`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, FEATURES], data: new Array(FEATURES).fill(0) }],
      }),
    });
    assert.equal(warm.status, 200);
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('binary and JSON 30 MB inputs are served (and hostile ones refused) while health checks keep answering', async () => {
    const rows = Math.floor(BODY_BYTES / (FEATURES * 4));
    const x = new Float32Array(rows * FEATURES).map((_, i) => (i % 97) / 97);
    const binary = binaryBody(
      {
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [rows, FEATURES], parameters: { binary_data_size: x.byteLength } },
        ],
      },
      [new Uint8Array(x.buffer)],
    );
    const jsonRows = Math.floor(BODY_BYTES / (FEATURES * 7));
    const row = `[${Array.from({ length: FEATURES }, (_, i) => ((i % 89) / 89).toFixed(4)).join(',')}]`;
    const json = Buffer.from(
      `{"inputs":[{"name":"x","datatype":"FP32","shape":[${jsonRows},${FEATURES}],"data":[${new Array(jsonRows).fill(row).join(',')}]}]}`,
    );
    const strings = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'x', datatype: 'BYTES', shape: [4_000_000], data: new Array(4_000_000).fill('a') }],
      }),
    );
    const bodies: [Buffer, Record<string, string>][] = [
      [binary.body, { 'inference-header-content-length': String(binary.headerLength) }],
      [json, {}],
      [strings, {}],
    ];
    await server.command('reset');
    let checking = true;
    let checks = 0;
    const health = (async () => {
      while (checking) {
        const res = await fetch(`${url}/ready`);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        checks++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const statuses: number[] = [];
    try {
      for (const [body, headers] of bodies) {
        const res = await fetch(`${url}/infer`, { method: 'POST', headers, body: new Uint8Array(body) });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    } finally {
      checking = false;
      await health;
    }
    const stats: LoopStats = await server.command('stats');
    const { maxDelayMs, maxTurnCpuMs, maxHeldMs } = stats;
    console.log(
      `event loop: max delay ${maxDelayMs?.toFixed(1)} ms (${maxHeldMs?.toFixed(1)} ms not waiting for a core), most ` +
        `CPU in one turn ${maxTurnCpuMs?.toFixed(1)} ms ` +
        `(${loadDescription()}); ${checks} health checks; statuses ${statuses.join(',')}`,
    );
    assert.deepEqual(statuses, [200, 200, 400]);
    assert.ok((maxTurnCpuMs as number) <= turnCpuBound(), `one turn of the event loop used ${maxTurnCpuMs} ms of CPU`);
    assertLoopDelay(stats, 'these requests');
  });
});
