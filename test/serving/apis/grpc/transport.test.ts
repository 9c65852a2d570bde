/**
 * The gRPC transport's own behaviour, on both transports (--grpc_transport=flowserve|grpc-js) where both should
 * behave the same: framing, limits, compression, deadlines and cancellation, status and metadata encoding, bad
 * requests, streams, auth before the body, graceful shutdown. A test service with identity codecs keeps the protocol
 * the only thing under test; raw node:http2 requests reach what a well-behaved client never sends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  credentials,
  Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  grpcTransportServer,
  shutdownGrpc,
  type GrpcTransportServer,
} from '../../../../src/serving/apis/grpc/server.js';
import { BearerToken } from '../../../../src/serving/apis/security/bearer-token.js';

const RECEIVE_LIMIT = 64 * 1024;
const SEND_LIMIT = 32 * 1024;
const TOKEN = 'transport-test-token-0123456789';
const identity = (b: Buffer) => b;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const DEFINITION = {
  Unary: method('/test.Echo/Unary', false, false),
  Bidi: method('/test.Echo/Bidi', true, true),
} as unknown as ServiceDefinition;
const OPEN_DEFINITION = { Check: method('/grpc.health.v1.Health/Check', false, false) } as unknown as ServiceDefinition;

/** What the handlers saw, for the tests to look at. */
interface Observed {
  cancelled: number;
  hanging: ServerUnaryCall<Buffer, Buffer>[];
  /** Turns of the event loop since the last 'count turns' call was answered. */
  turnsSinceAnswer?: () => number;
}

/** A number per client connection a call names (flowserve's GrpcCall.getConnection), in the order first seen. */
const connectionIds = new WeakMap<object, number>();
let connectionsSeen = 0;
function connectionId(call: ServerUnaryCall<Buffer, Buffer>): string {
  const connection = (call as { getConnection?: () => object | undefined }).getConnection?.();
  if (!connection) return 'none';
  if (!connectionIds.has(connection)) connectionIds.set(connection, connectionsSeen++);
  return String(connectionIds.get(connection));
}

function implementation(observed: Observed): UntypedServiceImplementation {
  const handlers = {
    Unary(call: ServerUnaryCall<Buffer, Buffer>, callback: (err: unknown, value?: Buffer, trailer?: Metadata) => void) {
      const text = call.request.toString('latin1');
      if (text === 'hang') {
        observed.hanging.push(call);
        call.once('cancelled', () => observed.cancelled++);
        return;
      }
      if (text === 'connection') {
        callback(null, Buffer.from(connectionId(call)));
        return;
      }
      if (text === 'count turns') {
        let turns = 0;
        const count = () => {
          turns++;
          if (turns < 100) setImmediate(count);
        };
        setImmediate(count);
        observed.turnsSinceAnswer = () => turns;
        callback(null, Buffer.from('counted'));
        return;
      }
      if (text === 'in progress') {
        const connection = (call as { getConnection?: () => object | undefined }).getConnection?.();
        callback(null, Buffer.from(String((connection as { callsInProgress?: number })?.callsInProgress ?? 'none')));
        return;
      }
      if (text === 'later') {
        setTimeout(() => callback(null, Buffer.from('later')), 50);
        return;
      }
      if (text === 'fail') {
        callback({ code: 3, details: 'bad 100% «input»\nline two' });
        return;
      }
      if (text === 'big') {
        callback(null, Buffer.alloc(SEND_LIMIT + 1));
        return;
      }
      if (text === 'meta') {
        const trailer = new Metadata();
        trailer.set('echo-bin', call.metadata.get('data-bin')[0] as Buffer);
        trailer.set('echo-text', String(call.metadata.get('plain')[0]));
        callback(null, Buffer.from('ok'), trailer);
        return;
      }
      callback(null, call.request);
    },
    Bidi(call: ServerDuplexStream<Buffer, Buffer>) {
      let count = 0;
      call.on('data', (message: Buffer) => {
        count++;
        // Pausing and resuming between messages must neither lose nor reorder them.
        call.pause();
        setImmediate(() => {
          call.write(Buffer.concat([Buffer.from('echo:'), message]));
          call.resume();
        });
      });
      call.on('end', () =>
        setImmediate(() => {
          call.write(Buffer.from(`count:${count}`));
          call.end();
        }),
      );
    },
  };
  return handlers as unknown as UntypedServiceImplementation;
}

