/**
 * A real S3-compatible server on loopback for tests and demos: s3rver 3.7.1 in a child process.
 *
 * s3rver runs in its own process, started with `node --openssl-legacy-provider` (its request signing uses MD5-based
 * digests that OpenSSL 3 only offers through the legacy provider; without it paginated listings and Buffer upload
 * bodies fail), on 127.0.0.1 port 0. The child is killed on `close()` and when this process exits.
 *
 * `env()` gives the environment a flowserve child process needs to read from it, in TensorFlow Serving's variable
 * names (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_ENDPOINT, S3_USE_HTTPS=0, S3_VERIFY_SSL=0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The environment variables a flowserve child process reads to reach this server. */
  env(): Record<string, string>;
  createBucket(name: string): Promise<void>;
  putObject(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  /** Uploads every file under `localDir` (recursively) as `prefix/relative/path`. */
  uploadDirectory(bucket: string, prefix: string, localDir: string): Promise<void>;
  close(): Promise<void>;
}

export interface S3ServerOptions {
  /** Where s3rver keeps its buckets; default a fresh temporary directory, removed on close. */
  directory?: string;
}

// s3rver's one built-in account (lib/models/account.js): every request must be signed with it.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const REGION = 'us-east-1';
const START_TIMEOUT_MS = 15_000;

const s3rverBin = (): string => {
  const require = createRequire(import.meta.url);
  return join(require.resolve('s3rver/package.json'), '..', 'bin', 's3rver.js');
};

/** Waits for s3rver's "S3rver listening on ADDRESS:PORT" line and returns the port. */
const waitForPort = (child: ChildProcess): Promise<number> =>
  new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /S3rver listening on [^\s:]+:(\d+)/.exec(output);
      if (match) {
        cleanup();
        resolve(Number(match[1]));
      }
    };
    const onExit = (code: number | null): void =>
      fail(new Error(`s3rver exited (${code}) before listening: ${output}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    const fail = (error: Error): void => {
      cleanup();
      reject(error);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });

const filesUnder = (dir: string, relative = ''): string[] =>
  readdirSync(join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) return filesUnder(dir, path);
    return entry.isFile() ? [path] : [];
  });

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), 'flowserve-s3rver-'));
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      s3rverBin(),
      '-d',
      directory,
      '-a',
      '127.0.0.1',
      '-p',
      '0',
      '--silent',
      '--no-vhost-buckets',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killChild = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killChild);
  let port: number;
  try {
    port = await waitForPort(child);
  } catch (error) {
    killChild();
    process.off('exit', killChild);
    if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  // Keep draining its output so that a chatty child never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  });
  const putObject = async (bucket: string, key: string, body: Uint8Array | string): Promise<void> => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  };
  let closed = false;
  return {
    endpoint,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    region: REGION,
    env: () => ({
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_REGION: REGION,
      S3_ENDPOINT: endpoint,
      S3_USE_HTTPS: '0',
      S3_VERIFY_SSL: '0',
    }),
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    putObject,
    uploadDirectory: async (bucket, prefix, localDir) => {
      const base = prefix.replace(/\/+$/, '');
      for (const file of filesUnder(localDir)) {
        const key = base === '' ? file : posix.join(base, file);
        await putObject(bucket, key, readFileSync(join(localDir, file)));
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      client.destroy();
      process.off('exit', killChild);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }
      if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    },
  };
}
