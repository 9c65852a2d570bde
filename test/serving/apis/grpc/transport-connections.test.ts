/**
 * The gRPC transport's connections, on both transports where both should behave the same: channel arguments
 * (SETTINGS, idle and age GOAWAY, keepalive pings, refused keys), graceful shutdown with a call in flight, and mTLS.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  credentials,
  Metadata,
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
import { watchSslConfig, type SslConfigFile } from '../../../../src/serving/apis/security/tls.js';
import { parseServerFlags } from '../../../../src/serving/config/flags.js';
import {
  makeCa,
  makeLeaf,
  opensslMissing,
  sslConfigText,
  type Ca,
  type KeyPair,
} from '../../../helpers/certificates.js';

const identity = (b: Buffer) => b;
const DEFINITION = {
  Unary: {
    path: '/test.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as unknown as ServiceDefinition;

/** "slow" requests that have reached the handler (the shutdown test starts the drain only once one has). */
let slowCallsArrived = 0;

/** Echoes; a request "slow" is answered after 300 ms. */
const IMPLEMENTATION = {
  Unary(call: ServerUnaryCall<Buffer, Buffer>, callback: (err: null, value: Buffer) => void) {
    if (call.request.toString() === 'slow') {
      slowCallsArrived++;
      setTimeout(() => callback(null, Buffer.from('done')), 300);
    } else callback(null, call.request);
  },
} as unknown as UntypedServiceImplementation;

async function start(
  transport: 'flowserve' | 'grpc-js',
  channelArguments: Record<string, string | number> = {},
  tls?: SslConfigFile,
): Promise<{ server: GrpcTransportServer; port: number }> {
  const server = grpcTransportServer(transport, { maxReceiveBytes: 1 << 20, maxSendBytes: 1 << 20, channelArguments });
  server.addService(DEFINITION, IMPLEMENTATION);
  return { server, port: await server.bind('127.0.0.1', 0, tls) };
}

function call(client: Client, request: string): Promise<{ value?: Buffer; error?: ServiceError }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/test.Echo/Unary',
      identity,
      identity,
      Buffer.from(request),
      new Metadata(),
      {},
      (error, value) => resolve({ value: value ?? undefined, error: error ?? undefined }),
    ),
  );
}

