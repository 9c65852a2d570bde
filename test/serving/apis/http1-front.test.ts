/**
 * flowserve's own HTTP/1.1 front for the hot routes (src/serving/apis/rest/http1-front.ts): which requests it takes
 * whole, the reply bytes it writes, and a connection's life on a plain node:http server with a stand-in for the hot
 * routes — handed to node:http at the first request that is not the front's, in order, with the bytes read so far;
 * closed when idle and when the server closes. test/e2e/rest-hot-routes.test.ts compares whole servers with the
 * front against node:http and fastify.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import type { HotAnswer, HotRoute, HotRoutes } from '../../../src/serving/apis/rest/hot-routes.js';
import {
  Http1Front,
  parseHotRequest,
  replyHead,
  WAIT_FOR_BODY_BELOW,
} from '../../../src/serving/apis/rest/http1-front.js';
import type { RestReply } from '../../../src/serving/apis/rest/http-common.js';
import { ClientConnection } from '../../../src/serving/worker/client-connection.js';
import { MANY_CONNECTIONS, MAX_BURST_HERE } from '../../../src/serving/worker/worker-pool.js';

const INFER = '/v2/models/m/infer';

/** The hot routes' own test of a target and Content-Type, without a core: v2 infer and v1 predict paths only. */
const routes = {
  bodyLimit: 1000,
  routeOf(method: string | undefined, url: string, contentType: string | undefined): HotRoute | undefined {
    if (method !== 'POST' || (contentType !== undefined && contentType.includes(' '))) return undefined;
    if (/^\/v2\/models\/[a-z]+\/infer(\?.*)?$/.test(url)) return 'v2';
    if (/^\/v1\/models\/[a-z]+:predict$/.test(url)) return 'v1';
    return undefined;
  },
};

function request(
  target: string,
  body: string,
  headers: Record<string, string> = {},
  options: { line?: string; host?: boolean } = {},
): Buffer {
  let text = options.line ?? `POST ${target} HTTP/1.1`;
  text += '\r\n';
  if (options.host ?? true) text += 'Host: x\r\n';
  if (!('Content-Length' in headers)) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return Buffer.from(`${text}\r\n${body}`, 'latin1');
}

