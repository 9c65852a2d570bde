/**
 * REST JSON against a server in its own process (test/helpers/server-child.ts): peak RSS per request from
 * /proc/<pid>/status, event-loop delay from perf_hooks inside the server, and the statuses of hostile bodies.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertLoopDelay, loadDescription, turnCpuBound, type LoopStats } from '../helpers/event-loop-bounds.js';
import { procKiB, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { MAX_REQUEST_JSON_ITEMS } from '../../src/serving/apis/rest/json-reader.js';
import { tempBase, writeRowSumModel } from '../serving/apis/fixtures.js';

const FEATURES = 1024;
// Under --max_request_bytes (32 MiB by default).
const BODY_BYTES = 30 * 1024 * 1024;
const HAS_PROC = existsSync('/proc/self/status') && existsSync('/proc/self/clear_refs');

/** A seeded row of `FEATURES` floats as a client would print them (6 decimals, sign). */
function floatRow(seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: FEATURES }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Number((s / 2 ** 31 - 1).toFixed(6));
  });
}

/** {"instances": [row, row, …]} of about `bytes`, cycling through `rows`; returns the body and the rows used. */
function instancesBody(rowTexts: string[], bytes: number): { body: Buffer; count: number } {
  const parts: string[] = [];
  let size = 20;
  let count = 0;
  while (size < bytes) {
    const text = rowTexts[count % rowTexts.length] as string;
    parts.push(text);
    size += text.length + 1;
    count++;
  }
  return { body: Buffer.from(`{"instances": [${parts.join(',')}]}`), count };
}

