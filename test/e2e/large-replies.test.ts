/**
 * Large REST replies and long string elements, served by a server in its own process while health checks run:
 * millions of numbers and 24 MiB of strings (one or two), in and out, over /v1 predict and /v2 infer (JSON and
 * binary), without a turn of the event loop held past the bound (rest/reply-assembler.ts); and --max_response_bytes
 * refusing them.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_VERSION_POLICY, validateModelServerConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { assertLoopDelay, loadDescription, turnCpuBound } from '../helpers/event-loop-bounds.js';
import { binaryBody } from '../helpers/oip-rest.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { tempBase, writeIdentityModel } from '../serving/apis/fixtures.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';

const FLOATS = 1_500_000;
const STRING_BYTES = 24 * 1024 * 1024;

interface Exchange {
  what: string;
  path: string;
  body: Buffer;
  headers?: Record<string, string>;
  /** The reply's status; default 200. */
  status?: number;
  /** Checks the reply; throws when it is wrong. */
  check: (res: Response, body: Buffer) => void;
}

function floatValues(count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => ((i % 1000) - 500) / 8);
}

function exchanges(): Exchange[] {
  const floats = floatValues(FLOATS);
  const text = 's'.repeat(STRING_BYTES - 16) + '"\n\u0001é';
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const v2Binary = binaryBody(
    {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [FLOATS], parameters: { binary_data_size: FLOATS * 4 } }],
    },
    [new Uint8Array(floats.buffer)],
  );
  const allBinary = binaryBody(
    {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [FLOATS], parameters: { binary_data_size: FLOATS * 4 } }],
      parameters: { binary_data_output: true },
    },
    [new Uint8Array(floats.buffer)],
  );
  const checkFloats = (values: number[]) => {
    assert.equal(values.length, FLOATS);
    for (const i of [0, 1, 777, FLOATS - 1]) assert.equal(Math.fround(values[i] as number), floats[i]);
  };
  const parsed = (body: Buffer) => JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  return [
    {
      what: 'v1 predict, 1.5M floats',
      path: '/v1/models/floats:predict',
      body: json({ instances: Array.from(floats) }),
      check: (res, body) => {
        assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
        checkFloats(parsed(body).predictions as number[]);
      },
    },
    {
      what: 'v1 predict, one 24 MiB string',
      path: '/v1/models/text:predict',
      body: json({ instances: [text] }),
      check: (_, body) => assert.equal((parsed(body).predictions as string[])[0], text),
    },
    {
      what: 'v1 predict, two 12 MiB strings',
      path: '/v1/models/text:predict',
      body: json({ instances: [text.slice(0, 12 << 20), text.slice(12 << 20)] }),
      check: (_, body) => assert.equal((parsed(body).predictions as string[]).join(''), text),
    },
    {
      what: 'v1 predict, 16 MiB as {"b64": …}',
      path: '/v1/models/text:predict',
      body: json({ instances: [{ b64: Buffer.from(text.slice(0, 16 << 20)).toString('base64') }] }),
      check: (_, body) => assert.equal((parsed(body).predictions as string[])[0], text.slice(0, 16 << 20)),
    },
    {
      what: 'v2 infer, 1.5M floats binary in, JSON out',
      path: '/v2/models/floats/infer',
      body: v2Binary.body,
      headers: { 'inference-header-content-length': String(v2Binary.headerLength) },
      check: (_, body) => checkFloats((parsed(body).outputs as { data: number[] }[])[0]?.data as number[]),
    },
    {
      what: 'v2 infer, one 24 MiB BYTES element',
      path: '/v2/models/text/infer',
      body: json({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: [text] }] }),
      check: (_, body) => assert.equal((parsed(body).outputs as { data: string[] }[])[0]?.data[0], text),
    },
    {
      what: 'v2 infer, one 24 MiB BYTES element, binary out',
      path: '/v2/models/text/infer',
      body: json({
        inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: [text] }],
        parameters: { binary_data_output: true },
      }),
      check: (res, body) => {
        const headerLength = Number(res.headers.get('inference-header-content-length'));
        const element = body.subarray(headerLength + 4);
        assert.equal(body.readUInt32LE(headerLength), element.byteLength);
        assert.equal(element.toString('utf8'), text);
      },
    },
    {
      what: 'v2 infer, 1.5M floats binary in and out',
      path: '/v2/models/floats/infer',
      body: allBinary.body,
      headers: { 'inference-header-content-length': String(allBinary.headerLength) },
      check: (res, body) => {
        const headerLength = Number(res.headers.get('inference-header-content-length'));
        const values = new Float32Array(
          body.buffer.slice(body.byteOffset + headerLength, body.byteOffset + body.length),
        );
        assert.deepEqual(values, floats);
      },
    },
  ];
}

