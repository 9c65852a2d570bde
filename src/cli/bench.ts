/**
 * `flowserve bench`: a closed-loop load generator. For each concurrency level, that many workers send Predict
 * requests back to back (a request budget or a duration bounds the loop) and the table shows throughput and
 * p50/p90/p99 latency.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createClient, type ServingClient } from '../client/index.js';
import { HostTensor } from '../graph/host-tensor.js';

export interface LoadResult {
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
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
      } catch {
        errors++;
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
  };
}

export function formatLoadTable(title: string, rows: readonly LoadResult[]): string {
  const header = 'concurrency  requests  errors  req/s      p50 ms   p90 ms   p99 ms';
  const lines = rows.map(
    (r) =>
      `${String(r.concurrency).padEnd(13)}${String(r.requests).padEnd(10)}${String(r.errors).padEnd(8)}` +
      `${r.throughput.toFixed(1).padEnd(11)}${r.p50Ms.toFixed(2).padEnd(9)}${r.p90Ms.toFixed(2).padEnd(9)}${r.p99Ms.toFixed(2)}`,
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

export function registerBenchCommand(program: Command): Command {
  return program
    .command('bench')
    .description('load-test a running server with Predict requests')
    .option('--server <host:port>', 'server address', 'localhost:8500')
    .option('--api <api>', 'grpc or rest', 'grpc')
    .option('--model_name <name>', 'model name', 'default')
    .option('--signature_name <name>', 'signature (default: the model default)')
    .option('--requests <n>', 'requests per concurrency level')
    .option('--duration <s>', 'seconds per concurrency level')
    .option('--concurrency <list>', 'comma-separated concurrency levels', '1,8,32,64')
    .option('--batch <n>', 'examples per request', '1')
    .option('--json <file>', 'also write the results as JSON')
    .action(async (opts: Record<string, string | undefined>) => {
      const api = opts.api === 'rest' ? 'rest' : 'grpc';
      const client = createClient({ server: opts.server ?? 'localhost:8500', api });
      try {
        const model = opts.model_name ?? 'default';
        const inputs = await syntheticInputs(client, model, opts.signature_name, Number(opts.batch ?? 1));
        const bound =
          opts.duration !== undefined
            ? { durationS: Number(opts.duration) }
            : { requests: Number(opts.requests ?? 1000) };
        const rows: LoadResult[] = [];
        for (const level of (opts.concurrency ?? '1').split(',').map(Number)) {
          rows.push(
            await runLoad(
              () => client.predict({ name: model, signatureName: opts.signature_name }, inputs),
              level,
              bound,
            ),
          );
        }
        console.log(formatLoadTable(`${api} Predict ${model} batch ${opts.batch ?? 1}`, rows));
        if (opts.json) writeFileSync(opts.json, JSON.stringify({ api, model, results: rows }, null, 2));
      } finally {
        client.close();
      }
    });
}
