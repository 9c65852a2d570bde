/**
 * A server in its own process, for tests that measure it:
 * `node server-child.js <model name> <base path> [<model name> <base path> …]`.
 * Prints one JSON line {"restPort", "grpcPort", "pid"} once serving, then answers line commands on stdin with one
 * JSON line:
 *   reset  → clears the event-loop delay histogram                      → {"ok": true}
 *   stats  → since the last reset, the largest event-loop delay, the most  → {"maxDelayMs": …, "maxTurnCpuMs": …,
 *            main-thread CPU time spent within one 5 ms timer interval      "maxHeldMs": …}
 *            (what the loop was busy for, apart from time the scheduler
 *            gave to other processes), and where the kernel reports it, the
 *            largest delay less the time the main thread waited for a core
 *   exit   → closes the server and exits
 * Peak memory is read by the parent from /proc/<pid>/status, so that nothing here allocates while it is measured.
 */
import { existsSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer } from '../../src/serving/server.js';

const args = process.argv.slice(2);
// `node --test dist/test/` runs every file under it, this one too, without arguments: then there is nothing to do.
if (args.length < 2 || args.length % 2 !== 0) process.exit(0);
const models = [];
for (let i = 0; i < args.length; i += 2)
  models.push(...singleModelConfig(args[i] as string, args[i + 1] as string).models);

const server = await startServer({
  modelConfig: { models },
  grpcPort: 0,
  restPort: 0,
  fileSystemPollWaitSeconds: -1,
  log: () => {},
});
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
// A timer every 5 ms: the CPU the main thread used between two ticks bounds how long one turn held the loop, and the
// gap between two ticks less the time the thread spent waiting for a core is the delay the server itself caused.
// Both from /proc/self/task/<pid>/schedstat (the main thread alone: ns on a CPU, ns runnable on a run queue); where
// the kernel has no schedstat, the CPU from /proc/self/task/<pid>/stat (clock ticks of 10 ms), else the process's.
const TICK_MS = 5;
const MAIN_THREAD_SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const MAIN_THREAD_STAT = `/proc/self/task/${process.pid}/stat`;
const hasSchedstat = existsSync(MAIN_THREAD_SCHEDSTAT);
interface ThreadTimes {
  atMs: number;
  cpuMs: number;
  /** NaN without schedstat. */
  waitMs: number;
}
const mainThreadTimes = (): ThreadTimes => {
  const atMs = performance.now();
  if (hasSchedstat) {
    const [cpuNs, waitNs] = readFileSync(MAIN_THREAD_SCHEDSTAT, 'utf8').split(' ').map(Number);
    return { atMs, cpuMs: (cpuNs as number) / 1e6, waitMs: (waitNs as number) / 1e6 };
  }
  if (!existsSync(MAIN_THREAD_STAT)) {
    const used = process.cpuUsage();
    return { atMs, cpuMs: (used.user + used.system) / 1000, waitMs: NaN };
  }
  // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
  const fields = readFileSync(MAIN_THREAD_STAT, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { atMs, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, waitMs: NaN };
};
let maxTurnCpuMs = 0;
let maxHeldMs = 0;
let last = mainThreadTimes();
const ticker = setInterval(() => {
  const now = mainThreadTimes();
  maxTurnCpuMs = Math.max(maxTurnCpuMs, now.cpuMs - last.cpuMs);
  maxHeldMs = Math.max(maxHeldMs, now.atMs - last.atMs - (now.waitMs - last.waitMs) - TICK_MS);
  last = now;
}, TICK_MS);
const send = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
send({ restPort: server.restPort, grpcPort: server.grpcPort, pid: process.pid });

for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === 'reset') {
    delay.reset();
    maxTurnCpuMs = 0;
    maxHeldMs = 0;
    last = mainThreadTimes();
    send({ ok: true });
  } else if (command === 'stats') {
    send({ maxDelayMs: delay.max / 1e6, maxTurnCpuMs, ...(hasSchedstat ? { maxHeldMs } : {}) });
  } else if (command === 'exit') break;
}
delay.disable();
clearInterval(ticker);
await server.close();
process.exit(0);