/** Classify and Regress bodies with long strings for half_plus_two, whose `x` is a float feature. */
function examplesExchanges(): Exchange[] {
  const text = 's'.repeat(STRING_BYTES - 16) + '"\n\u0001é';
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const parsed = (body: Buffer) => JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  return [
    {
      // half_plus_two parses x as a float: the request is refused, after its bytes were decoded in turns.
      what: 'v1 classify, 16 MiB as {"b64": …}',
      path: '/v1/models/half:classify',
      body: json({
        signature_name: 'classify_x_to_y',
        examples: [{ x: { b64: Buffer.from(text.slice(0, 16 << 20)).toString('base64') } }],
      }),
      status: 400,
      check: (_, body) =>
        assert.match(String(parsed(body).error), /Unexpected element type in feature: x expecting type: float/),
    },
    {
      what: 'v1 regress, one 24 MiB string',
      path: '/v1/models/half:regress',
      body: json({ signature_name: 'regress_x_to_y', examples: [{ x: text }] }),
      status: 400,
      check: (_, body) =>
        assert.match(String(parsed(body).error), /Unexpected element type in feature: x expecting type: float/),
    },
  ];
}

/**
 * Sends each exchange in turn to `server` while health checks run every 20 ms, and bounds the CPU of one turn of its
 * event loop (and, on a machine that is not overloaded, its delay).
 */
