/**
 * `flowserve serve`: tensorflow_model_server's flags (`--port=8500` or `--port 8500`), startServer, and a graceful
 * stop on SIGTERM/SIGINT: the server drains (startServer's close) and the process exits 0. When
 * --drain_timeout_seconds passes first, or on a second signal, the process dies of the signal at once (status
 * 128 + signal number, as without a handler): process.exit() would tear down worker threads in the middle of an ONNX
 * Runtime call, which aborts the process instead. As TF Serving does, unknown arguments are reported and ignored
 * rather than fatal.
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
    const onSigterm = () => stop('SIGTERM');
    const onSigint = () => stop('SIGINT');
    /** Dies of `signal` as a process without handlers would. */
    const dieOf = (signal: 'SIGTERM' | 'SIGINT') => {
      process.removeListener('SIGTERM', onSigterm);
      process.removeListener('SIGINT', onSigint);
      process.kill(process.pid, signal);
    };
    const stop = (signal: 'SIGTERM' | 'SIGINT') => {
      if (stopping) {
        process.stderr.write(`${signal} received again: exiting at once\n`);
        dieOf(signal);
        return;
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
        dieOf(signal);
      }, flags.drainTimeoutSeconds * 1000).unref();
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`shutdown failed: ${String(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSigterm);
    process.on('SIGINT', onSigint);
  });
  return command;
}
