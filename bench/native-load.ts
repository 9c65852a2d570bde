/**
 * Native load generators for bench:serve: `h2load` (Debian `nghttp2-client`) for gRPC and `wrk` (Debian `wrk`) for
 * REST. A Node.js client shares one event loop between its connections and spends more CPU per request than the
 * servers it measures; these two do not, so the bare peer's figure is the transport's, not the client's.
 *
 * Each run is wrapped in `bash -c '…; times'` so that the generator's own CPU time is reported with its result: the
 * bench prints it as the generator's load, the headroom left on its one thread.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { percentile, type LoadResult } from '../src/cli/bench.js';

/** A load result with the generator's own CPU seconds (user + system) over the run. */
export interface NativeLoadResult extends LoadResult {
  generatorCpuS: number;
  /** What the generator said of its failed requests (wrk: non-2xx responses and socket errors by kind). */
  errorDetail?: string;
}

/** Which native generators are on PATH. */
export function nativeGenerators(): { h2load: boolean; wrk: boolean } {
  const runs = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined;
  return { h2load: runs('h2load', '--version'), wrk: runs('wrk', '--version') };
}

export const INSTALL_HINT = 'apt-get install nghttp2-client wrk';

/** A gRPC message as it travels in an HTTP/2 DATA frame: flag byte 0 (uncompressed), 4-byte big-endian length. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** Runs `command args…` under bash and returns stdout plus the children's CPU seconds from `times`. */
function runTimed(command: string, args: readonly string[]): Promise<{ stdout: string; cpuS: number }> {
  const script = '"$@"; rc=$?; times >&2; exit $rc';
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-c', script, 'bash', command, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${command} failed: ${err.message}\n${stdout}\n${stderr}`));
          return;
        }
        // `times` prints the shell's user/sys, then its children's: "0m1.234s 0m0.567s".
        const last = stderr.trim().split('\n').at(-1) ?? '';
        const seconds = [...last.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
        resolve({ stdout, cpuS: seconds.reduce((a, b) => a + b, 0) });
      },
    );
  });
}

export interface H2loadRun {
  url: string;
  /** A file holding one gRPC frame: the request body. */
  bodyFile: string;
  connections: number;
  /** Concurrent streams per connection (h2load -m). */
  streams: number;
  durationS: number;
  /** Scratch directory for the per-request log. */
  scratch: string;
}

/** The run's length in h2load's summary, in seconds; under a second it prints ms ("finished in 999.02ms"). */
export function h2loadSeconds(stdout: string): number {
  const finished = /finished in ([\d.]+)(us|ms|s),/.exec(stdout);
  if (!finished) return NaN;
  return Number(finished[1]) / { us: 1e6, ms: 1e3, s: 1 }[finished[2] as 'us' | 'ms' | 's'];
}

/**
 * h2load -c C -m M -D S with a gRPC body: throughput from its summary, latency percentiles from its per-request log
 * (start, status, microseconds). h2load sees HTTP status only (gRPC errors are in trailers): the bench checks the
 * same body once with a gRPC client before measuring.
 */
export async function runH2load(run: H2loadRun): Promise<NativeLoadResult> {
  const log = join(run.scratch, `h2load-${process.pid}-${Date.now()}.log`);
  // h2load's -D takes whole seconds (it refuses "1.5"), as wrk's -d does below.
  const durationS = Math.max(1, Math.round(run.durationS));
  const args = [
    '-t1',
    `-c${run.connections}`,
    `-m${run.streams}`,
    `-D${durationS}`,
    `-d${run.bodyFile}`,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `--log-file=${log}`,
    run.url,
  ];
  try {
    const { stdout, cpuS } = await runTimed('h2load', args);
    const seconds = h2loadSeconds(stdout);
    const counts =
      /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
    if (!counts || !(seconds > 0)) throw new Error(`unexpected h2load output:\n${stdout}`);
    const succeeded = Number(counts[4]);
    const errors = Number(counts[5]) + Number(counts[6]);
    const latencies = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => line.split('\t'))
      .filter((cells) => cells[1] === '200')
      .map((cells) => Number(cells[2]) / 1000)
      .sort((a, b) => a - b);
    return loadResult(run.connections * run.streams, succeeded, errors, seconds, latencies, cpuS);
  } finally {
    rmSync(log, { force: true });
  }
}