interface RawResponse {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  rstCode: number | undefined;
}

/** One raw HTTP/2 request; `end: false` leaves the request stream open (the response must come without it). */
function raw(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  chunks: Buffer[],
  end = true,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = session.request(
      { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers },
      { endStream: false },
    );
    const response: RawResponse = { headers: {}, trailers: {}, body: Buffer.alloc(0), rstCode: undefined };
    req.on('response', (h) => (response.headers = h));
    req.on('trailers', (t) => (response.trailers = t));
    req.on('data', (d: Buffer) => (response.body = Buffer.concat([response.body, d])));
    req.on('error', () => undefined);
    // The server's END_STREAM ends the response, whether or not the request side is still open.
    req.on('end', () => resolve(response));
    req.on('close', () => {
      response.rstCode = req.rstCode;
      resolve(response);
    });
    req.setTimeout(5000, () => reject(new Error('no response in 5 s')));
    for (const chunk of chunks) req.write(chunk);
    if (end) req.end();
  });
}

function frame(message: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The gRPC status of a raw response: from the trailers, or from a Trailers-Only response's headers. */
const statusOf = (r: RawResponse) => Number(r.trailers['grpc-status'] ?? r.headers['grpc-status']);

for (const transport of ['flowserve', 'grpc-js'] as const) {
  describe(`gRPC transport: ${transport}`, () => {
    let server: GrpcTransportServer;
    let port: number;
    let client: Client;
    let session: ClientHttp2Session;
    let dir: string;
    const observed: Observed = { cancelled: 0, hanging: [] };

    const unary = (
      request: Buffer | string,
      options: { metadata?: Metadata; deadlineMs?: number; on?: Client } = {},
    ): Promise<{ value?: Buffer; error?: ServiceError; trailers?: Metadata }> =>
      new Promise((resolve) => {
        const call = (options.on ?? client).makeUnaryRequest(
          '/test.Echo/Unary',
          identity,
          identity,
          Buffer.from(request),
          options.metadata ?? authorized(),
          options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs },
          (error, value) => {
            result = { value: value ?? undefined, error: error ?? undefined };
          },
        );
        let result: { value?: Buffer; error?: ServiceError } = {};
        // grpc-js calls back before it emits 'status', which carries the trailing metadata.
        call.on('status', (status) => setImmediate(() => resolve({ ...result, trailers: status.metadata })));
      });

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flowserve-transport-'));
      writeFileSync(join(dir, 'token'), TOKEN);
      const auth = new BearerToken(join(dir, 'token'), { log: () => undefined, pollMs: 60_000 });
      server = grpcTransportServer(transport, { maxReceiveBytes: RECEIVE_LIMIT, maxSendBytes: SEND_LIMIT, auth });
      server.addService(DEFINITION, implementation(observed));
      server.addService(OPEN_DEFINITION, {
        Check: (_call: unknown, cb: (e: null, v: Buffer) => void) => cb(null, Buffer.from('up')),
      });
      port = await server.bind('127.0.0.1', 0);
      client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
      session = connect(`http://127.0.0.1:${port}`);
      // The hanging calls are cut by forceShutdown at the end.
      session.on('error', () => undefined);
      auth.close();
    });

    after(async () => {
      client.close();
      session.close();
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    });

    const authorized = () => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TOKEN}`);
      return metadata;
    };
    const rawAuth = { authorization: `Bearer ${TOKEN}` };
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

    /**
     * A call on `on` that the handler holds unanswered, once the handler has it; returns its cancel, which waits for
     * the handler to hear it.
     */
    const holdCall = async (on: ClientHttp2Session): Promise<() => Promise<void>> => {
      const hanging = observed.hanging.length;
      const held = on.request({
        ':method': 'POST',
        ':path': '/test.Echo/Unary',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...rawAuth,
      });
      held.on('error', () => undefined);
      held.end(frame(Buffer.from('hang')));
      for (let i = 0; i < 200 && observed.hanging.length === hanging; i++) await pause();
      assert.ok(observed.hanging.length > hanging, 'the handler never got the held call');
      return async () => {
        const cancelled = observed.cancelled;
        held.close(constants.NGHTTP2_CANCEL);
        for (let i = 0; i < 200 && observed.cancelled === cancelled; i++) await pause();
      };
    };

    it('answers a unary call and a message split into one-byte DATA frames', async () => {
      assert.equal((await unary('hello')).value?.toString(), 'hello');
      const framed = frame(Buffer.from('split across frames'));
      const chunks = [...framed].map((byte) => Buffer.from([byte]));
      const response = await raw(session, { ':path': '/test.Echo/Unary', ...rawAuth }, chunks);
      assert.equal(statusOf(response), 0);
      assert.equal(response.body.subarray(5).toString(), 'split across frames');
      assert.equal(response.body.readUInt32BE(1), response.body.length - 5);
    });

    it('refuses a message over the receive limit from its length prefix, before the body arrives', async () => {
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(RECEIVE_LIMIT + 1, 1);
      // The stream is left open with 5 bytes of a 64 KiB message sent: only the prefix can have been judged.
      const response = await raw(session, { ':path': '/test.Echo/Unary', ...rawAuth }, [prefix], false);
      assert.equal(statusOf(response), 8);
      assert.match(
        decodeURIComponent(String(response.headers['grpc-message'] ?? response.trailers['grpc-message'])),
        /larger than max \(65537 vs 65536\)/,
      );
    });

    it('reads gzip- and deflate-compressed requests from a grpc-js client', async () => {
      for (const algorithm of [1, 2]) {
        const compressing = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
          'grpc.default_compression_algorithm': algorithm,
        });
        try {
          const message = 'compressible '.repeat(200);
          assert.equal((await unary(message, { on: compressing })).value?.toString(), message);
        } finally {
          compressing.close();
        }
      }
    });

    it('stops inflating a compressed message at the receive limit (a zip bomb is RESOURCE_EXHAUSTED)', async () => {
      const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
      assert.ok(bomb.length < RECEIVE_LIMIT);
      const response = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-encoding': 'gzip', ...rawAuth }, [
        frame(bomb, true),
      ]);
      assert.equal(statusOf(response), 8);
      const message = decodeURIComponent(String(response.headers['grpc-message'] ?? response.trailers['grpc-message']));
      assert.match(message, /decompresses to a size larger than 65536/);
    });

    it('answers a message compressed with an unknown encoding UNIMPLEMENTED', async () => {
      const response = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-encoding': 'snappy', ...rawAuth }, [
        frame(Buffer.from('xx'), true),
      ]);
      assert.equal(statusOf(response), 12);
      if (transport === 'flowserve') assert.equal(response.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
    });

    it('answers a content-type that is not application/grpc with HTTP 415', async () => {
      const response = await raw(
        session,
        { ':path': '/test.Echo/Unary', 'content-type': 'application/json', ...rawAuth },
        [frame(Buffer.from('{}'))],
      );
      assert.equal(response.headers[':status'], 415);
    });

    it('answers an unknown method UNIMPLEMENTED, Trailers-Only, naming the path', async () => {
      const response = await raw(session, { ':path': '/test.Echo/Nope', ...rawAuth }, [frame(Buffer.from('x'))]);
      assert.equal(response.headers[':status'], 200);
      assert.equal(response.headers['grpc-status'], '12');
      assert.match(decodeURIComponent(String(response.headers['grpc-message'])), /\/test\.Echo\/Nope/);
      assert.equal(response.body.length, 0);
    });

    it('answers a unary call with two request messages UNIMPLEMENTED', async () => {
      const two = Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]);
      const response = await raw(session, { ':path': '/test.Echo/Unary', ...rawAuth }, [two]);
      assert.equal(statusOf(response), 12);
    });

    it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED, and the handler hears it is cancelled', async () => {
      const before = observed.cancelled;
      // A raw request: the server, not a client timer, must end the call.
      const response = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-timeout': '100m', ...rawAuth }, [
        frame(Buffer.from('hang')),
      ]);
      assert.equal(statusOf(response), 4);
      for (let i = 0; i < 100 && observed.cancelled === before; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(observed.cancelled, before + 1);
    });

    it('tells the handler when the client cancels (RST_STREAM)', async () => {
      const before = observed.cancelled;
      const cancel = await holdCall(session);
      const hanging = observed.hanging.at(-1) as ServerUnaryCall<Buffer, Buffer>;
      await new Promise((r) => setTimeout(r, 20));
      await cancel();
      assert.equal(observed.cancelled, before + 1);
      assert.equal(hanging.cancelled, true);
    });

    it('percent-encodes grpc-message: a client reads back non-ASCII, "%" and newlines exactly', async () => {
      const { error } = await unary('fail');
      assert.equal(error?.code, 3);
      assert.equal(error?.details, 'bad 100% «input»\nline two');
      const response = await raw(session, { ':path': '/test.Echo/Unary', ...rawAuth }, [frame(Buffer.from('fail'))]);
      assert.match(String(response.headers['grpc-message']), /^[\x20-\x7e]*$/);
    });

    it('hands handlers text and -bin metadata, and sends their trailing metadata', async () => {
      const metadata = authorized();
      metadata.set('data-bin', Buffer.from([0, 1, 2, 255]));
      metadata.set('plain', 'text value');
      const { value, trailers } = await unary('meta', { metadata });
      assert.equal(value?.toString(), 'ok');
      assert.deepEqual(trailers?.get('echo-bin')[0], Buffer.from([0, 1, 2, 255]));
      assert.equal(trailers?.get('echo-text')[0], 'text value');
    });

    it('names the client connection a call came on (flowserve), which inference uses to keep a burst together', async () => {
      const [first, second] = [await unary('connection'), await unary('connection')];
      const rawCall = await raw(session, { ':path': '/test.Echo/Unary', ...rawAuth }, [
        frame(Buffer.from('connection')),
      ]);
      const viaRaw = rawCall.body.subarray(5).toString();
      if (transport === 'grpc-js') {
        assert.deepEqual([first.value?.toString(), viaRaw], ['none', 'none']);
        return;
      }
      assert.equal(first.value?.toString(), second.value?.toString(), 'two calls of one client, two connections');
      assert.notEqual(viaRaw, first.value?.toString(), 'two clients, one connection');
      assert.notEqual(viaRaw, 'none');
    });

    it("counts a connection's calls in progress (flowserve): a lone call is 1, and answered or cancelled calls leave the count", async () => {
      const inProgress = async (on: ClientHttp2Session) =>
        (await raw(on, { ':path': '/test.Echo/Unary', ...rawAuth }, [frame(Buffer.from('in progress'))])).body
          .subarray(5)
          .toString();
      if (transport === 'grpc-js') {
        assert.equal(await inProgress(session), 'none');
        return;
      }
      const own = connect(`http://127.0.0.1:${port}`);
      try {
        assert.equal(await inProgress(own), '1');
        // Two calls written together reach the server in one read: node:http2 starts both streams before it hands
        // over either's message, so the first answered counts the other (client-connection.ts relies on this).
        assert.deepEqual((await Promise.all([inProgress(own), inProgress(own)])).sort(), ['1', '2']);
        assert.equal(
          statusOf(await raw(own, { ':path': '/test.Echo/Unary', ...rawAuth }, [frame(Buffer.from('fail'))])),
          3,
        );
        assert.equal(await inProgress(own), '1', 'a call answered with an error still counted');
        const cancelHeld = await holdCall(own);
        assert.equal(await inProgress(own), '2', 'a call while another is in progress on its connection');
        assert.equal(await inProgress(session), '1', "another connection's call counted here");
        await cancelHeld();
        assert.equal(await inProgress(own), '1', 'a cancelled call still counted');
      } finally {
        own.close();
      }
    });

    it("ends a lone call's reply in one turn, a turn sooner than a call beside another (flowserve) or grpc-js's", async () => {
      const own = connect(`http://127.0.0.1:${port}`);
      const turnsToEnd = async () => {
        const response = await raw(own, { ':path': '/test.Echo/Unary', ...rawAuth }, [
          frame(Buffer.from('count turns')),
        ]);
        assert.deepEqual([statusOf(response), response.body.subarray(5).toString()], [0, 'counted']);
        return (observed.turnsSinceAnswer as () => number)();
      };
      try {
        await turnsToEnd();
        const lone = [await turnsToEnd(), await turnsToEnd()];
        const cancelHeld = await holdCall(own);
        const beside = [await turnsToEnd(), await turnsToEnd()];
        await cancelHeld();
        // The lone call's trailers go out with its message (prompt-trailers.ts); grpc-js, and a call beside another,
        // send them a turn later. Counted in this one process, so the client's reads are turns too.
        if (transport === 'flowserve')
          assert.ok(Math.max(...lone) < Math.min(...beside), `lone ${lone}, beside ${beside}`);
        else assert.deepEqual(lone, beside);
      } finally {
        own.close();
      }
    });

    it('refuses a response over the send limit with RESOURCE_EXHAUSTED', async () => {
      const { error } = await unary('big');
      assert.equal(error?.code, 8);
    });

    it('checks the bearer token from the headers alone, before the body; health checks need none', async () => {
      const response = await raw(session, { ':path': '/test.Echo/Unary' }, [], false);
      assert.equal(statusOf(response), 16);
      const open = await raw(session, { ':path': '/grpc.health.v1.Health/Check' }, [frame(Buffer.alloc(0))]);
      assert.equal(statusOf(open), 0);
      assert.equal(open.body.subarray(5).toString(), 'up');
    });

    it('streams both ways in order, with pause and resume, until the client half-closes', async () => {
      const call = client.makeBidiStreamRequest('/test.Echo/Bidi', identity, identity, authorized());
      const received: string[] = [];
      call.on('data', (m: Buffer) => received.push(m.toString()));
      const ended = new Promise<void>((resolve, reject) => {
        call.on('status', (s) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
        call.on('error', reject);
      });
      for (let i = 0; i < 20; i++) call.write(Buffer.from(String(i)));
      call.end();
      await ended;
      assert.deepEqual(received, [...Array.from({ length: 20 }, (_, i) => `echo:${i}`), 'count:20']);
    });
  });
}

