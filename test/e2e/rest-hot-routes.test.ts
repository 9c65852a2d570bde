/**
 * v1 :predict and v2 /infer are answered from node:http in front of fastify (src/serving/apis/rest/hot-routes.ts).
 * Two REST servers over one serving core, the hot routes on and off, get the same requests: every answer (status,
 * body, and the headers a client reads) must be the same, and only the hot one keeps these requests from fastify.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { createRestServer } from '../../src/serving/apis/rest/server.js';
import { BearerToken } from '../../src/serving/apis/security/bearer-token.js';
import type { RequestEvent } from '../../src/serving/apis/shared/request-event.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { binaryBody } from '../helpers/oip-rest.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent whole with a Content-Length, or, as an array, in chunks with Transfer-Encoding: chunked. */
  body?: Buffer | string | Buffer[];
}

/**
 * One request on a connection of its own, kept alive as clients keep theirs: `Connection: close` (node's agent: false)
 * is left to node:http by the HTTP/1.1 front, which would then never see the request.
 */
function send(port: number, sent: Sent): Promise<Answer> {
  const agent = new Agent({ keepAlive: true });
  return new Promise<Answer>((resolve, reject) => {
    const chunked = Array.isArray(sent.body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: sent.method ?? 'POST',
        path: sent.path,
        headers: { ...(chunked ? { 'transfer-encoding': 'chunked' } : {}), ...sent.headers },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A whole body goes with end(), so node sends its Content-Length (write() then end() would send it chunked).
    if (Array.isArray(sent.body)) {
      for (const chunk of sent.body) req.write(chunk);
      req.end();
    } else req.end(sent.body);
  }).finally(() => agent.destroy());
}

/** What a client reads of an answer; Date differs by the second and is left out. */
function readable(answer: Answer): Record<string, unknown> {
  const h = answer.headers;
  return {
    status: answer.status,
    body: answer.body.toString('latin1'),
    contentType: h['content-type'],
    contentLength: h['content-length'],
    headerLength: h['inference-header-content-length'],
    authenticate: h['www-authenticate'],
    cors: [h['access-control-allow-origin'], h['access-control-allow-methods'], h['access-control-allow-headers']],
    connection: h.connection,
  };
}

describe('REST hot routes answer v1 :predict and v2 /infer exactly as fastify does', () => {
  let base: string;
  let server: RunningServer;
  let token: BearerToken;
  const apps: FastifyInstance[] = [];
  /** Requests fastify's own pipeline saw, per server. */
  const seenByFastify = { hot: [] as string[], plain: [] as string[] };
  /** Requests reported to the metrics observer, per server. */
  const events = { hot: [] as RequestEvent[], plain: [] as RequestEvent[] };
  const ports = { hot: 0, plain: 0, hotWithAuth: 0, plainWithAuth: 0 };

  const x = new Float32Array([0.5, -1, 2, 0.25, 1, 2, 3, 4]);
  const binary = binaryBody(
    {
      inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    },
    [new Uint8Array(x.buffer)],
  );
  const binaryHeaders = { 'inference-header-content-length': String(binary.headerLength) };
  const jsonInfer = JSON.stringify({
    id: 'r1',
    inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4], data: [0.5, -1, 2, 0.25] }],
  });
  const predict = JSON.stringify({ signature_name: 'predict_probs', instances: [[0.5, -1, 2, 0.25]] });
  const tooLarge = JSON.stringify({ signature_name: 'predict_probs', instances: Array(600).fill([0, 0, 0, 0]) });

  /** Each case is sent to both servers; names say what it checks. */
  const cases: Record<string, Sent> = {
    'v2 binary infer, no Content-Type': { path: '/v2/models/clf/infer', headers: binaryHeaders, body: binary.body },
    'v2 binary infer, octet-stream, a version and a query': {
      path: '/v2/models/clf/versions/1/infer?trace=1',
      headers: { ...binaryHeaders, 'content-type': 'application/octet-stream' },
      body: binary.body,
    },
    'v2 JSON infer, chunked': {
      path: '/v2/models/clf/infer',
      headers: { 'content-type': 'application/json' },
      body: [Buffer.from(jsonInfer.slice(0, 10)), Buffer.from(jsonInfer.slice(10))],
    },
    'v2 JSON infer, gzip': {
      path: '/v2/models/clf/infer',
      headers: { 'content-encoding': 'gzip' },
      body: gzipSync(jsonInfer),
    },
    'v2 infer of an unknown model': { path: '/v2/models/nope/infer', body: jsonInfer },
    'v2 infer of an unknown version': { path: '/v2/models/clf/versions/7/infer', body: jsonInfer },
    'v2 infer, malformed JSON': { path: '/v2/models/clf/infer', body: '{"inputs": [' },
    'v2 infer, header length past the body': {
      path: '/v2/models/clf/infer',
      headers: { 'inference-header-content-length': '99999' },
      body: binary.body,
    },
    'v2 infer, empty body': { path: '/v2/models/clf/infer' },
    'v1 predict': { path: '/v1/models/clf:predict', headers: { 'content-type': 'application/json' }, body: predict },
    'v1 predict, version path, text/plain with charset': {
      path: '/v1/models/clf/versions/1:predict',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: predict,
    },
    'v1 predict, unknown label': { path: '/v1/models/clf/labels/stable:predict', body: predict },
    'v1 predict, bad JSON': { path: '/v1/models/clf:predict', body: '{' },
    'v1 predict, body over --max_request_bytes': { path: '/v1/models/clf:predict', body: tooLarge },
    'v1 predict, chunked body over --max_request_bytes': {
      path: '/v1/models/clf:predict',
      body: [Buffer.from(tooLarge.slice(0, 3000)), Buffer.from(tooLarge.slice(3000))],
    },
    'v1 predict, a malformed Content-Type (fastify answers)': {
      path: '/v1/models/clf:predict',
      headers: { 'content-type': 'not a type' },
      body: predict,
    },
    'v1 predict, a percent-escape in the path (fastify answers)': { path: '/v1/models/%zz:predict', body: predict },
    'v2 infer, a percent-encoded model name (fastify answers)': { path: '/v2/models/c%6Cf/infer', body: jsonInfer },
    'v1 classify (not a hot route)': {
      path: '/v1/models/clf:classify',
      body: JSON.stringify({ examples: [{ x: [0.5, -1, 2, 0.25] }] }),
    },
    'GET of infer (405 from the v2 route)': { method: 'GET', path: '/v2/models/clf/infer' },
  };

  before(async () => {
    base = tempBase('flowserve-hot-routes-');
    writeClassifier(join(base, 'clf'), 1);
    writeFileSync(join(base, 'token'), 'sesame\n');
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
      grpcPort: 0,
      limits: { maxRequestBytes: 4096 },
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    token = new BearerToken(join(base, 'token'), { pollMs: 60_000, log: () => {} });
    const start = async (hotRoutes: boolean, auth: boolean, seen?: string[], observed?: RequestEvent[]) => {
      const app = createRestServer(server.core, {
        hotRoutes,
        ...(observed ? { observe: (event: RequestEvent) => void observed.push(event) } : {}),
        enableCors: true,
        bodyLimitBytes: 4096,
        ...(auth ? { auth: token } : {}),
      });
      if (seen) app.addHook('onRequest', async (request) => void seen.push(`${request.method} ${request.url}`));
      apps.push(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as { port: number }).port;
    };
    ports.hot = await start(true, false, seenByFastify.hot, events.hot);
    ports.plain = await start(false, false, seenByFastify.plain, events.plain);
    ports.hotWithAuth = await start(true, true);
    ports.plainWithAuth = await start(false, true);
  });

  after(async () => {
    for (const app of apps) await app.close();
    token?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  for (const [name, sent] of Object.entries(cases)) {
    test(`same answer: ${name}`, async () => {
      const hot = await send(ports.hot, sent);
      const plain = await send(ports.plain, sent);
      assert.deepEqual(readable(hot), readable(plain));
    });
  }

  test('the cases cover successes and errors of both routes', async () => {
    const statuses = new Set<number>();
    for (const sent of Object.values(cases)) statuses.add((await send(ports.hot, sent)).status);
    for (const status of [200, 400, 404, 405, 413, 415]) assert.ok(statuses.has(status), `status ${status}`);
  });

  test('bearer token: refused before the body is read, with WWW-Authenticate; accepted with it', async () => {
    for (const path of ['/v2/models/clf/infer', '/v1/models/clf:predict']) {
      const body = path.startsWith('/v2') ? binary.body : predict;
      const headers = path.startsWith('/v2') ? binaryHeaders : {};
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer sesame']) {
        const sent = { path, body, headers: { ...headers, ...(authorization ? { authorization } : {}) } };
        const hot = await send(ports.hotWithAuth, sent);
        const plain = await send(ports.plainWithAuth, sent);
        assert.deepEqual(readable(hot), readable(plain), `${path} ${authorization}`);
        assert.equal(hot.status, authorization === 'Bearer sesame' ? 200 : 401);
      }
    }
  });

  test('only the hot server keeps :predict and /infer from fastify; other requests still reach it', async () => {
    seenByFastify.hot.length = 0;
    seenByFastify.plain.length = 0;
    const sent = [
      cases['v2 binary infer, no Content-Type'],
      cases['v1 predict'],
      cases['v1 predict, bad JSON'],
      cases['v1 classify (not a hot route)'],
      cases['v2 infer, a percent-encoded model name (fastify answers)'],
    ] as Sent[];
    for (const s of sent) {
      await send(ports.hot, s);
      await send(ports.plain, s);
    }
    assert.equal(seenByFastify.plain.length, sent.length);
    assert.deepEqual(seenByFastify.hot, ['POST /v1/models/clf:classify', 'POST /v2/models/c%6Cf/infer']);
  });

  test('requests are reported to the metrics as the fastify routes report them; body errors are not', async () => {
    const reported = (events: RequestEvent[]) =>
      events.map((e) => `${e.protocol ?? 'v1'} ${e.api} ${e.model} ${e.version ?? '-'} ${e.status}`);
    for (const name of [
      'v2 binary infer, no Content-Type',
      'v2 infer of an unknown model',
      'v1 predict',
      'v1 predict, bad JSON',
      'v1 predict, body over --max_request_bytes',
    ]) {
      events.hot.length = 0;
      events.plain.length = 0;
      await send(ports.hot, cases[name] as Sent);
      await send(ports.plain, cases[name] as Sent);
      assert.deepEqual(reported(events.hot), reported(events.plain), name);
      assert.equal(events.hot.length, name.includes('max_request_bytes') ? 0 : 1, name);
    }
  });

  test('pipelined binary requests in one packet get the same bytes as from fastify, in order', async () => {
    // Both bodies arrive in one read: each is taken as its slice of that read (no copy), and each binary reply is
    // written as one string with its headers; the raw answers must still equal fastify's, byte for byte.
    const x2 = new Float32Array([-3.5, 1e-3, 7, -0.125, 4, -2, 1, 0]);
    const second = binaryBody(
      {
        inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4], parameters: { binary_data_size: x2.byteLength } }],
        parameters: { binary_data_output: true },
      },
      [new Uint8Array(x2.buffer)],
    );
    const request = (body: Buffer, headerLength: number, close: boolean) =>
      Buffer.concat([
        Buffer.from(
          `POST /v2/models/clf/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n` +
            `Inference-Header-Content-Length: ${headerLength}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`,
        ),
        body,
      ]);
    const packet = Buffer.concat([
      request(binary.body, binary.headerLength, false),
      request(second.body, second.headerLength, true),
    ]);
    const raw = async (port: number) => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.write(packet);
      await Promise.race([once(socket, 'end'), once(socket, 'close')]);
      socket.destroy();
      return Buffer.concat(received).toString('latin1');
    };
    // Each answer's status line, its header lines in name order (fastify orders them differently) without Date
    // (it differs by the second), and its body bytes.
    const answers = (text: string) => {
      const out: { status: string | undefined; headers: string[]; body: string }[] = [];
      for (let at = 0; at < text.length;) {
        const end = text.indexOf('\r\n\r\n', at);
        const [status, ...lines] = text.slice(at, end).split('\r\n');
        const headers = lines.map((line) => line.toLowerCase());
        const length = Number(headers.find((line) => line.startsWith('content-length:'))?.slice(15));
        const body = text.slice(end + 4, end + 4 + length);
        out.push({ status, headers: headers.filter((line) => !line.startsWith('date:')).sort(), body });
        at = end + 4 + length;
      }
      return out;
    };
    const hot = answers(await raw(ports.hot));
    assert.deepEqual(hot, answers(await raw(ports.plain)));
    assert.deepEqual(
      hot.map((a) => a.status),
      ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'],
    );
    assert.notEqual(hot[0]?.body, hot[1]?.body);
    // The binary outputs hold bytes past 0x7f, which must arrive unchanged.
    for (const answer of hot) assert.match(answer.body, /[\x80-\xff]/);
  });

  test("the HTTP/1.1 front reads the hot routes' requests itself; node:http parses them when it is off", async () => {
    // The same v2 binary request to servers with the front on and off: the same answer, and node:http emits its
    // 'request' event only where the front is off (or for a request the front leaves to it).
    const counts: number[] = [];
    for (const http1Front of [true, false]) {
      const app = createRestServer(server.core, { http1Front, bodyLimitBytes: 4096 });
      let parsedByNode = 0;
      app.server.on('request', () => parsedByNode++);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as { port: number }).port;
      try {
        const answer = await send(port, cases['v2 binary infer, no Content-Type'] as Sent);
        assert.equal(answer.status, 200);
        const plain = await send(ports.plain, cases['v2 binary infer, no Content-Type'] as Sent);
        assert.deepEqual(answer.body, plain.body);
        await send(port, cases['v1 classify (not a hot route)'] as Sent);
      } finally {
        await app.close();
      }
      counts.push(parsedByNode);
    }
    assert.deepEqual(counts, [1, 2]);
  });

  test('while the server closes, a busy connection gets its answer, then is closed with nothing more routed', async () => {
    // The first request's body is held back until the close has begun, so the connection is busy (not closed as
    // idle); the second request, pipelined behind it, comes while the server closes. Node answers the first with
    // `Connection: close` and never routes the second, on both servers. (With the HTTP/1.1 front the first request
    // would be the front's, not node's: test/serving/apis/http1-front.test.ts closes a server in the same moment.)
    const answers: string[] = [];
    for (const hotRoutes of [true, false]) {
      const app = createRestServer(server.core, { hotRoutes, http1Front: false, bodyLimitBytes: 4096 });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as { port: number }).port;
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const head = (length: number) =>
        `POST /v1/models/clf:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`;
      const routed = once(app.server, 'request');
      socket.write(head(predict.length) + predict.slice(0, 5));
      await routed; // the first request is in progress: its connection is not idle
      const closing = app.close();
      // The listening socket closes when fastify's close reaches server.close(), after its preClose hooks.
      for (let i = 0; i < 200 && app.server.listening; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(app.server.listening, false);
      socket.write(predict.slice(5) + head(predict.length) + predict);
      await Promise.race([once(socket, 'end'), once(socket, 'close')]);
      socket.destroy();
      await closing;
      const text = Buffer.concat(received).toString('latin1');
      answers.push(
        [...text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]).join(',') +
          (/connection: close/i.test(text) ? ' close' : ''),
      );
    }
    assert.deepEqual(answers, ['200 close', '200 close']);
  });
});