describe('parseHotRequest: what the front takes whole', () => {
  test('a plain v2 infer: route, target, headers by lower-case name, the body as a view, the bytes it took', () => {
    const bytes = Buffer.concat([
      request(`${INFER}?x=1`, 'abc', { 'Content-Type': 'application/octet-stream' }),
      Buffer.from('NEXT'),
    ]);
    const parsed = parseHotRequest(bytes, routes, 8192);
    assert.ok(parsed !== undefined && 'route' in parsed);
    assert.equal(parsed.route, 'v2');
    assert.equal(parsed.url, `${INFER}?x=1`);
    assert.equal(parsed.headers['content-type'], 'application/octet-stream');
    assert.equal(parsed.headers.host, 'x');
    assert.equal(parsed.body.toString(), 'abc');
    assert.equal(parsed.body.buffer, bytes.buffer, 'the body is not copied');
    assert.equal(bytes.subarray(parsed.length).toString(), 'NEXT');
  });

  test('a v1 predict, Connection: keep-alive, values trimmed, a header named __proto__ kept as a header', () => {
    const parsed = parseHotRequest(
      request('/v1/models/m:predict', '{}', {
        Connection: 'Keep-Alive',
        'X-Pad': ' \t v \t',
        ...(JSON.parse('{"__proto__": "p"}') as Record<string, string>),
      }),
      routes,
      8192,
    );
    assert.ok(parsed !== undefined && 'route' in parsed);
    assert.equal(parsed.route, 'v1');
    assert.equal(parsed.headers['x-pad'], 'v');
    assert.equal(Object.getOwnPropertyDescriptor(parsed.headers, '__proto__')?.value, 'p');
  });

  test('a hot request whose body has not all arrived is waited for, up to WAIT_FOR_BODY_BELOW bytes in all', () => {
    const whole = request(INFER, 'abc');
    assert.deepEqual(parseHotRequest(whole.subarray(0, -1), routes, 8192), { needed: whole.length });
    assert.deepEqual(parseHotRequest(whole.subarray(0, -3), routes, 8192), { needed: whole.length });
    const large = { ...routes, bodyLimit: 2 * WAIT_FOR_BODY_BELOW };
    const near = request(INFER, 'x'.repeat(WAIT_FOR_BODY_BELOW - 200));
    assert.deepEqual(parseHotRequest(near.subarray(0, 100), large, 8192), { needed: near.length });
    const over = request(INFER, 'x'.repeat(WAIT_FOR_BODY_BELOW));
    assert.equal(parseHotRequest(over.subarray(0, 100), large, 8192), undefined, "a large body is node:http's");
    assert.equal(parseHotRequest(request('/other', 'abc').subarray(0, -1), routes, 8192), undefined);
  });

  const refused: Record<string, Buffer> = {
    'the header block not yet whole': Buffer.from(`POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n`),
    'another route': request('/v1/models/m:classify', '{}'),
    GET: request(INFER, '', {}, { line: `GET ${INFER} HTTP/1.1` }),
    'HTTP/1.0': request(INFER, '', {}, { line: `POST ${INFER} HTTP/1.0` }),
    'a space in the target': request(INFER, '', {}, { line: `POST ${INFER}?a b HTTP/1.1` }),
    'a fragment in the target': request(`${INFER}#f`, ''),
    'a byte past ASCII in the target': request(`${INFER}?\u00e9`, ''),
    chunked: request(INFER, '', { 'Transfer-Encoding': 'chunked' }),
    'Expect: 100-continue': request(INFER, 'abc', { Expect: '100-continue' }),
    Upgrade: request(INFER, '', { Upgrade: 'h2c', Connection: 'Upgrade' }),
    'Connection: close': request(INFER, '', { Connection: 'close' }),
    'no Host': request(INFER, '', {}, { host: false }),
    'no Content-Length': Buffer.from(`POST ${INFER} HTTP/1.1\r\nHost: x\r\n\r\n`),
    'a signed Content-Length': request(INFER, '', { 'Content-Length': '+0' }),
    'a Content-Length of 16 digits': request(INFER, '', { 'Content-Length': '0000000000000000' }),
    'a body over the limit': request(INFER, 'x'.repeat(1001)),
    'a header twice': request(INFER, '', { 'X-A': '1', 'x-a': '2' }),
    'Content-Length twice': Buffer.from(
      `POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n`,
    ),
    'a folded header line': request(INFER, '', { 'X-A': '1\r\n  more' }),
    'a bare LF in a value': request(INFER, '', { 'X-A': '1\nX-B: 2' }),
    'a control character in a value': request(INFER, '', { 'X-A': '1\u0001' }),
    'a byte past ASCII in a value': request(INFER, '', { 'X-A': '\u00e9' }),
    'a space in a header name': request(INFER, '', { 'X A': '1' }),
    'a line with no colon': Buffer.from(`POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nnonsense\r\n\r\n`),
    'a Content-Type the hot routes leave to fastify': request(INFER, '', { 'Content-Type': 'not a type' }),
    'a header block over the limit': request(INFER, '', { 'X-Pad': 'p'.repeat(9000) }),
    'bytes that are not HTTP': Buffer.from(
      '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n',
      'latin1',
    ),
  };
  for (const [name, bytes] of Object.entries(refused)) {
    test(`left to node:http: ${name}`, () => assert.equal(parseHotRequest(bytes, routes, 8192), undefined));
  }
});

