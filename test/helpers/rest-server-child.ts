/**
 * A server in its own process, for tests that measure it: `node rest-server-child.js <model name> <base path>`.
 * Prints one JSON line {"restPort", "pid"} once serving, then answers line commands on stdin with one JSON line:
 *   reset  → clears the event-loop delay histogram                      → {"ok": true}
 *   stats  → the largest event-loop delay since the last reset (ms)      → {"maxDelayMs": …}
 *   exit   → closes the server and exits
 * Peak memory is read by the parent from /proc/<pid>/status, so that nothing here allocates while it is measured.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer } from '../../src/serving/server.js';

const [name, basePath] = process.argv.slice(2);
// `node --test dist/test/` runs every file under it, this one too, without arguments: then there is nothing to do.
if (!name || !basePath) process.exit(0);

const server = await startServer({
  modelConfig: singleModelConfig(name, basePath),
  grpcPort: 0,
  restPort: 0,
  fileSystemPollWaitSeconds: -1,
  log: () => {},
});
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
const send = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
send({ restPort: server.restPort, pid: process.pid });

for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === 'reset') {
    delay.reset();
    send({ ok: true });
  } else if (command === 'stats') {
    send({ maxDelayMs: delay.max / 1e6 });
  } else if (command === 'exit') break;
}
delay.disable();
await server.close();
process.exit(0);