describe('REST JSON bodies: bounded memory, a free event loop, 400 for hostile input', () => {
  let base: string;
  let server: ServerProcess;
  let pid: number;
  let url: string;

  const command = (text: 'reset' | 'stats') => server.command(text);
  const predict = (body: Buffer | string) =>
    fetch(`${url}:predict`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body) });

  before(async () => {
    base = tempBase('flowserve-rest-json-');
    writeRowSumModel(join(base, 'sum'), 1, FEATURES);
    server = await startServerProcess([['sum', join(base, 'sum')]]);
    pid = server.pid;
    url = `http://127.0.0.1:${server.restPort}/v1/models/sum`;
    // Warm up (JIT, the worker's session) so that the measured requests pay only for themselves.
    const warm = await predict(JSON.stringify({ instances: [floatRow(1)] }));
    assert.equal(warm.status, 200);
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  /** Sends `body` and returns the peak RSS increase (bytes) of the server process over the request. */
  async function peakIncrease(body: Buffer): Promise<{ increase: number; response: Response }> {
    const before = procKiB(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    const response = await predict(body);
    await response.clone().arrayBuffer();
    return { increase: (procKiB(pid, 'VmHWM') - before) * 1024, response };
  }

  async function checkMemory(rowTexts: string[], rows: number[][], label: string) {
    const { body, count } = instancesBody(rowTexts, BODY_BYTES);
    const tensorBytes = count * FEATURES * 4;
    const { increase, response } = await peakIncrease(body);
    assert.equal(response.status, 200, await response.clone().text());
    const { predictions } = (await response.json()) as { predictions: number[][] };
    assert.equal(predictions.length, count);
    for (let i = 0; i < Math.min(count, rows.length); i++) {
      const expected = (rows[i] as number[]).reduce((a, v) => a + Math.fround(v), 0);
      assert.ok(Math.abs((predictions[i]?.[0] as number) - expected) < 1e-2, `row ${i}`);
    }
    const limit = 4 * body.length + tensorBytes;
    console.log(
      `${label}: body ${(body.length / 2 ** 20).toFixed(1)} MiB, tensor ${(tensorBytes / 2 ** 20).toFixed(1)} MiB, ` +
        `peak RSS increase ${(increase / 2 ** 20).toFixed(1)} MiB (limit ${(limit / 2 ** 20).toFixed(1)} MiB)`,
    );
    assert.ok(increase <= limit, `peak RSS increase ${increase} > ${limit}`);
  }

  test('a 48 MiB body of realistic floats peaks at ≤ 4× its size plus its tensor, answered correctly', async (t) => {
    if (!HAS_PROC) return t.skip('no /proc/<pid>/status and clear_refs here: peak RSS cannot be read');
    const rows = Array.from({ length: 8 }, (_, i) => floatRow(i + 10));
    await checkMemory(
      rows.map((r) => JSON.stringify(r)),
      rows,
      'floats',
    );
  });

  test('a 48 MiB body of "0,0,0,…" (the most numbers per byte) stays within the same bound', async (t) => {
    if (!HAS_PROC) return t.skip('no /proc/<pid>/status and clear_refs here: peak RSS cannot be read');
    const zeros = new Array<number>(FEATURES).fill(0);
    await checkMemory([JSON.stringify(zeros)], [zeros], 'zeros');
  });

  test('no body holds the event loop for more than 50 ms while health checks run every 20 ms', async () => {
    const zeros = instancesBody([JSON.stringify(new Array<number>(FEATURES).fill(0))], BODY_BYTES).body;
    const floats = instancesBody([JSON.stringify(floatRow(3))], BODY_BYTES).body;
    const objects = instancesBody([JSON.stringify({ x: floatRow(4) })], BODY_BYTES).body;
    const strings = Buffer.from(JSON.stringify({ instances: new Array<string>(4_000_000).fill('a') }));
    const oneString = Buffer.from(JSON.stringify({ instances: ['s'.repeat(BODY_BYTES)] }));
    const deep = Buffer.from(`{"instances": ${'['.repeat(BODY_BYTES / 4)}`);
    await command('reset');
    let checking = true;
    let checks = 0;
    let slowest = 0;
    const health = (async () => {
      while (checking) {
        const started = performance.now();
        const res = await fetch(url);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        slowest = Math.max(slowest, performance.now() - started);
        checks++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const statuses: number[] = [];
    try {
      for (const body of [zeros, floats, objects, strings, oneString, deep]) {
        const res = await predict(body);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    } finally {
      checking = false;
      await health;
    }
    const stats: LoopStats = await command('stats');
    const { maxDelayMs, maxTurnCpuMs, maxHeldMs } = stats;
    console.log(
      `event loop: max delay ${maxDelayMs?.toFixed(1)} ms (${maxHeldMs?.toFixed(1)} ms not waiting for a core), most ` +
        `CPU in one turn ${maxTurnCpuMs?.toFixed(1)} ms ` +
        `(${loadDescription()}); ${checks} health checks, slowest ` +
        `${slowest.toFixed(1)} ms; statuses ${statuses.join(',')}`,
    );
    assert.deepEqual(statuses, [200, 200, 200, 400, 400, 400]);
    assert.ok((maxTurnCpuMs as number) <= turnCpuBound(), `one turn of the event loop used ${maxTurnCpuMs} ms of CPU`);
    assertLoopDelay(stats, 'these requests');
  });

  test('hostile bodies get 400 naming the problem, in error bodies under 1 KB', async () => {
    const row = new Array<string>(FEATURES).fill('0');
    const cases: [string, RegExp][] = [
      [`{"instances": ${'['.repeat(100_000)}`, /depth 513 exceeds the maximum depth 512/],
      [`{"instances": [[1e400, ${row.slice(1).join(',')}]]}`, /Number too big to be stored in double/],
      [`{"instances": [["\\u0000flowserve:Infinity", ${row.slice(1).join(',')}]]}`, /Type: String is not of expected/],
      [JSON.stringify({ instances: [{ ['n'.repeat(2 << 20)]: [0] }] }), /signature expects|not of expected type/],
      [JSON.stringify({ inputs: { ['n'.repeat(2 << 20)]: [0] } }), /signature expects|not of expected type/],
      [JSON.stringify({ signature_name: 'n'.repeat(2 << 20), inputs: [0] }), /Serving signature name: "n+…" not found/],
      [
        JSON.stringify({ instances: new Array<string>(MAX_REQUEST_JSON_ITEMS).fill('a') }),
        /more than 1048576 array elements and object members outside arrays of numbers/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await predict(body);
      const text = await res.text();
      assert.equal(res.status, 400, text.slice(0, 300));
      assert.ok(text.length < 1024, `error body of ${text.length} bytes`);
      assert.match((JSON.parse(text) as { error: string }).error, message);
    }
  });
});