test('replyHead writes what node:http writes for the same reply', async () => {
  const server = createServer((_request, response) => {
    response.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'x-a': '1', 'content-length': 2 });
    response.end('{}');
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    const head = replyHead(
      404,
      { 'content-type': 'application/json; charset=utf-8', 'x-a': '1', 'content-length': 2 },
      'Connection: keep-alive\r\nKeep-Alive: timeout=72\r\n',
    );
    const withoutDate = (text: string) => text.replace(/\r\nDate: [^\r]*/, '');
    assert.equal(withoutDate(`${head}{}`), withoutDate(chunk.toString('latin1')));
    assert.match(head, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
  } finally {
    server.close();
  }
  assert.throws(() => replyHead(200, { 'x-a': 'v\r\nx-b: injected' }, ''), /line break/);
});

/** A stand-in for the hot routes: answers `front:<body>` after `delay`, and counts its answers. */
class FakeHotRoutes {
  bodyLimit = routes.bodyLimit;
  answered: string[] = [];
  /** The run group the front named for each request, in the order they were taken. */
  groups: (object | undefined)[] = [];
  delay: Promise<void> = Promise.resolve();

  /** Holds every answer until the returned function is called. */
  hold(): () => void {
    let release = () => {};
    this.delay = new Promise((resolve) => (release = resolve));
    return () => release();
  }

  routeOf(method: string | undefined, url: string, contentType: string | undefined): HotRoute | undefined {
    return routes.routeOf(method, url, contentType);
  }

  async answer(
    _route: HotRoute,
    _url: string,
    _headers: IncomingHttpHeaders,
    _socket: Socket,
    collect: () => Promise<Buffer> | Buffer,
    connection?: object,
  ): Promise<HotAnswer> {
    this.groups.push(connection);
    const body = (await collect()).toString();
    await this.delay;
    this.answered.push(body);
    return { reply: { status: 200, body: `front:${body}`, contentType: 'text/plain' }, extra: undefined };
  }

