/**
 * `npm run fuzz`: a structure-aware fuzzer against two live servers on 127.0.0.1 (bench/hostile/). Mutated
 * TensorProto / PredictRequest / ClassificationRequest / RegressionRequest / MultiInference / tf.Example /
 * metadata and status requests over gRPC, byte-level mutations of valid encodings, and REST (JSON bodies, malformed
 * JSON, gzip, paths). Bar: no crash, no gRPC UNKNOWN/INTERNAL, no HTTP 5xx (but batch back-pressure), bounded RSS,
 * and a valid request answered correctly every 1,000 requests. Prints a table, writes bench/results/fuzz.json and
 * exits non-zero on any violation, after printing the seed and case to replay and saving the request bytes.
 *
 *   node dist/bench/fuzz.js [--seed N] [--requests N] [--concurrency N] [--rss_limit_mib N] [--max_input_bytes N] [--case I]
 *                           [--keep_going] [--rest_json_reader fail|record] [--json PATH]
 */
import os from 'node:os';
import { writeResultJson } from './report.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFuzz, type FuzzOptions, type FuzzSummary } from './hostile/fuzz-run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface CliOptions extends FuzzOptions {
  json: string;
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = {
    seed: 1,
    requests: 100_000,
    concurrency: 8,
    rssLimitMiB: 1024,
    maxInputBytes: 16 * 1024 * 1024,
    deadlineMs: 60_000,
    keepGoing: false,
    maxViolations: 50,
    restJsonReader: 'fail',
    violationDir: path.join(root, 'bench', 'results', 'fuzz-violations'),
    json: path.join(root, 'bench', 'results', 'fuzz.json'),
  };
  const integer = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isSafeInteger(n) || n < min)
      throw new Error(`${flag} needs an integer ≥ ${min}, got '${value ?? ''}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] as string).split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--seed') options.seed = integer(flag, value(), 0);
    else if (flag === '--requests') options.requests = integer(flag, value(), 1);
    else if (flag === '--concurrency') options.concurrency = integer(flag, value(), 1);
    else if (flag === '--rss_limit_mib') options.rssLimitMiB = integer(flag, value(), 1);
    else if (flag === '--max_input_bytes') options.maxInputBytes = integer(flag, value(), 1);
    else if (flag === '--deadline_ms') options.deadlineMs = integer(flag, value(), 1);
    else if (flag === '--case') options.caseIndex = integer(flag, value(), 0);
    else if (flag === '--keep_going') options.keepGoing = true;
    else if (flag === '--max_violations') options.maxViolations = integer(flag, value(), 1);
    else if (flag === '--json') options.json = path.resolve(value() ?? '');
    else if (flag === '--violation_dir') options.violationDir = path.resolve(value() ?? '');
    else if (flag === '--rest_json_reader') {
      const v = value();
      if (v !== 'fail' && v !== 'record') throw new Error(`--rest_json_reader is fail or record, got '${v ?? ''}'`);
      options.restJsonReader = v;
    } else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

function formatTable(summary: FuzzSummary): string {
  const header = ['category', 'sent', 'violations', 'p50 ms', 'p99 ms', 'outcomes (most frequent first)'];
  const rows = Object.entries(summary.categories).map(([name, s]) => [
    name,
    String(s.sent),
    String(s.violations),
    s.p50Ms.toFixed(1),
    s.p99Ms.toFixed(1),
    Object.entries(s.outcomes)
      .sort(([, a], [, b]) => b - a)
      .map(([k, n]) => `${k} ${n}`)
      .join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  console.log(
    `flowserve fuzz: seed ${options.seed}, ${options.caseIndex !== undefined ? `case ${options.caseIndex} only` : `${options.requests} requests`}, ` +
      `concurrency ${options.concurrency}, servers with --max_input_bytes=${options.maxInputBytes}, RSS bound ${options.rssLimitMiB} MiB per server, ` +
      `REST JSON reader violations: ${options.restJsonReader}`,
  );
  const summary = await runFuzz({ ...options, log: (line) => console.log(line) });
  console.log(`\n${formatTable(summary)}\n`);
  console.log(
    `sent ${summary.sent} (${summary.notSent} not sendable) in ${summary.seconds} s (${summary.throughput} req/s); ` +
      `probes ${summary.probes.passed}/${summary.probes.sent} correct; crashes ${summary.crashes}; ` +
      `max RSS plain ${summary.rss.maxMiB.plain} MiB (start ${summary.rss.startMiB.plain}), batched ${summary.rss.maxMiB.batched} MiB ` +
      `(start ${summary.rss.startMiB.batched}), bound ${summary.rss.limitMiB} MiB`,
  );
  console.log(
    `CPU seconds: fuzzer ${summary.cpuSeconds.fuzzer}, plain server ${summary.cpuSeconds.plain}, batched server ${summary.cpuSeconds.batched}; ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; HTTP resends after keep-alive resets ${summary.httpRetries}`,
  );
  const open = summary.open;
  console.log(
    `violations: ${summary.failing} failing${open > 0 ? `, ${open} open in the REST JSON reader (recorded)` : ''}`,
  );
  writeResultJson(options.json, 'fuzz', { config: { ...options, log: undefined }, ...summary });
  return summary.failing > 0 ? 1 : 0;
}

process.exit(await main());
