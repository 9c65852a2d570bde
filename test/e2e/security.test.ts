/**
 * End to end security (issue 9): TLS and mTLS on both ports with certificates made here by openssl, certificate
 * reload without restart, the bearer token on both transports, and the reload RPC's access rules.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { createClient, ServingClientError, type ServingClient } from '../../src/client/index.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { makeCa, makeLeaf, opensslMissing, sslConfigText, type Ca, type KeyPair } from '../helpers/certificates.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

const METRICS_PATH = '/monitoring/prometheus/metrics';

interface TlsClientMaterial {
  ca?: string;
  key?: string;
  cert?: string;
}

/** One HTTPS request on loopback; rejects when the TLS handshake or the connection fails. */
function httpsCall(
  port: number,
  path: string,
  tls: TlsClientMaterial,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method, headers, agent: false, timeout: 5000, ...tls },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The common name of the certificate a TLS port serves now (a fresh connection, ALPN h2 as gRPC clients send). */
function servedCommonName(port: number, tls: TlsClientMaterial): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ALPNProtocols: ['h2', 'http/1.1'], ...tls }, () => {
      const name = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(name));
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    socket.on('error', reject);
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function grpcClient(port: number, tls?: TlsClientMaterial, authToken?: string): ServingClient {
  const channel = tls
    ? credentials.createSsl(
        Buffer.from(tls.ca ?? ''),
        tls.key ? Buffer.from(tls.key) : null,
        tls.cert ? Buffer.from(tls.cert) : null,
      )
    : undefined;
  return createClient({ server: `127.0.0.1:${port}`, credentials: channel, authToken });
}

async function rejectsWithCode(promise: Promise<unknown>, code: number, pattern?: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ServingClientError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    message = err.message;
    return true;
  });
  return message;
}

/** grpc.health.v1.Health/Check with raw grpc-js (the project's client has no health call). */
function healthCheck(port: number, channel = credentials.createInsecure()): Promise<number> {
  const client = new Client(`127.0.0.1:${port}`, channel);
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      () => Buffer.alloc(0),
      (buffer: Buffer) => (buffer.length >= 2 ? (buffer[1] as number) : 0),
      {},
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err: ServiceError | null, status?: number) => (err ? reject(err) : resolve(status ?? 0)),
    );
  }).finally(() => client.close());
}