  headersOf(reply: RestReply): Record<string, string | number> {
    return { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body) };
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The server side of a closed connection learns of the close a moment after the client. */
async function noConnectionsLeft(front: Http1Front): Promise<void> {
  for (let i = 0; i < 100 && front.connectionCount > 0; i++) await pause(10);
  assert.equal(front.connectionCount, 0);
}

/** Bodies of the answers in `text` that have arrived whole, in order (a tiny reader: each has a Content-Length). */
function answerBodies(text: string): string[] {
  const bodies: string[] = [];
  for (let at = 0; at < text.length;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const length = Number(/content-length: *(\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
    // An answer counts once its whole body has arrived: a large one comes in several reads.
    if (text.length < end + 4 + length) break;
    bodies.push(text.slice(end + 4, end + 4 + length));
    at = end + 4 + length;
  }
  return bodies;
}

describe('a connection on the front', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  /**
   * A node:http server answering `node:<method> <url> <body>`, with the front over a FakeHotRoutes; `noDelay`:
   * node:http's option (default true).
   */
  async function start(timeouts?: { keepAliveMs: number; headersMs: number }, noDelay = true) {
    const server = createServer({ noDelay }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = `node:${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
        res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    if (timeouts) {
      server.keepAliveTimeout = timeouts.keepAliveMs;
      server.headersTimeout = timeouts.headersMs;
      server.requestTimeout = timeouts.headersMs * 2;
    }
    const hot = new FakeHotRoutes();
    const front = new Http1Front(server, hot as unknown as HotRoutes);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return { server, hot, front, port: (server.address() as { port: number }).port };
  }

  async function open(port: number) {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    return {
      socket,
      closed,
      text: () => text,
      /** Waits until `count` answers have arrived (or the socket closed). */
      async answers(count: number): Promise<string[]> {
        for (let i = 0; i < 500 && answerBodies(text).length < count && !socket.destroyed; i++) {
          await pause(10);
        }
        return answerBodies(text);
      },
    };
  }

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });
  after(() => undefined);

  test("the front's connections send without Nagle's delay when node's own would (http.Server's noDelay)", async () => {
    for (const noDelay of [true, false]) {
      const { server, hot, front, port } = await start(undefined, noDelay);
      assert.equal(front.noDelay, noDelay);
      const calls: boolean[] = [];
      server.prependListener('connection', (socket: Socket) => {
        const setNoDelay = socket.setNoDelay.bind(socket);
        socket.setNoDelay = (value?: boolean) => {
          calls.push(value ?? true);
          return setNoDelay(value);
        };
      });
      const client = await open(port);
      client.socket.write(request(INFER, 'a'));
      assert.deepEqual(await client.answers(1), ['front:a']);
      assert.deepEqual(hot.answered, ['a']);
      assert.deepEqual(calls, noDelay ? [true] : [], `noDelay ${noDelay}: setNoDelay calls on the front's socket`);
    }
  });

  test("hot requests are the front's; from the first other request on, every request is node's, in order", async () => {
    const { hot, front, port } = await start();
    const client = await open(port);
    client.socket.write(request(INFER, 'a'));
    assert.deepEqual(await client.answers(1), ['front:a']);
    assert.equal(front.connectionCount, 1);
    client.socket.write(
      Buffer.concat([request(INFER, 'b'), request('/v1/models/m:classify', 'c'), request(INFER, 'd')]),
    );
    assert.deepEqual(await client.answers(4), [
      'front:a',
      'front:b',
      'node:POST /v1/models/m:classify c',
      'node:POST /v2/models/m/infer d',
    ]);
    assert.deepEqual(hot.answered, ['a', 'b']);
    assert.equal(front.connectionCount, 0, 'handed over');
  });

  test("a request whose header block arrives in parts is node's, and is answered whole", async () => {
    const { hot, port } = await start();
    const client = await open(port);
    const bytes = request(INFER, 'split body');
    client.socket.write(bytes.subarray(0, 20));
    await pause(30);
    client.socket.write(bytes.subarray(20, -3));
    await pause(30);
    client.socket.write(bytes.subarray(-3));
    assert.deepEqual(await client.answers(1), ['node:POST /v2/models/m/infer split body']);
    assert.deepEqual(hot.answered, []);
  });

  test('a body dripped a byte at a time is answered whole by the front', async () => {
    const { hot, port } = await start();
    hot.bodyLimit = WAIT_FOR_BODY_BELOW;
    const client = await open(port);
    const body = 'z'.repeat(20_000);
    const bytes = request(INFER, body);
    const headEnd = bytes.indexOf('\r\n\r\n') + 4;
    client.socket.setNoDelay(true);
    client.socket.write(bytes.subarray(0, headEnd));
    for (let at = headEnd; at < bytes.length; at += 1) {
      client.socket.write(bytes.subarray(at, at + 1));
      if (at % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await client.answers(1), [`front:${body}`]);
  });

  test("a body that arrives after its header block is waited for and answered by the front; a large one is node's", async () => {
    const { hot, port } = await start();
    const client = await open(port);
    const bytes = request(INFER, 'body later');
    const headEnd = bytes.indexOf('\r\n\r\n') + 4;
    client.socket.write(bytes.subarray(0, headEnd));
    await pause(30);
    client.socket.write(bytes.subarray(headEnd, headEnd + 4));
    await pause(30);
    client.socket.write(Buffer.concat([bytes.subarray(headEnd + 4), request(INFER, 'next')]));
    assert.deepEqual(await client.answers(2), ['front:body later', 'front:next']);
    hot.bodyLimit = 2 * WAIT_FOR_BODY_BELOW;
    const large = request(INFER, 'y'.repeat(WAIT_FOR_BODY_BELOW));
    const other = await open(port);
    other.socket.write(large.subarray(0, 1000));
    await pause(30);
    other.socket.write(large.subarray(1000));
    const [answer] = await other.answers(1);
    assert.equal(answer?.length, 'node:POST /v2/models/m/infer '.length + WAIT_FOR_BODY_BELOW);
    assert.deepEqual(hot.answered, ['body later', 'next']);
  });

  test('pipelined requests wait for the answer in progress; answers keep their order', async () => {
    const { hot, port } = await start();
    const release = hot.hold();
    const client = await open(port);
    client.socket.write(request(INFER, '1'));
    await pause(20);
    client.socket.write(Buffer.concat([request(INFER, '2'), request(INFER, '3')]));
    client.socket.write(request('/other', '4'));
    await pause(20);
    assert.equal(client.text(), '', 'nothing answered while the first is in progress');
    release();
    assert.deepEqual(await client.answers(4), ['front:1', 'front:2', 'front:3', 'node:POST /other 4']);
  });

  test("a lone request is named by its own connection; of a turn's burst, at most the first, and none of the next burst", async () => {
    const { hot, front, port } = await start();
    // One request alone, in a turn of its own: no burst to wait for (client-connection.ts, isLoneCall).
    // (The first follows whatever turns the tests before left: the last turn in which calls began may have had two.)
    const alone = await open(port);
    alone.socket.write(request(INFER, 'first'));
    assert.deepEqual(await alone.answers(1), ['front:first']);
    alone.socket.write(request(INFER, 'alone'));
    assert.deepEqual(await alone.answers(2), ['front:first', 'front:alone']);
    const lone = hot.groups[1];
    assert.ok(lone instanceof ClientConnection, 'a lone request is named by its connection');
    assert.equal(lone.multiplexed, false, 'an HTTP/1.1 connection has one call at a time');
    assert.equal(lone.callsInProgress, 0, 'its call ended with its reply');
    hot.groups.length = 0;

    const release = hot.hold();
    const clients = await Promise.all(Array.from({ length: 2 * MAX_BURST_HERE + 2 }, () => open(port)));
    while (front.connectionCount < clients.length + 1) await pause(5);
    await pause(20);
    /** Every request is in the kernel before the server reads any (the event loop is held meanwhile, and this
     * process's writes to a loopback socket complete at once), so one turn takes them all. */
    const burst = async (tag: string) => {
      for (const [i, client] of clients.entries()) client.socket.write(request(INFER, `${tag}${i}`));
      const heldUntil = Date.now() + 50;
      while (Date.now() < heldUntil);
      while (hot.groups.length < clients.length) await pause(5);
      const groups = hot.groups.splice(0);
      return groups;
    };
    // The first request of the turn found no other begun before it, after a turn of one: it is lone (as a gRPC call
    // would be); the others are one burst of MANY_CONNECTIONS, where the pool decides where each run computes
    // (worker-pool.ts, mayRunHere).
    const first = await burst('a');
    assert.ok(first[0] instanceof ClientConnection);
    assert.deepEqual(first.slice(1), Array<object>(clients.length - 1).fill(MANY_CONNECTIONS));
    release();
    for (const client of clients) await client.answers(1);
    // The next burst follows a turn in which many began: none of it is lone.
    const releaseNext = hot.hold();
    const next = await burst('b');
    assert.deepEqual(next, Array<object>(clients.length).fill(MANY_CONNECTIONS));
    releaseNext();
    for (const client of clients) await client.answers(2);
  });

  test("bytes that are not HTTP get node's 400, and the server keeps serving", async () => {
    const { port } = await start();
    const bad = await open(port);
    bad.socket.write(Buffer.from('\u0016\u0003\u0001garbage\r\n\r\n', 'latin1'));
    await bad.closed;
    assert.match(bad.text(), /^HTTP\/1\.1 400 Bad Request\r\n/);
    const good = await open(port);
    good.socket.write(request(INFER, 'ok'));
    assert.deepEqual(await good.answers(1), ['front:ok']);
  });

  test("Connection: close is node's: it answers and closes", async () => {
    const { port } = await start();
    const client = await open(port);
    client.socket.write(Buffer.concat([request(INFER, 'a'), request(INFER, 'b', { Connection: 'close' })]));
    await client.closed;
    assert.deepEqual(answerBodies(client.text()), ['front:a', 'node:POST /v2/models/m/infer b']);
  });

  test('an idle connection closes after headersTimeout, and after keepAliveTimeout once answered', async () => {
    const { front, port } = await start({ keepAliveMs: 300, headersMs: 150 });
    const silent = await open(port);
    const answered = await open(port);
    answered.socket.write(request(INFER, 'a'));
    await answered.answers(1);
    assert.match(answered.text(), /\r\nConnection: keep-alive\r\nKeep-Alive: timeout=0\r\n/);
    const t0 = Date.now();
    await silent.closed;
    const silentAfter = Date.now() - t0;
    await answered.closed;
    const answeredAfter = Date.now() - t0;
    assert.ok(silentAfter < answeredAfter, `${silentAfter} ms, then ${answeredAfter} ms`);
    await noConnectionsLeft(front);
  });

  test('a busy connection is not closed as idle: its slow answer still arrives', async () => {
    const { hot, port } = await start({ keepAliveMs: 100, headersMs: 100 });
    hot.delay = new Promise((resolve) => setTimeout(resolve, 400));
    const client = await open(port);
    client.socket.write(request(INFER, 'slow'));
    assert.deepEqual(await client.answers(1), ['front:slow']);
  });

  test('closing the server: idle connections close at once, a busy one after its answer, which says close', async () => {
    const { server, hot, front, port } = await start();
    const idle = await open(port);
    idle.socket.write(request(INFER, 'a'));
    await idle.answers(1);
    const release = hot.hold();
    const busy = await open(port);
    busy.socket.write(request(INFER, 'b'));
    await pause(20);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await idle.closed;
    assert.equal(busy.socket.destroyed, false);
    release();
    await busy.closed;
    assert.deepEqual(answerBodies(busy.text()), ['front:b']);
    assert.match(busy.text(), /\r\nConnection: close\r\n\r\n/);
    await closed;
    await noConnectionsLeft(front);
  });

  test('closing the server while a body arrives: the request is still answered, then the connection closes', async () => {
    const { server, hot, front, port } = await start();
    const client = await open(port);
    const bytes = Buffer.concat([request(INFER, 'late body'), request(INFER, 'never')]);
    const firstEnd = request(INFER, 'late body').length;
    client.socket.write(bytes.subarray(0, firstEnd - 4));
    for (let i = 0; i < 200 && front.receivingCount === 0; i++) await pause(5);
    assert.equal(front.receivingCount, 1);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await pause(20);
    assert.equal(client.socket.destroyed, false, 'a connection receiving a request is not idle');
    client.socket.write(bytes.subarray(firstEnd - 4));
    await client.closed;
    assert.deepEqual(answerBodies(client.text()), ['front:late body']);
    assert.match(client.text(), /\r\nConnection: close\r\n\r\n/);
    assert.deepEqual(hot.answered, ['late body']);
    await closed;
  });

  test("closeAllConnections cuts the front's connections too, busy or not", async () => {
    const { server, hot, port } = await start();
    hot.delay = new Promise(() => {});
    const busy = await open(port);
    busy.socket.write(request(INFER, 'never'));
    await pause(20);
    server.closeAllConnections();
    await busy.closed;
    assert.equal(busy.text(), '');
  });

  test('a client that half-closes while its answer computes still gets it', async () => {
    const { hot, port } = await start();
    const release = hot.hold();
    const client = await open(port);
    client.socket.end(request(INFER, 'bye'));
    await pause(20);
    release();
    await client.closed;
    assert.deepEqual(answerBodies(client.text()), ['front:bye']);
  });
});
