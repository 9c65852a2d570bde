/**
 * `flowserve serve`: tensorflow_model_server's flags (`--port=8500` or `--port 8500`), startServer, and a graceful
 * stop on SIGTERM/SIGINT: the server drains (startServer's close) and the process exits 0 — or exits 1 when
 * --drain_timeout_seconds passes first, whatever is still running. A second signal exits at once (128 + signal
 * number). As TF Serving does, unknown arguments are reported and ignored rather than fatal.
 */
import type { Command } from 'commander';
import { buildCoreOptions, defineServerFlags, serverFlagsFromOptions } from '../serving/config/index.js';
import { startServer } from '../serving/server.js';

export function registerServeCommand(program: Command): Command {
  const command = program
    .command('serve')
    .description('serve models over TensorFlow Serving-compatible gRPC and REST APIs')
    .allowUnknownOption()
    .allowExcessArguments();
  defineServerFlags(command);
  command.action(async (options: Record<string, unknown>, cmd: Command) => {
    for (const arg of cmd.args) process.stderr.write(`unknown argument: ${arg}\n`);
    const flags = serverFlagsFromOptions(options);
    const server = await startServer({
      ...(await buildCoreOptions(flags)),
      grpcPort: flags.port,
      restPort: flags.restApiPort > 0 ? flags.restApiPort : undefined,
      host: flags.host,
      restTimeoutMs: flags.restApiTimeoutInMs,
      drainTimeoutMs: flags.drainTimeoutSeconds * 1000,
      waitForModels: flags.waitForModels,
    });
    process.stderr.write(
      `Running gRPC ModelServer at ${flags.host}:${server.grpcPort} ...\n` +
        (server.restPort === undefined ? '' : `Exporting HTTP/REST API at:${flags.host}:${server.restPort} ...\n`),
    );
    let stopping = false;
    const stop = (signal: 'SIGTERM' | 'SIGINT') => {
      if (stopping) {
        process.stderr.write(`${signal} received again: exiting at once\n`);
        process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
      }
      stopping = true;
      process.stderr.write(
        `${signal} received: draining (health NOT_SERVING, new requests refused, loads cancelled); ` +
          `exiting within ${flags.drainTimeoutSeconds} s\n`,
      );
      // The drain cannot interrupt a model run or an ONNX Runtime session being created: the clock decides.
      setTimeout(() => {
        process.stderr.write(
          `--drain_timeout_seconds=${flags.drainTimeoutSeconds} passed with ${server.core.requestsInFlight} ` +
            'request(s) still running: exiting\n',
        );
        process.exit(1);
      }, flags.drainTimeoutSeconds * 1000).unref();
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`shutdown failed: ${String(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  return command;
}