describe('TLS and mTLS on both ports', { skip: opensslMissing() }, () => {
  let dir: string;
  let ca: Ca;
  let otherCa: Ca;
  let server1: KeyPair;
  let server2: KeyPair;
  let client: KeyPair;
  let strangerClient: KeyPair;
  let sslFile: string;
  let server: RunningServer;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowserve-tls-'));
    ca = makeCa(dir, 'test-ca');
    otherCa = makeCa(dir, 'other-ca');
    server1 = makeLeaf(dir, ca, 'server-one', 'server');
    server2 = makeLeaf(dir, ca, 'server-two', 'server');
    client = makeLeaf(dir, ca, 'client-one', 'client');
    strangerClient = makeLeaf(dir, otherCa, 'stranger', 'client');
    sslFile = join(dir, 'ssl.config');
    writeFileSync(sslFile, sslConfigText(server1, { customCa: ca.cert, clientVerify: true }));
    writeClassifier(join(dir, 'models', 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(dir, 'models', 'clf')),
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      sslConfigFile: sslFile,
      securityFilePollMs: 50,
      log: (level, message) => logs.push(`${level} ${message}`),
    });
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const trusted = (): TlsClientMaterial => ({ ca: ca.cert, key: client.key, cert: client.cert });

  test('gRPC: a client certificate from the configured CA is accepted', async () => {
    const grpc = grpcClient(server.grpcPort, trusted());
    try {
      const statuses = await grpc.status({ name: 'clf' }, { timeoutMs: 5000 });
      assert.deepEqual(
        statuses.map((s) => s.state),
        ['AVAILABLE'],
      );
    } finally {
      grpc.close();
    }
  });

  test('gRPC: no client certificate, a certificate from another CA, and plaintext are all refused', async () => {
    const attempts: [string, ServingClient][] = [
      ['no client certificate', grpcClient(server.grpcPort, { ca: ca.cert })],
      ['client certificate from another CA', grpcClient(server.grpcPort, { ca: ca.cert, ...strangerClient })],
      ['plaintext', grpcClient(server.grpcPort)],
    ];
    for (const [what, grpc] of attempts) {
      try {
        await assert.rejects(grpc.status({ name: 'clf' }, { timeoutMs: 5000 }), (err: unknown) => {
          assert.ok(err instanceof ServingClientError, `${what}: ${String(err)}`);
          assert.equal(err.code, 14, `${what}: ${err.message}`);
          return true;
        });
      } finally {
        grpc.close();
      }
    }
  });

  test('REST: HTTPS with a client certificate from the configured CA is accepted', async () => {
    const res = await httpsCall(server.restPort as number, '/v1/models/clf', trusted());
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /"state": ?"AVAILABLE"/);
  });

  test('REST: :predict and v2 infer over HTTPS with a trusted client certificate are answered', async () => {
    const port = server.restPort as number;
    const predict = await httpsCall(
      port,
      '/v1/models/clf:predict',
      trusted(),
      {},
      JSON.stringify({ signature_name: 'predict_probs', instances: [[0.5, -1, 2, 0.25]] }),
    );
    assert.equal(predict.status, 200, predict.body);
    assert.match(predict.body, /"predictions"/);
    const infer = await httpsCall(
      port,
      '/v2/models/clf/infer',
      trusted(),
      {},
      JSON.stringify({ inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4], data: [0.5, -1, 2, 0.25] }] }),
    );
    assert.equal(infer.status, 200, infer.body);
    assert.match(infer.body, /"model_name":"clf"/);
  });

  test('REST: no client certificate, a certificate from another CA, and plain HTTP are all refused', async () => {
    const port = server.restPort as number;
    await assert.rejects(httpsCall(port, '/v1/models/clf', { ca: ca.cert }), 'no client certificate');
    await assert.rejects(
      httpsCall(port, '/v1/models/clf', { ca: ca.cert, ...strangerClient }),
      'client certificate from another CA',
    );
    await assert.rejects(
      fetch(`http://127.0.0.1:${port}/v1/models/clf`, { signal: AbortSignal.timeout(5000) }),
      'plain HTTP',
    );
  });

  test('a replaced certificate is served to new connections on both ports without a restart', async () => {
    const port = { grpc: server.grpcPort, rest: server.restPort as number };
    assert.equal(await servedCommonName(port.grpc, trusted()), 'server-one');
    assert.equal(await servedCommonName(port.rest, trusted()), 'server-one');
    // Written beside and renamed over, as config management tools (and Kubernetes secrets) replace files.
    writeFileSync(`${sslFile}.new`, sslConfigText(server2, { customCa: ca.cert, clientVerify: true }));
    renameSync(`${sslFile}.new`, sslFile);
    await waitFor(async () => (await servedCommonName(port.grpc, trusted())) === 'server-two');
    await waitFor(async () => (await servedCommonName(port.rest, trusted())) === 'server-two');
    const grpc = grpcClient(port.grpc, trusted());
    try {
      assert.equal((await grpc.status({ name: 'clf' }, { timeoutMs: 5000 })).length, 1);
    } finally {
      grpc.close();
    }
    assert.equal((await httpsCall(port.rest, '/v1/models/clf', trusted())).status, 200);
  });

  test('a replacement that does not parse, or that flips client_verify, keeps the old certificate and is logged', async () => {
    const port = server.restPort as number;
    const current = await servedCommonName(port, trusted());
    writeFileSync(sslFile, 'server_key: "-----BEGIN PRIVATE KEY-----\\nnot a key\\n"\nserver_cert: "x"');
    await waitFor(async () => logs.some((l) => /^error --ssl_config_file=.* was not applied: .*PEM/.test(l)));
    writeFileSync(sslFile, sslConfigText(server1, { customCa: ca.cert, clientVerify: false }));
    await waitFor(async () => logs.some((l) => /client_verify changed to false; that takes a restart/.test(l)));
    assert.equal(await servedCommonName(port, trusted()), current);
    assert.equal(await servedCommonName(server.grpcPort, trusted()), current);
    await assert.rejects(httpsCall(port, '/v1/models/clf', { ca: ca.cert }), 'still requires a client certificate');
    assert.equal((await httpsCall(port, '/v1/models/clf', trusted())).status, 200);
  });

  test('the reload RPC over mTLS is still refused while model management is off', async () => {
    const grpc = grpcClient(server.grpcPort, trusted());
    try {
      await rejectsWithCode(grpc.reload([], { timeoutMs: 5000 }), 7, /--enable_model_management=true/);
      assert.equal((await grpc.status({ name: 'clf' }, { timeoutMs: 5000 })).length, 1);
    } finally {
      grpc.close();
    }
  });
});