export interface WrkRun {
  url: string;
  /** The request body. */
  bodyFile: string;
  /** Request headers; default `Content-Type: application/json`. */
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
  scratch: string;
}

/** wrk -t1 -c C -d S --latency, POSTing the body file with the given headers (default: as application/json). */
export async function runWrk(run: WrkRun): Promise<NativeLoadResult> {
  const script = join(run.scratch, `wrk-${process.pid}.lua`);
  writeFileSync(
    script,
    [
      `local f = io.open(${JSON.stringify(run.bodyFile)}, "rb")`,
      'wrk.body = f:read("*a")',
      'f:close()',
      'wrk.method = "POST"',
      ...Object.entries(run.headers ?? { 'Content-Type': 'application/json' }).map(
        ([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`,
      ),
      '',
    ].join('\n'),
  );
  const durationS = Math.max(1, Math.round(run.durationS));
  const { stdout, cpuS } = await runTimed('wrk', [
    '-t1',
    `-c${run.connections}`,
    `-d${durationS}s`,
    '--latency',
    '-s',
    script,
    run.url,
  ]);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout);
  if (!total) throw new Error(`unexpected wrk output:\n${stdout}`);
  const seconds = toMs(Number(total[2]), total[3] as string) / 1000;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const socketErrors = socket ? socket.slice(1).reduce((s, n) => s + Number(n), 0) : 0;
  const at = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(stdout);
    return m ? toMs(Number(m[1]), m[2] as string) : NaN;
  };
  const requests = Number(total[1]) - non2xx;
  const errorDetail = [socket?.[0], non2xx > 0 ? `Non-2xx or 3xx responses: ${non2xx}` : undefined]
    .filter((part) => part !== undefined)
    .join('; ');
  return {
    concurrency: run.connections,
    requests,
    errors: non2xx + socketErrors,
    ...(errorDetail ? { errorDetail } : {}),
    seconds,
    throughput: requests / seconds,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    generatorCpuS: cpuS,
  };
}

function toMs(value: number, unit: string): number {
  return unit === 'us' ? value / 1000 : unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000;
}

function loadResult(
  concurrency: number,
  requests: number,
  errors: number,
  seconds: number,
  sortedLatencies: number[],
  cpuS: number,
): NativeLoadResult {
  return {
    concurrency,
    requests,
    errors,
    seconds,
    throughput: requests / seconds,
    p50Ms: percentile(sortedLatencies, 50),
    p90Ms: percentile(sortedLatencies, 90),
    p99Ms: percentile(sortedLatencies, 99),
    generatorCpuS: cpuS,
  };
}

/** Rounds of one series merged: summed requests and time; latency percentiles from all rounds' samples are not kept,
 * so the merged percentile is the request-weighted mean of the rounds' percentiles. */
export function mergeNative(concurrency: number, parts: readonly NativeLoadResult[]): NativeLoadResult {
  const requests = parts.reduce((s, r) => s + r.requests, 0);
  const seconds = parts.reduce((s, r) => s + r.seconds, 0);
  const weighted = (pick: (r: NativeLoadResult) => number) =>
    parts.reduce((s, r) => s + pick(r) * r.requests, 0) / Math.max(1, requests);
  return {
    concurrency,
    requests,
    errors: parts.reduce((s, r) => s + r.errors, 0),
    seconds,
    throughput: requests / seconds,
    p50Ms: weighted((r) => r.p50Ms),
    p90Ms: weighted((r) => r.p90Ms),
    p99Ms: weighted((r) => r.p99Ms),
    generatorCpuS: parts.reduce((s, r) => s + r.generatorCpuS, 0),
  };
}