function connected(port: number): Promise<ClientHttp2Session> {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

function eventWithin(session: ClientHttp2Session, event: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    session.once(event, () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

for (const transport of ['flowserve', 'grpc-js'] as const) {
  describe(`gRPC transport connections: ${transport}`, () => {
    it('grpc.max_concurrent_streams reaches the client in SETTINGS', async () => {
      const { server, port } = await start(transport, { 'grpc.max_concurrent_streams': 3 });
      const session = await connected(port);
      try {
        assert.equal(session.remoteSettings.maxConcurrentStreams, 3);
      } finally {
        session.destroy();
        server.forceShutdown();
      }
    });

    for (const [argument, what] of [
      ['grpc.max_connection_idle_ms', 'a connection without calls'],
      ['grpc.max_connection_age_ms', 'a connection that old'],
    ] as const) {
      it(`${argument} sends GOAWAY to ${what}`, async () => {
        const { server, port } = await start(transport, { [argument]: 100 });
        const session = await connected(port);
        try {
          assert.equal(await eventWithin(session, 'goaway', 3000), true);
        } finally {
          session.destroy();
          server.forceShutdown();
        }
      });
    }

    it('grpc.keepalive_time_ms with keepalive_permit_without_calls pings an idle connection', async () => {
      const { server, port } = await start(transport, {
        'grpc.keepalive_time_ms': 100,
        'grpc.keepalive_permit_without_calls': 1,
      });
      const session = await connected(port);
      try {
        assert.equal(await eventWithin(session, 'ping', 3000), true);
      } finally {
        session.destroy();
        server.forceShutdown();
      }
    });

    it('a graceful shutdown lets the call in flight finish and takes no new connection', async () => {
      const { server, port } = await start(transport);
      const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
      try {
        assert.equal((await call(client, 'warm')).value?.toString(), 'warm');
        const arrivedBefore = slowCallsArrived;
        const slow = call(client, 'slow');
        // The call must be in flight, in the handler, when the drain starts: a fixed wait was too short on a loaded
        // machine, and the drain then refused the call instead.
        for (let i = 0; i < 500 && slowCallsArrived === arrivedBefore; i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(slowCallsArrived > arrivedBefore, 'the slow call never reached the server');
        const stopped = shutdownGrpc(server, 5000);
        assert.equal((await slow).value?.toString(), 'done');
        await stopped;
        const late = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
        const refused = await new Promise<ServiceError | undefined>((resolve) =>
          late.makeUnaryRequest(
            '/test.Echo/Unary',
            identity,
            identity,
            Buffer.from('x'),
            new Metadata(),
            { deadline: Date.now() + 1000 },
            (e) => resolve(e ?? undefined),
          ),
        );
        late.close();
        assert.ok(
          refused && [4, 14].includes(refused.code),
          `expected UNAVAILABLE or DEADLINE_EXCEEDED, got ${refused?.code}`,
        );
      } finally {
        client.close();
        server.forceShutdown();
      }
    });
  });
}

describe('mTLS on both transports', { skip: opensslMissing() }, () => {
  let dir: string;
  let ca: Ca;
  let clientPair: KeyPair;
  let ssl: SslConfigFile;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowserve-transport-tls-'));
    ca = makeCa(dir, 'transport-ca');
    const serverPair = makeLeaf(dir, ca, 'transport-server', 'server');
    clientPair = makeLeaf(dir, ca, 'transport-client', 'client');
    writeFileSync(join(dir, 'ssl.config'), sslConfigText(serverPair, { customCa: ca.cert, clientVerify: true }));
    ssl = watchSslConfig(join(dir, 'ssl.config'), { pollMs: 60_000, log: () => undefined });
  });

  after(() => {
    ssl.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of ['flowserve', 'grpc-js'] as const) {
    it(`${transport}: a client with a certificate from the CA is served; one without is refused`, async () => {
      const { server, port } = await start(transport, {}, ssl);
      const root = Buffer.from(ca.cert);
      const trusted = new Client(
        `localhost:${port}`,
        credentials.createSsl(root, Buffer.from(clientPair.key), Buffer.from(clientPair.cert)),
      );
      const anonymous = new Client(`localhost:${port}`, credentials.createSsl(root));
      try {
        assert.equal((await call(trusted, 'over tls')).value?.toString(), 'over tls');
        const { error } = await call(anonymous, 'no cert');
        assert.equal(error?.code, 14);
      } finally {
        trusted.close();
        anonymous.close();
        server.forceShutdown();
      }
    });
  }
});

/** The client's send window on the connection once the server's WINDOW_UPDATE has come (within 2 s). */
async function connectionSendWindow(session: ClientHttp2Session, atLeast: number): Promise<number> {
  const until = Date.now() + 2000;
  while ((session.state.remoteWindowSize ?? 0) < atLeast && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return session.state.remoteWindowSize ?? 0;
}

describe("the flowserve transport's HTTP/2 receive windows", () => {
  for (const [what, args, stream, connection] of [
    ['by default, 1 MiB for each stream and for the connection', {}, 1 << 20, 1 << 20],
    ['grpc-node.flow_control_window sets both', { 'grpc-node.flow_control_window': 4 << 20 }, 4 << 20, 4 << 20],
    ["grpc.http2.lookahead_bytes sets a stream's alone", { 'grpc.http2.lookahead_bytes': 65_535 }, 65_535, 1 << 20],
  ] as const) {
    it(what, async () => {
      const { server, port } = await start('flowserve', args);
      const session = await connected(port);
      try {
        assert.equal(session.remoteSettings.initialWindowSize, stream);
        // HTTP/2 starts every connection at 65,535 bytes; only the server's WINDOW_UPDATE opens it further.
        assert.equal(await connectionSendWindow(session, connection), connection);
        assert.deepEqual(
          (await call(new Client(`127.0.0.1:${port}`, credentials.createInsecure()), 'x')).value,
          Buffer.from('x'),
        );
      } finally {
        session.destroy();
        server.forceShutdown();
      }
    });
  }

  it('refuses a window HTTP/2 cannot have, naming the argument and the range', () => {
    assert.throws(
      () => parseServerFlags(['--grpc_channel_arguments=grpc-node.flow_control_window=1000']),
      /'grpc-node\.flow_control_window' must be a window of 65535 to 2147483647 bytes; got 1000/,
    );
    assert.throws(
      () => parseServerFlags([`--grpc_channel_arguments=grpc.http2.lookahead_bytes=${2 ** 31}`]),
      /'grpc\.http2\.lookahead_bytes' must be a window of 0 to 2147483647 bytes; got 2147483648/,
    );
  });
});

describe('--grpc_channel_arguments on the flowserve transport', () => {
  it('refuses a key the transport cannot honour, naming it and the way back to grpc-js', () => {
    assert.throws(
      () => parseServerFlags(['--grpc_channel_arguments=grpc.enable_retries=1']),
      /'grpc\.enable_retries' is not supported by the flowserve gRPC transport.*--grpc_transport=grpc-js/,
    );
    assert.equal(
      parseServerFlags(['--grpc_transport=grpc-js', '--grpc_channel_arguments=grpc.enable_retries=1']).grpcTransport,
      'grpc-js',
    );
    assert.throws(() => parseServerFlags(['--grpc_transport=netty']), /--grpc_transport must be flowserve or grpc-js/);
  });
});
