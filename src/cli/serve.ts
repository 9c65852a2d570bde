/**
 * `flowserve serve`: tensorflow_model_server's flags (`--port=8500` or `--port 8500`), startServer, and a graceful
 * stop on SIGTERM/SIGINT: readiness is withdrawn for --drain_delay_seconds while requests are still served (so a
 * load balancer stops sending before anything is refused), then the server drains (startServer's close does both)
 * and the process exits 0. When --drain_timeout_seconds passes after the delay, or on a second signal, the process
 * dies of the signal at once (status
 * 128 + signal number, as without a handler): process.exit() would tear down worker threads in the middle of an ONNX
 * Runtime call, which aborts the process instead. Unlike TF Serving,
 * unknown flags and stray arguments stop the start (with a suggestion for a misspelt flag): TF prints them and starts
 * anyway, which hides typos until the missing behaviour is noticed in production. The process is meant to run with
 * SERVER_NODE_FLAGS (the scripts' first line gives them); started without them, it says so on stderr.
 */
import type { Command } from 'commander';
import {
  buildCoreOptions,
  defineServerFlags,
  parseGrpcChannelArguments,
  SERVER_FLAG_DEFINITIONS,
  serverFlagsFromOptions,
  type ServerFlags,
} from '../serving/config/index.js';
import { startServer } from '../serving/server.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { missingNodeFlagsNotice } from './server-node-flags.js';
import { FLOWSERVE_VERSION } from './version.js';

/**
 * commander suggests flags by edit distance, which misses a flag given without its prefix (`--enable_cors_support`
 * for `--rest_api_enable_cors_support`): such a near miss gets a hint naming the server flag that ends with it.
 */
function withFlagHint(text: string): string {
  const unknown = /unknown option '--([^'=]+)'/.exec(text)?.[1];
  if (unknown === undefined || text.includes('Did you mean')) return text;
  const spelling = unknown.replace(/-/g, '_');
  const match = SERVER_FLAG_DEFINITIONS.find((def) => def.flag.endsWith(`_${spelling}`));
  return match ? `${text.trimEnd()}\n(Did you mean --${match.flag}?)\n` : text;
}

export function registerServeCommand(program: Command): Command {
  const command = program
    .command('serve')
    .description('serve models over TensorFlow Serving-compatible gRPC and REST APIs')
    .allowExcessArguments(false);
  defineServerFlags(command);
  command.option('--version', 'print the version and exit');
  command.configureOutput({ outputError: (text, write) => write(withFlagHint(text)) });
  command.addHelpText(
    'after',
    '\nTensorFlow Serving flags that flowserve does not implement are refused by name (docs/serving-config.md).',
  );
  command.action(async (options: Record<string, unknown>) => {
    if (options.version === true) {
      // As `tensorflow_model_server --version`, which prints its version and exits.
      console.log(`flowserve ModelServer: ${FLOWSERVE_VERSION}`);
      return;
    }
    const flags = serverFlagsFromOptions(options);
    const notice = missingNodeFlagsNotice();
    if (notice) process.stderr.write(`${notice}\n`);
    const server = await startServer({
      ...(await buildCoreOptions(flags)),
      grpcPort: flags.port,
      restPort: flags.restApiPort > 0 ? flags.restApiPort : undefined,
      host: flags.host,
      restTimeoutMs: flags.restApiTimeoutInMs,
      ...(flags.sslConfigFile ? { sslConfigFile: flags.sslConfigFile, restApiSsl: flags.restApiSsl } : {}),
      ...(flags.authTokenFile ? { authTokenFile: flags.authTokenFile } : {}),
      enableCors: flags.restApiEnableCorsSupport,
      grpcChannelOptions: parseGrpcChannelArguments(flags.grpcChannelArguments),
      grpcTransport: flags.grpcTransport,
      serializeAsTensorContent: flags.enableSerializationAsTensorContent,
      maxV2GrpcMessageBytes: flags.maxV2GrpcMessageBytes,
      drainTimeoutMs: flags.drainTimeoutSeconds * 1000,
      drainDelayMs: flags.drainDelaySeconds * 1000,
      waitForModels: flags.waitForModels,
      dashboard: flags.dashboard ? { ...(flags.runsDir ? { runsDir: flags.runsDir } : {}) } : false,
    });
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
      const delay = flags.drainDelaySeconds;
      process.stderr.write(
        (delay > 0
          ? `${signal} received: not ready (health NOT_SERVING), still serving for --drain_delay_seconds=${delay}; then `
          : `${signal} received: `) +
          `draining (health NOT_SERVING, new requests refused, loads cancelled); ` +
          `exiting within ${delay + flags.drainTimeoutSeconds} s\n`,
      );
      if (delay > 0) {
        server.core.events.on('readiness', (readiness) => {
          if (readiness === 'draining') process.stderr.write('drain delay over: draining\n');
        });
      }
      // The drain cannot interrupt a model run or an ONNX Runtime session being created: the clock decides.
      setTimeout(
        () => {
          process.stderr.write(
            `--drain_timeout_seconds=${flags.drainTimeoutSeconds} passed with ${server.core.requestsInFlight} ` +
              'request(s) still running: exiting\n',
          );
          dieOf(signal);
        },
        (delay + flags.drainTimeoutSeconds) * 1000,
      ).unref();
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
    // Announced once the handlers are in place: a supervisor (or a test) that signals as soon as it reads these lines
    // must reach them, not node's default action, which kills the process without a drain.
    process.stderr.write(
      `Running gRPC ModelServer at ${flags.host}:${server.grpcPort} ...\n` +
        (server.restPort === undefined ? '' : `Exporting HTTP/REST API at:${flags.host}:${server.restPort} ...\n`) +
        securitySummary(flags),
    );
  });
  acceptBothFlagStyles(command);
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
