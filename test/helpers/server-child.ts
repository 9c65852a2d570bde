/**
 * A server in its own process, for tests that measure it:
 * `node server-child.js <model name> <base path> [<model name> <base path> …]`.
 * Prints one JSON line {"restPort", "grpcPort", "pid"} once serving, then answers line commands on stdin with one
 * JSON line:
 *   reset  → clears the event-loop delay histogram                      → {"ok": true}
 *   stats  → since the last reset, the largest event-loop delay and the   → {"maxDelayMs": …, "maxTurnCpuMs": …}
 *            most main-thread CPU time spent within one 5 ms timer interval (what the loop was busy for, apart from
 *            time the scheduler gave to other processes)
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
// A timer every 5 ms: the CPU the main thread used between two ticks bounds how long one turn held the loop. Read
// from /proc/self/task/<pid>/stat (the main thread alone, in clock ticks of 10 ms), else the whole process.
const MAIN_THREAD_STAT = `/proc/self/task/${process.pid}/stat`;
const mainThreadCpuMs = (): number => {
  if (!existsSync(MAIN_THREAD_STAT)) {
    const used = process.cpuUsage();
    return (used.user + used.system) / 1000;
  }
  // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
  const fields = readFileSync(MAIN_THREAD_STAT, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
let maxTurnCpuMs = 0;
let lastCpuMs = mainThreadCpuMs();
const ticker = setInterval(() => {
  const now = mainThreadCpuMs();
  maxTurnCpuMs = Math.max(maxTurnCpuMs, now - lastCpuMs);
  lastCpuMs = now;
}, 5);
const send = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
send({ restPort: server.restPort, grpcPort: server.grpcPort, pid: process.pid });

for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === 'reset') {
    delay.reset();
    maxTurnCpuMs = 0;
    lastCpuMs = mainThreadCpuMs();
    send({ ok: true });
  } else if (command === 'stats') {
    send({ maxDelayMs: delay.max / 1e6, maxTurnCpuMs });
  } else if (command === 'exit') break;
}
delay.disable();
clearInterval(ticker);
await server.close();
process.exit(0);