async function measureExchanges(server: ServerProcess, sent: readonly Exchange[]): Promise<void> {
  const root = `http://127.0.0.1:${server.restPort}`;
  let checking = true;
  let checks = 0;
  const health = (async () => {
    while (checking) {
      const res = await fetch(`${root}/v1/models/${HEALTH_MODEL}`);
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      checks++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  let maxTurnCpuMs = 0;
  try {
    for (const { what, path, body, headers, status, check } of sent) {
      await server.command('reset');
      const res = await fetch(`${root}${path}`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: headers ?? {},
      });
      const reply = Buffer.from(await res.arrayBuffer());
      const stats = await server.command('stats');
      console.log(
        `${what}: ${res.status}, ${(reply.byteLength / 2 ** 20).toFixed(1)} MiB reply; event loop: max delay ` +
          `${stats.maxDelayMs?.toFixed(1)} ms (${stats.maxHeldMs?.toFixed(1)} ms not waiting for a core), most CPU in one ` +
          `turn ${stats.maxTurnCpuMs?.toFixed(1)} ms`,
      );
      maxTurnCpuMs = Math.max(maxTurnCpuMs, stats.maxTurnCpuMs as number);
      assertLoopDelay(stats, what);
      assert.equal(res.status, status ?? 200, `${what}: ${reply.subarray(0, 300).toString()}`);
      check(res, reply);
    }
  } finally {
    checking = false;
    await health;
  }
  console.log(`${loadDescription()}; ${checks} health checks`);
  assert.ok(maxTurnCpuMs <= turnCpuBound(), `one turn of the event loop used ${maxTurnCpuMs} ms of CPU`);
}

/** The model every server here serves, which the health checks ask for. */
const HEALTH_MODEL = 'floats';

describe('large REST replies and long strings do not hold the event loop', () => {
  let base: string;
  let server: ServerProcess;
  let root: string;

  before(async () => {
    base = tempBase('flowserve-large-replies-');
    writeIdentityModel(join(base, 'floats'), 1, 'float32', [-1]);
    writeIdentityModel(join(base, 'text'), 1, 'string', [-1]);
    server = await startServerProcess([
      ['floats', join(base, 'floats')],
      ['text', join(base, 'text')],
    ]);
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('millions of numbers and 24 MiB strings, in and out, while health checks run every 20 ms', async () => {
    const sent = exchanges();
    // Warm: the first run of each model and route is not what is measured.
    for (const model of ['floats', 'text']) {
      const res = await fetch(`${root}/v1/models/${model}:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances: model === 'text' ? ['a'] : [1] }),
      });
      assert.equal(res.status, 200);
    }
    await measureExchanges(server, sent);
  });

  // A server of its own, so that the SavedModel's import adds nothing to the heap the exchanges above are measured in.
  describe('long strings in Classify and Regress bodies', () => {
    let examplesServer: ServerProcess;

    before(async () => {
      examplesServer = await startServerProcess([
        [HEALTH_MODEL, join(base, 'floats')],
        ['half', join(TF_SERVING_FIXTURES, 'saved_model_half_plus_two_cpu')],
      ]);
    });

    after(async () => {
      await examplesServer?.close();
    });

    test('16 MiB as {"b64": …} and a 24 MiB string, decoded in turns before the type check refuses them', async () => {
      const res = await fetch(`http://127.0.0.1:${examplesServer.restPort}/v1/models/half:regress`, {
        method: 'POST',
        body: JSON.stringify({ signature_name: 'regress_x_to_y', examples: [{ x: 1 }] }),
      });
      assert.equal(res.status, 200, await res.text());
      await measureExchanges(examplesServer, examplesExchanges());
    });
  });
});

describe('--max_response_bytes bounds REST replies', () => {
  let base: string;
  let server: RunningServer;
  let root: string;
  const MAX = 1024 * 1024;

  before(async () => {
    base = tempBase('flowserve-reply-limit-');
    writeIdentityModel(join(base, 'text'), 1, 'string', [-1]);
    writeIdentityModel(join(base, 'floats'), 1, 'float32', [-1]);
    const entry = (name: string) => ({
      name,
      basePath: join(base, name),
      modelPlatform: 'tensorflow',
      versionPolicy: DEFAULT_VERSION_POLICY,
      versionLabels: {},
    });
    server = await startServer({
      modelConfig: validateModelServerConfig({ models: [entry('text'), entry('floats')] }),
      grpcPort: 0,
      restPort: 0,
      limits: { maxResponseBytes: MAX },
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a reply past the limit is 429 naming the flag; one within it is served', async () => {
    // Control bytes are written as \u00XX: a 400 KiB request asks for a 2.4 MiB reply.
    const controls = '\u0001'.repeat(400 * 1024);
    const floats = new Float32Array(300_000);
    const v2Binary = binaryBody(
      {
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [floats.length], parameters: { binary_data_size: floats.byteLength } },
        ],
        parameters: { binary_data_output: true },
      },
      [new Uint8Array(floats.buffer)],
    );
    const cases: [string, string | Uint8Array<ArrayBuffer>, Record<string, string>][] = [
      ['/v1/models/text:predict', JSON.stringify({ instances: [controls] }), {}],
      [
        '/v2/models/text/infer',
        JSON.stringify({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: [controls] }] }),
        {},
      ],
      [
        '/v2/models/floats/infer',
        new Uint8Array(v2Binary.body),
        { 'inference-header-content-length': String(v2Binary.headerLength) },
      ],
    ];
    for (const [path, body, headers] of cases) {
      const res = await fetch(`${root}${path}`, { method: 'POST', body, headers });
      const { error } = (await res.json()) as { error: string };
      assert.equal(res.status, 429, `${path}: ${error}`);
      assert.match(error, new RegExp(`--max_response_bytes=${MAX}`));
    }
    const fits = await fetch(`${root}/v1/models/text:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: ['\u0001'.repeat(100 * 1024)] }),
    });
    assert.equal(fits.status, 200);
    assert.equal(((await fits.json()) as { predictions: string[] }).predictions[0]?.length, 100 * 1024);
  });
});
