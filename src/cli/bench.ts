/**
 * `flowserve bench`: a closed-loop load generator. For each concurrency level, that many workers send Predict
 * requests (`--protocol v2`: Open Inference Protocol infer requests, over REST JSON, REST binary or gRPC) back to
 * back (a request budget or a duration bounds the loop) and the table shows throughput and p50/p90/p99 latency.
 */
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { createClient, type ServingClient, type V2Client } from '../client/index.js';
import { dtypeOfV2 } from '../serving/apis/v2/datatypes.js';
import { HostTensor } from '../graph/host-tensor.js';
import { acceptBothFlagStyles } from './flag-style.js';
import {
  checkBinaryFlag,
  defaultServerAddress,
  oneOf,
  positiveInt,
  positiveIntList,
  positiveNumber,
  SERVING_APIS,
  SERVING_PROTOCOLS,
  type ServingApi,
  type ServingProtocol,
} from './flag-values.js';

export interface LoadResult {
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** The message of the first failed request, when any failed. */
  firstError?: string;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Runs `send` from `concurrency` workers until `requests` are done or `durationS` has passed. */
export async function runLoad(
  send: () => Promise<unknown>,
  concurrency: number,
  bound: { requests?: number; durationS?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = bound.durationS === undefined ? Infinity : t0 + bound.durationS * 1000;
  const budget = bound.requests ?? Infinity;
  const worker = async () => {
    while (started < budget && performance.now() < deadline) {
      started++;
      const t = performance.now();
      try {
        await send();
        latencies.push(performance.now() - t);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    requests: latencies.length,
    errors,
    seconds,
    throughput: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** A latency cell; `-` where no request succeeded (no latency to show). */
function ms(value: number): string {
  return Number.isNaN(value) ? '-' : value.toFixed(2);
}

export function formatLoadTable(title: string, rows: readonly LoadResult[]): string {
  const header = 'concurrency  requests  errors  req/s      p50 ms   p90 ms   p99 ms';
  const lines = rows.map(
    (r) =>
      `${String(r.concurrency).padEnd(13)}${String(r.requests).padEnd(10)}${String(r.errors).padEnd(8)}` +
      `${r.throughput.toFixed(1).padEnd(11)}${ms(r.p50Ms).padEnd(9)}${ms(r.p90Ms).padEnd(9)}${ms(r.p99Ms)}`,
  );
  return [title, header, ...lines].join('\n');
}

/** A zero-filled batch for every input of the model's signature, read from its metadata. */
export async function syntheticInputs(
  client: ServingClient,
  model: string,
  signatureName: string | undefined,
  batch: number,
): Promise<Record<string, HostTensor>> {
  const meta = await client.metadata({ name: model });
  const name = signatureName ?? (meta.signatures.serving_default ? 'serving_default' : Object.keys(meta.signatures)[0]);
  const signature = meta.signatures[name ?? ''];
  if (!signature) throw new Error(`model ${model} has no signature ${name ?? ''}`);
  return Object.fromEntries(
    Object.entries(signature.inputs).map(([alias, spec]) => [
      alias,
      HostTensor.zeros(
        spec.dtype,
        spec.shape.map((d, i) => (i === 0 ? batch : Math.max(d, 1))),
      ),
    ]),
  );
}

/** A zero-filled batch for every input of the model, read from its v2 metadata (-1 dims: `batch` first, then 1). */
export async function syntheticV2Inputs(
  client: V2Client,
  model: string,
  batch: number,
): Promise<Record<string, HostTensor>> {
  const meta = await client.modelMetadata({ name: model });
  return Object.fromEntries(
    meta.inputs.map((input) => [
      input.name,
      HostTensor.zeros(
        dtypeOfV2(input.datatype, `input ${input.name}`),
        input.shape.map((d, i) => (i === 0 && d < 0 ? batch : Math.max(d, 1))),
      ),
    ]),
  );
}

/** One request sender: Predict (v1) or infer (v2) with the same inputs every time. */
async function requestSender(
  opts: BenchFlags,
  server: string,
): Promise<{ send: () => Promise<unknown>; title: string; close(): void }> {
  const model = opts.model_name;
  const target = { name: model, signatureName: opts.signature_name };
  if (opts.protocol === 'v2') {
    const client = createClient({ server, api: opts.api, protocol: 'v2', binary: opts.binary });
    try {
      const inputs = await syntheticV2Inputs(client, model, opts.batch);
      const wire = opts.api === 'rest' ? (opts.binary ? ' binary' : ' JSON') : '';
      return {
        send: () => client.infer(target, inputs),
        title: `${opts.api}${wire} v2 infer ${model} batch ${opts.batch}`,
        close: () => client.close(),
      };
    } catch (err) {
      client.close();
      throw err;
    }
  }
  const client = createClient({ server, api: opts.api });
  try {
    const inputs = await syntheticInputs(client, model, opts.signature_name, opts.batch);
    return {
      send: () => client.predict(target, inputs),
      title: `${opts.api} Predict ${model} batch ${opts.batch}`,
      close: () => client.close(),
    };
  } catch (err) {
    client.close();
    throw err;
  }
}

interface BenchFlags {
  server?: string;
  api: ServingApi;
  protocol: ServingProtocol;
  binary?: boolean;
  model_name: string;
  signature_name?: string;
  requests?: number;
  duration?: number;
  concurrency: number[];
  batch: number;
  json?: string;
}

/**
 * Fails the command when every request failed (a benchmark of errors is no benchmark), with the first error's
 * message; when only some failed, says so on stderr and keeps the table.
 */
export function checkLoadErrors(rows: readonly LoadResult[]): void {
  const errors = rows.reduce((sum, r) => sum + r.errors, 0);
  if (errors === 0) return;
  const succeeded = rows.reduce((sum, r) => sum + r.requests, 0);
  const first = rows.find((r) => r.firstError !== undefined)?.firstError ?? '';
  if (succeeded === 0) {
    throw new Error(`all ${errors} requests failed; the first error: ${first}`);
  }
  process.stderr.write(`${errors} of ${errors + succeeded} requests failed; the first error: ${first}\n`);
}

export function registerBenchCommand(program: Command): Command {
  const command = program
    .command('bench')
    .description('load-test a running server with Predict (v1) or infer (v2) requests')
    .option('--server <host:port>', 'server address (default: localhost:8500 for grpc, localhost:8501 for rest)')
    .option('--api <api>', `${SERVING_APIS.join(' or ')}`, oneOf(SERVING_APIS), 'grpc')
    .option(
      '--protocol <protocol>',
      'v1: TensorFlow Serving Predict; v2: Open Inference Protocol infer',
      oneOf(SERVING_PROTOCOLS),
      'v1',
    )
    .option('--binary', 'v2 over REST: tensors through the binary tensor data extension')
    .option('--model_name <name>', 'model name', 'mnist')
    .option('--signature_name <name>', 'signature (default: the model default)')
    .addOption(new Option('--requests <n>', 'requests per concurrency level (default: 1000)').argParser(positiveInt))
    .addOption(
      new Option('--duration <s>', 'seconds per concurrency level, instead of a request count')
        .argParser(positiveNumber)
        .conflicts('requests'),
    )
    .addOption(
      new Option('--concurrency <list>', 'comma-separated concurrency levels')
        .argParser(positiveIntList)
        .default([1, 8, 32, 64], '1,8,32,64'),
    )
    .option('--batch <n>', 'examples per request', positiveInt, 1)
    .option('--json <file>', 'also write the results as JSON')
    .action(async (opts: BenchFlags) => {
      const api = opts.api;
      checkBinaryFlag(opts.binary, opts.protocol, api);
      const sender = await requestSender(opts, opts.server ?? defaultServerAddress(api));
      try {
        const bound = opts.duration !== undefined ? { durationS: opts.duration } : { requests: opts.requests ?? 1000 };
        const rows: LoadResult[] = [];
        for (const level of opts.concurrency) rows.push(await runLoad(sender.send, level, bound));
        console.log(formatLoadTable(sender.title, rows));
        if (opts.json) {
          const model = opts.model_name;
          const about = { api, protocol: opts.protocol, ...(opts.binary ? { binary: true } : {}), model };
          writeFileSync(opts.json, JSON.stringify({ ...about, results: rows }, null, 2));
        }
        checkLoadErrors(rows);
      } finally {
        sender.close();
      }
    });
  return acceptBothFlagStyles(command);
}
