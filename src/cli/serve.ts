/**
 * `flowserve serve`: tensorflow_model_server's flags (`--port=8500` or `--port 8500`), startServer, and a graceful
 * stop on SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the core, exit 0). As TF Serving does,
 * unknown arguments are reported and ignored rather than fatal.
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
    });
    process.stderr.write(
      `Running gRPC ModelServer at ${flags.host}:${server.grpcPort} ...\n` +
        (server.restPort === undefined ? '' : `Exporting HTTP/REST API at:${flags.host}:${server.restPort} ...\n`),
    );
    const stop = (signal: string) => {
      process.stderr.write(`${signal} received: finishing in-flight requests\n`);
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`shutdown failed: ${String(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return command;
}
