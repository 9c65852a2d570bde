/**
 * The `flowserve` command as a newcomer meets it: spawned as a process, asserting exit codes and messages. The
 * server runs on 127.0.0.1 with ephemeral ports and is stopped with SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createClient, ServingClientError } from '../../src/client/index.js';
import { defaultServerAddress } from '../../src/cli/flag-values.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { FEATURES, writeClassifier } from '../serving/apis/fixtures.js';
import { runProcess, type ProcessResult } from '../helpers/run-process.js';

// Tests run from dist/test/cli/: the CLI is dist/src/cli/main.js, the repository three folders up.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGE_VERSION = (await import('node:fs')).readFileSync(join(REPO, 'package.json'), 'utf8');

/** Runs the CLI to completion (killed after `timeoutMs`, which fails the assertion on its exit code). */
function runCli(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [MAIN, ...args], options);
}

/** A loopback port that nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('flowserve serve: flags are checked before any model loads', () => {
  // A base path that does not exist would make the server wait for versions forever: a check that ran after the
  // load would show as a timeout here.
  const missingModel = '--model_base_path=/nonexistent/flowserve/model';

  it('--port=70000 is refused at parse time with the flag and the range', async () => {
    const result = await runCli(['serve', '--port=70000', missingModel]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /invalid value for --port: '70000' \(expected a port number, 0 to 65535\)/);
    assert.doesNotMatch(result.stderr, /RangeError/);
  });

  it('a TF Serving flag flowserve lacks is refused by name, in either spelling', async () => {
    for (const flag of ['--rest_api_num_threads=4', '--rest-api-num-threads=4']) {
      const result = await runCli(['serve', flag, missingModel]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /--rest_api_num_threads is a TensorFlow Serving flag not supported by flowserve/);
      assert.doesNotMatch(result.stderr, /model_base_path/);
    }
  });

  it('an unknown flag is an error that names the flag it resembles', async () => {
    const result = await runCli(['serve', '--enable_cors_support', missingModel]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /unknown option '--enable_cors_support'/);
    assert.match(result.stderr, /Did you mean --rest_api_enable_cors_support\?/);
  });

  it('--help shows each default once and no empty defaults', async () => {
    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const line of result.stdout.split('\n')) {
      assert.ok((line.match(/\(default:/g) ?? []).length <= 1, line);
      assert.doesNotMatch(line, /\(default: \)/);
    }
  });

  it('--version prints the package version, as tensorflow_model_server --version does', async () => {
    const result = await runCli(['serve', '--version']);
    assert.equal(result.code, 0, result.stderr);
    const { version } = JSON.parse(PACKAGE_VERSION) as { version: string };
    assert.equal(result.stdout.trim(), `flowserve ModelServer: ${version}`);
  });
});

describe('flowserve bench and client: bad flags are refused', () => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['bench', '--concurrency', '0'], message: /'--concurrency <list>' argument '0' is invalid/ },
    { args: ['bench', '--concurrency', '1,,8'], message: /'--concurrency <list>' argument '1,,8' is invalid/ },
    { args: ['bench', '--requests', '-5'], message: /'--requests <n>' argument '-5' is invalid/ },
    {
      args: ['bench', '--api', 'http'],
      message: /'--api <api>' argument 'http' is invalid. must be one of grpc, rest/,
    },
    { args: ['bench', '--batch', '0'], message: /'--batch <n>' argument '0' is invalid/ },
    { args: ['bench', '--requests', '5', '--duration', '1'], message: /'--duration <s>' cannot be used with/ },
    { args: ['client', 'mnist', '--num_tests', '0'], message: /'--num_tests <n>' argument '0' is invalid/ },
    { args: ['client', 'mnist', '--num-tests', 'x'], message: /'--num-tests <n>' argument 'x' is invalid/ },
    { args: ['client', 'mnist', '--api', 'http'], message: /must be one of grpc, rest/ },
  ];
  for (const { args, message } of cases) {
    it(`${args.join(' ')} exits 1 with a message`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
    });
  }

  it('client mnist --num_tests above the 10,000 test images is an error, not a silent cap', async () => {
    const result = await runCli([
      'client',
      'mnist',
      '--num_tests',
      '20000',
      '--server',
      `127.0.0.1:${await closedPort()}`,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /num_tests 20000 is more than the 10000 images of the MNIST test set/);
  });

  it('client mnist --api rest names the unreachable REST server instead of "fetch failed"', async () => {
    const port = await closedPort();
    const result = await runCli([
      'client',
      'mnist',
      '--api',
      'rest',
      '--server',
      `127.0.0.1:${port}`,
      '--num_tests',
      '2',
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot reach the REST server at http://127.0.0.1:${port}: ECONNREFUSED`));
    assert.doesNotMatch(result.stderr, /fetch failed/);
  });

  it('the REST client reports a refused connection as UNAVAILABLE', async () => {
    const client = createClient({ server: `127.0.0.1:${await closedPort()}`, api: 'rest' });
    await assert.rejects(client.metadata({ name: 'm' }), (err: unknown) => {
      assert.ok(err instanceof ServingClientError, String(err));
      assert.equal(err.code, 14);
      return true;
    });
    client.close();
  });

  it('clients default to the port of the API they speak: 8500 for gRPC, 8501 for REST', () => {
    assert.equal(defaultServerAddress('grpc'), 'localhost:8500');
    assert.equal(defaultServerAddress('rest'), 'localhost:8501');
  });
});

describe('flowserve serve, started as the README shows it', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let grpcPort = 0;
  let restPort = 0;
  let serverLog = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowserve-cli-'));
    writeClassifier(join(dir, 'models', 'clf'), 1);
    // A relative base path (resolved against the working directory), the shipped batching file, CORS and a gRPC
    // channel argument small enough to observe.
    server = spawn(
      process.execPath,
      [
        MAIN,
        'serve',
        '--port=0',
        // 0 turns REST off, as in TF Serving: a port just seen free instead.
        `--rest_api_port=${await closedPort()}`,
        '--model_name=clf',
        '--model_base_path=models/clf',
        '--enable_batching',
        `--batching_parameters_file=${join(REPO, 'examples', 'batching.txt')}`,
        '--rest_api_enable_cors_support',
        '--grpc_channel_arguments=grpc.max_receive_message_length=4096',
        '--num_workers=1',
        '--file_system_poll_wait_seconds=-1',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const child = server;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverLog}`)), 30_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        serverLog += chunk.toString();
        const grpc = /Running gRPC ModelServer at 127\.0\.0\.1:(\d+)/.exec(serverLog);
        const rest = /Exporting HTTP\/REST API at:127\.0\.0\.1:(\d+)/.exec(serverLog);
        if (grpc && rest) {
          grpcPort = Number(grpc[1]);
          restPort = Number(rest[1]);
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${serverLog}`));
      });
    });
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.on('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a model whose --model_base_path is relative to the working directory', async () => {
    const response = await fetch(`http://127.0.0.1:${restPort}/v1/models/clf`);
    assert.equal(response.status, 200, await response.text());
  });

  it('--rest_api_enable_cors_support adds the CORS header', async () => {
    const response = await fetch(`http://127.0.0.1:${restPort}/v1/models/clf`);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
  });

  it('--grpc_channel_arguments reaches the gRPC server: a message over the receive limit is refused', async () => {
    const client = createClient({ server: `127.0.0.1:${grpcPort}`, api: 'grpc' });
    try {
      const small = new HostTensor('float32', [1, FEATURES], new Float32Array(FEATURES));
      await client.predict({ name: 'clf', signatureName: 'predict_probs' }, { x: small });
      const large = new HostTensor('float32', [300, FEATURES], new Float32Array(300 * FEATURES));
      await assert.rejects(
        client.predict({ name: 'clf', signatureName: 'predict_probs' }, { x: large }),
        (err: unknown) => err instanceof ServingClientError && err.code === 8,
      );
    } finally {
      client.close();
    }
  });

  it('bench prints a table and exits 0 when requests succeed', async () => {
    const result = await runCli([
      'bench',
      '--server',
      `127.0.0.1:${grpcPort}`,
      '--model_name',
      'clf',
      '--signature_name',
      'predict_probs',
      '--requests',
      '20',
      '--concurrency',
      '1,2',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^grpc Predict clf batch 1$/m);
    assert.match(result.stdout, /^2 +20 +0 +/m);
  });

  it('bench exits 1 with the first error when every request fails (batch above max_batch_size)', async () => {
    const result = await runCli([
      'bench',
      '--server',
      `127.0.0.1:${grpcPort}`,
      '--model-name',
      'clf',
      '--signature-name',
      'predict_probs',
      '--requests',
      '10',
      '--concurrency',
      '2',
      '--batch',
      '200',
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /all 10 requests failed; the first error: .*Task size 200 is larger than maximum input batch size 128/,
    );
    assert.doesNotMatch(result.stdout, /NaN/);
  });
});