describe('flowserve gRPC transport only', () => {
  it("checks a service's own receive limit on the length prefix, naming its flag", async () => {
    const server = grpcTransportServer('flowserve', { maxReceiveBytes: 1 << 20, maxSendBytes: 1024 });
    server.addService(DEFINITION, implementation({ cancelled: 0, hanging: [] }), {
      maxBytes: 100,
      flag: 'max_request_bytes',
    });
    const port = await server.bind('127.0.0.1', 0);
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(101, 1);
      // Only the prefix is sent, the stream left open: the refusal can only come from the prefix.
      const response = await raw(session, { ':path': '/test.Echo/Unary' }, [prefix], false);
      assert.equal(statusOf(response), 8);
      assert.match(
        decodeURIComponent(String(response.headers['grpc-message'])),
        /larger than max \(101 vs 100\).*--max_request_bytes/,
      );
      const fits = await raw(session, { ':path': '/test.Echo/Unary' }, [frame(Buffer.alloc(100, 1))]);
      assert.equal(statusOf(fits), 0);
    } finally {
      session.close();
      await shutdownGrpc(server, 1000);
    }
  });

  it('takes a grpc-timeout beyond what a timer can hold (99999999H) as far off, not as past', async () => {
    const server = grpcTransportServer('flowserve', { maxReceiveBytes: 1024, maxSendBytes: 1024 });
    server.addService(DEFINITION, implementation({ cancelled: 0, hanging: [] }));
    const port = await server.bind('127.0.0.1', 0);
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const response = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-timeout': '99999999H' }, [
        frame(Buffer.from('later')),
      ]);
      assert.equal(statusOf(response), 0);
      assert.equal(response.body.subarray(5).toString(), 'later');
    } finally {
      session.close();
      await shutdownGrpc(server, 1000);
    }
  });

  it('refuses a non-POST request with HTTP 405', async () => {
    const server = grpcTransportServer('flowserve', { maxReceiveBytes: 1024, maxSendBytes: 1024 });
    server.addService(DEFINITION, implementation({ cancelled: 0, hanging: [] }));
    const port = await server.bind('127.0.0.1', 0);
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const response = await raw(session, { ':method': 'GET', ':path': '/test.Echo/Unary' }, []);
      assert.equal(response.headers[':status'], 405);
    } finally {
      session.close();
      await shutdownGrpc(server, 1000);
    }
  });
});
