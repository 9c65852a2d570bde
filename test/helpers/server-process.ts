/**
 * Starts test/helpers/server-child.ts in its own process and talks to it: its ports, its pid (for /proc), and its
 * line commands (reset / stats / exit). Measuring a server in another process keeps the test's own allocations and
 * event loop out of the figures.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../src/cli/server-node-flags.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'server-child.js');

export interface ServerProcess {
  pid: number;
  restPort: number;
  grpcPort: number;
  /** Sends a line command and returns the child's one-line JSON answer. */
  command(text: 'reset' | 'stats'): Promise<Record<string, number>>;
  /** Asks the child to close its server and exit; kills it after 10 s. */
  close(): Promise<void>;
}

export async function startServerProcess(models: readonly (readonly [string, string])[]): Promise<ServerProcess> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    process.execPath,
    // Measured as `flowserve serve` runs: with the flowserve command's own Node flags.
    [...SERVER_NODE_FLAGS, CHILD, ...models.flatMap(([name, path]) => [name, path])],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const next = await lines.next();
    if (next.done) throw new Error('the server process ended');
    return next.value as string;
  };
  const ready = JSON.parse(await nextLine()) as { restPort: number; grpcPort: number; pid: number };
  return {
    ...ready,
    async command(text) {
      child.stdin.write(`${text}\n`);
      return JSON.parse(await nextLine()) as Record<string, number>;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.write('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A memory figure of a process from /proc/<pid>/status, in KiB. */
export function procKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}
