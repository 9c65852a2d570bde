/**
 * `flowserve serve`: tensorflow_model_server's flags (`--port=8500` or `--port 8500`), startServer, and a graceful
 * stop on SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the core, exit 0). As TF Serving does,
 * unknown arguments are reported and ignored rather than fatal.
 */
import type { Command } from 'commander';
import {
  buildCoreOptions,
  defineServerFlags,
  serverFlagsFromOptions,
  type ServerFlags,
} from '../serving/config/index.js';
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
      ...(flags.sslConfigFile ? { sslConfigFile: flags.sslConfigFile, restApiSsl: flags.restApiSsl } : {}),
      ...(flags.authTokenFile ? { authTokenFile: flags.authTokenFile } : {}),
    });
    process.stderr.write(
      `Running gRPC ModelServer at ${flags.host}:${server.grpcPort} ...\n` +
        (server.restPort === undefined ? '' : `Exporting HTTP/REST API at:${flags.host}:${server.restPort} ...\n`) +
        securitySummary(flags),
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

/** One line per security setting in force, after TF Serving's start-up lines (which scripts grep, so unchanged). */
function securitySummary(flags: ServerFlags): string {
  const lines: string[] = [];
  if (flags.sslConfigFile) {
    lines.push(
      `TLS from --ssl_config_file=${flags.sslConfigFile} on gRPC${flags.restApiSsl ? ' and REST' : ' (REST is plain HTTP)'}`,
    );
  }
  if (flags.authTokenFile) lines.push('Bearer token required on every call but health checks (--auth_token_file)');
  lines.push(`Model management (HandleReloadConfigRequest): ${flags.enableModelManagement ? 'enabled' : 'disabled'}`);
  return lines.map((line) => `${line}\n`).join('');
}
