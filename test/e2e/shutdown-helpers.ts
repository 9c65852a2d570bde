/** Helpers for the shutdown, reload and deadline tests: a raw gRPC health check and the real CLI as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { SERVER_NODE_FLAGS } from '../../src/cli/server-node-flags.js';

export const SERVING = 1;
export const NOT_SERVING = 2;

/** grpc.health.v1.Health/Check for the whole server (""): 1 SERVING, 2 NOT_SERVING. */
export async function healthStatus(port: number): Promise<number> {
  const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const response = await new Promise<Buffer>((resolve, reject) => {
      raw.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (e, r) => (e ? reject(e) : resolve(r as Buffer)),
      );
    });
    // HealthCheckResponse { status = 1 }: an empty message is status 0 (UNKNOWN).
    return response.length === 2 && response[0] === 0x08 ? (response[1] as number) : 0;
  } finally {
    raw.close();
  }
}

/** Polls `check` every 20 ms until it holds; throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface ServeProcess {
  child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the bound ports once the CLI prints them ("Running gRPC ModelServer at host:port ..."). */
  ports(timeoutMs?: number): Promise<{ grpc: number; rest?: number }>;
  /** Resolves with the exit code (or signal) within `timeoutMs`; kills the process and throws otherwise. */
  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

/** `flowserve serve ARGS` on loopback, ports 0 unless ARGS say otherwise, with the command's own Node flags. */
export function spawnServe(args: readonly string[]): ServeProcess {
  const child = spawn(
    process.execPath,
    [...SERVER_NODE_FLAGS, CLI, 'serve', '--port=0', '--rest_api_port=0', ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (text += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let exitedAlready = false;
  void exit.then(() => (exitedAlready = true));
  return {
    child,
    stderr: () => text,
    async ports(timeoutMs = 20_000) {
      await until(() => /Running gRPC ModelServer at [^\s]+:\d+/.test(text) || exitedAlready, timeoutMs, 'ports');
      const grpc = /Running gRPC ModelServer at [^\s]+:(\d+)/.exec(text);
      if (!grpc) throw new Error(`the server exited before opening its ports:\n${text}`);
      const rest = /Exporting HTTP\/REST API at:[^\s]+:(\d+)/.exec(text);
      return { grpc: Number(grpc[1]), ...(rest ? { rest: Number(rest[1]) } : {}) };
    },
    async exited(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the server did not exit within ${timeoutMs} ms:\n${text}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill: () => {
      if (!exitedAlready) child.kill('SIGKILL');
    },
  };
}