describe('TLS without client verification, REST kept plain by --rest_api_ssl=false', { skip: opensslMissing() }, () => {
  let dir: string;
  let ca: Ca;
  let server: RunningServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowserve-tls-plain-rest-'));
    ca = makeCa(dir, 'test-ca');
    const serverCert = makeLeaf(dir, ca, 'server-one', 'server');
    writeFileSync(join(dir, 'ssl.config'), sslConfigText(serverCert));
    writeClassifier(join(dir, 'models', 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(dir, 'models', 'clf')),
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      sslConfigFile: join(dir, 'ssl.config'),
      restApiSsl: false,
      log: () => undefined,
    });
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('gRPC needs TLS but no client certificate; REST answers plain HTTP', async () => {
    const secure = grpcClient(server.grpcPort, { ca: ca.cert });
    const plain = grpcClient(server.grpcPort);
    try {
      assert.equal((await secure.status({ name: 'clf' }, { timeoutMs: 5000 })).length, 1);
      await rejectsWithCode(plain.status({ name: 'clf' }, { timeoutMs: 5000 }), 14);
    } finally {
      secure.close();
      plain.close();
    }
    const res = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/clf`);
    assert.equal(res.status, 200);
  });

  test('a start with an unusable SSL config fails before any port opens, naming the file', async () => {
    const bad = join(dir, 'bad.config');
    writeFileSync(bad, `server_key: "nope"\nserver_cert: ${JSON.stringify(ca.cert)}`);
    await assert.rejects(
      startServer({
        modelConfig: singleModelConfig('clf', join(dir, 'models', 'clf')),
        grpcPort: 0,
        sslConfigFile: bad,
        log: () => undefined,
      }),
      (err: Error) => err.message.startsWith(`${bad}: the PEM in SSLConfig cannot be used`),
    );
    writeFileSync(bad, `server_cert: ${JSON.stringify(ca.cert)}\nclient_verify: true`);
    await assert.rejects(
      startServer({ modelConfig: singleModelConfig('clf', '/m'), grpcPort: 0, sslConfigFile: bad }),
      /needs both server_key and server_cert/,
    );
  });
});

describe('bearer token and reload access rules', () => {
  const TOKEN = 's3cr3t-token-0123456789';
  let base: string;
  let tokenFile: string;
  let server: RunningServer;

  before(async () => {
    base = tempBase('flowserve-token-');
    writeClassifier(join(base, 'clf'), 1);
    tokenFile = join(base, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      authTokenFile: tokenFile,
      securityFilePollMs: 50,
      enableModelManagement: true,
      modelBasePathPrefix: base,
      enableCors: true,
      monitoring: { prometheus: { enable: true, path: METRICS_PATH } },
      log: () => undefined,
    });
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('gRPC: calls without the token or with a wrong one are UNAUTHENTICATED, without echoing it', async () => {
    const none = grpcClient(server.grpcPort);
    const wrong = grpcClient(server.grpcPort, undefined, 'guess-0123456789');
    const right = grpcClient(server.grpcPort, undefined, TOKEN);
    try {
      await rejectsWithCode(none.status({ name: 'clf' }), 16, /missing credentials.*authorization: Bearer <token>/);
      await rejectsWithCode(none.metadata({ name: 'clf' }), 16);
      await rejectsWithCode(none.reload([]), 16);
      const message = await rejectsWithCode(wrong.status({ name: 'clf' }), 16, /invalid credentials/);
      assert.ok(!message.includes('guess') && !message.includes(TOKEN), message);
      assert.equal((await right.status({ name: 'clf' })).length, 1);
    } finally {
      for (const c of [none, wrong, right]) c.close();
    }
  });

  test('gRPC health checks stay open without a token', async () => {
    assert.equal(await healthCheck(server.grpcPort), 1);
  });

  test('REST: 401 with WWW-Authenticate without the right token (metrics too); preflights stay open', async () => {
    const url = `http://127.0.0.1:${server.restPort}`;
    const none = await fetch(`${url}/v1/models/clf`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="flowserve"');
    assert.match(((await none.json()) as { error: string }).error, /missing credentials/);
    const wrong = await fetch(`${url}/v1/models/clf:predict`, {
      method: 'POST',
      headers: { authorization: 'Bearer guess-0123456789' },
      body: JSON.stringify({ instances: [[1, 2, 3, 4]] }),
    });
    assert.equal(wrong.status, 401);
    assert.ok(!(await wrong.text()).includes('guess'));
    assert.equal((await fetch(`${url}${METRICS_PATH}`)).status, 401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await fetch(`${url}/v1/models/clf`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${url}${METRICS_PATH}`, { headers: auth })).status, 200);
    const preflight = await fetch(`${url}/v1/models/clf:predict`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 200);
  });

  test('a rotated token file takes over without a restart', async () => {
    const next = 'rotated-token-9876543210';
    writeFileSync(`${tokenFile}.new`, next);
    renameSync(`${tokenFile}.new`, tokenFile);
    const url = `http://127.0.0.1:${server.restPort}/v1/models/clf`;
    await waitFor(async () => (await fetch(url, { headers: { authorization: `Bearer ${next}` } })).status === 200);
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
    writeFileSync(tokenFile, TOKEN);
    await waitFor(async () => (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status === 200);
  });

  test('reload RPC: s3:// is outside a local prefix, file:// is UNIMPLEMENTED, /proc is outside the prefix, a \\n name is refused', async () => {
    const grpc = grpcClient(server.grpcPort, undefined, TOKEN);
    try {
      const clf = { name: 'clf', basePath: join(base, 'clf') };
      await rejectsWithCode(
        grpc.reload([clf, { name: 'remote', basePath: 's3://bucket/remote' }]),
        3,
        /base_path "s3:\/\/bucket\/remote" of model remote is in object storage, outside --model_base_path_prefix=/,
      );
      await rejectsWithCode(grpc.reload([{ name: 'local', basePath: 'file:///tmp/m' }]), 12, /"file:\/\/\/tmp\/m"/);
      await rejectsWithCode(
        grpc.reload([clf, { name: 'proc', basePath: '/proc' }]),
        3,
        /base_path "\/proc" of model proc resolves to "\/proc", outside --model_base_path_prefix=/,
      );
      await rejectsWithCode(
        grpc.reload([clf, { name: 'x\nINFO forged', basePath: join(base, 'clf') }]),
        3,
        /model_config_list\.config\[1\]\.name: model name "x\\nINFO forged" is not allowed/,
      );
      assert.deepEqual(
        (await grpc.status({ name: 'clf' })).map((s) => s.state),
        ['AVAILABLE'],
      );
    } finally {
      grpc.close();
    }
  });
});

describe('flowserve serve with the security flags', { skip: opensslMissing() }, () => {
  test('--ssl_config_file, --auth_token_file and --enable_model_management reach the running server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowserve-tls-cli-'));
    const ca = makeCa(dir, 'test-ca');
    const client = makeLeaf(dir, ca, 'client-one', 'client');
    writeFileSync(
      join(dir, 'ssl.config'),
      sslConfigText(makeLeaf(dir, ca, 'server-one', 'server'), { customCa: ca.cert, clientVerify: true }),
    );
    writeFileSync(join(dir, 'token'), 'cli-token-0123456789\n');
    writeClassifier(join(dir, 'models', 'clf'), 1);
    const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
    const child = spawn(
      process.execPath,
      [
        main,
        'serve',
        '--port=0',
        '--rest_api_port=0',
        '--model_name=clf',
        `--model_base_path=${join(dir, 'models', 'clf')}`,
        `--model_base_path_prefix=${join(dir, 'models')}`,
        `--ssl_config_file=${join(dir, 'ssl.config')}`,
        `--auth_token_file=${join(dir, 'token')}`,
        '--enable_model_management',
        '--num_workers=1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const tls = { ca: ca.cert, key: client.key, cert: client.cert };
    try {
      await waitFor(async () => /Model management \(HandleReloadConfigRequest\): enabled/.test(stderr), 30_000);
      const port = Number(/Running gRPC ModelServer at 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
      assert.match(stderr, /TLS from --ssl_config_file=.* on gRPC and REST/);
      const withToken = grpcClient(port, tls, 'cli-token-0123456789');
      const withoutToken = grpcClient(port, tls);
      const plaintext = grpcClient(port, undefined, 'cli-token-0123456789');
      try {
        assert.equal((await withToken.status({ name: 'clf' }, { timeoutMs: 5000 })).length, 1);
        await rejectsWithCode(withoutToken.status({ name: 'clf' }, { timeoutMs: 5000 }), 16);
        await rejectsWithCode(plaintext.status({ name: 'clf' }, { timeoutMs: 5000 }), 14);
        // Management is on, and the prefix confines it.
        await rejectsWithCode(withToken.reload([{ name: 'p', basePath: '/proc' }], { timeoutMs: 5000 }), 3, /outside/);
      } finally {
        for (const c of [withToken, withoutToken, plaintext]) c.close();
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
