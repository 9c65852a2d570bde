/**
 * Full-GC pauses of a flowserve server under sustained gRPC load, with V8's default heap growth and with other V8
 * flags, in one run.
 *
 * Each side is a flowserve server in a child process (bench/serve-servers.ts) started with V8's --trace-gc-nvp;
 * h2load sends gRPC Predict on one connection with --streams streams for --seconds per round, rounds alternated.
 * From the child's main-isolate trace lines during each round it takes the full collections (`gc=mc`): how many,
 * their summed and longest pause, and the part of the pauses spent finalizing external strings
 * (`clear.external_string_table`; node:http2 hands every request's header values to JavaScript as external strings,
 * and V8 allocates those in the old generation, so they are freed only by full collections).
 *
 * The peer is the default; the measured side adds --v8-flags (default `--heap-growing-percent=30`: each full
 * collection lets the heap grow 30 % over what it kept, where V8 would otherwise let it grow by up to 4×).
 *
 * `--idle S`: both servers sit idle for S seconds after they start and answer their first call, before the load. V8's
 * memory reducer compacts an idle heap and then grows it slowly; `--v8-flags --no-memory-reducer --idle 90` measures
 * what the flowserve command's own flag (src/cli/server-node-flags.ts) buys a server loaded after an idle spell, and
 * what it costs in resident memory while idle.
 *
 *   node dist/bench/gc-pauses.js [--seconds 20] [--rounds 2] [--streams 64] [--v8-flags "--heap-growing-percent=30"]
 *     [--idle 0]
 *
 * Writes bench/results/gc-pauses.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeGenerators, runH2load, type NativeLoadResult } from './native-load.js';
import { report, type BenchRow } from './report.js';
import { checkGrpcBody, PREDICT, removeServedModels, writeBodies, writeServedModels } from './serve.js';
import { spawnServer, type ServerProcess } from './serve-servers.js';

interface Options {
  seconds: number;
  rounds: number;
  streams: number;
  v8Flags: string[];
  idleSeconds: number;
}

/** One full collection from a --trace-gc-nvp line. */
export interface FullGc {
  pauseMs: number;
  externalStringsMs: number;
  /** A memory-reducing collection (V8 starts those when the isolate looks idle). */
  reduce: boolean;
}

/**
 * The full collections in --trace-gc-nvp output, main isolate only: its lines are those of the first isolate that
 * traces (the main thread collects while modules load, before any worker thread starts).
 */
export class GcTrace {
  private mainIsolate: string | undefined;
  private partial = '';
  readonly fullGcs: FullGc[] = [];

  add(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.addLine(line);
  }

  private addLine(line: string): void {
    const isolate = /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1];
    if (!isolate) return;
    this.mainIsolate ??= isolate;
    if (isolate !== this.mainIsolate || !/\bgc=mc\b/.test(line)) return;
    const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1] ?? NaN);
    this.fullGcs.push({
      pauseMs: field('pause'),
      externalStringsMs: field('clear\\.external_string_table'),
      reduce: field('reduce_memory') === 1,
    });
  }
}

interface SideResult {
  load: NativeLoadResult[];
  fullGcs: FullGc[];
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    seconds: 20,
    rounds: 2,
    streams: 64,
    v8Flags: ['--heap-growing-percent=30'],
    idleSeconds: 0,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag ?? ''} needs a value`);
    if (flag === '--seconds') options.seconds = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--streams') options.streams = Number(value);
    else if (flag === '--idle') options.idleSeconds = Number(value);
    else if (flag === '--v8-flags') options.v8Flags = value.split(/\s+/).filter((f) => f.length > 0);
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

interface SideSummary {
  /** Resident memory when the load began (after --idle). */
  rssMb: number;
  throughput: number;
  p99Ms: number;
  fullGcs: number;
  pauseSumMs: number;
  maxPauseMs: number;
  externalStringsMs: number;
  reduceGcs: number;
}

/** A process's resident memory, MB (/proc/PID/status). */
function residentMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

function summary(side: SideResult, rssMb: number): SideSummary {
  const requests = side.load.reduce((s, r) => s + r.requests, 0);
  const seconds = side.load.reduce((s, r) => s + r.seconds, 0);
  const pauses = side.fullGcs.map((g) => g.pauseMs);
  return {
    rssMb,
    throughput: requests / seconds,
    p99Ms: Math.max(...side.load.map((r) => r.p99Ms)),
    fullGcs: pauses.length,
    pauseSumMs: pauses.reduce((s, p) => s + p, 0),
    maxPauseMs: Math.max(0, ...pauses),
    externalStringsMs: side.fullGcs.reduce((s, g) => s + g.externalStringsMs, 0),
    reduceGcs: side.fullGcs.filter((g) => g.reduce).length,
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!nativeGenerators().h2load) {
    console.log('gc-pauses: h2load is not installed (apt-get install nghttp2-client); nothing measured.');
    return;
  }
  const base = mkdtempSync(join(tmpdir(), 'flowserve-gc-pauses-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-gc-pauses-load-'));
  const traces = { default: new GcTrace(), flagged: new GcTrace() };
  const servers: ServerProcess[] = [];
  try {
    await writeServedModels(base);
    const { files, messages } = writeBodies(
      scratch,
      Array.from({ length: 784 }, () => Math.random()),
    );
    const flagged = options.v8Flags.join(' ');
    console.log(
      `flowserve GC pauses: gRPC Predict (h2load -c1 -m${options.streams}), ${options.seconds} s per round and side, ` +
        `${options.rounds} alternating rounds; V8 defaults against ${flagged}` +
        (options.idleSeconds > 0 ? `; both idle ${options.idleSeconds} s before the load` : '') +
        '\n',
    );
    const started = {
      default: await spawnServer('flowserve', base, undefined, {
        execArgv: ['--trace-gc-nvp'],
        stdout: (text) => traces.default.add(text),
      }),
      flagged: await spawnServer('flowserve', base, undefined, {
        execArgv: ['--trace-gc-nvp', ...options.v8Flags],
        stdout: (text) => traces.flagged.add(text),
      }),
    };
    servers.push(started.default, started.flagged);
    for (const server of servers) await checkGrpcBody(server.grpcPort, PREDICT, messages.predict);
    if (options.idleSeconds > 0) await new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000));
    const rssMb = { default: residentMb(started.default.pid), flagged: residentMb(started.flagged.pid) };
    const results: Record<'default' | 'flagged', SideResult> = {
      default: { load: [], fullGcs: [] },
      flagged: { load: [], fullGcs: [] },
    };
    const order = ['default', 'flagged'] as const;
    for (let round = 0; round < options.rounds; round++) {
      for (const side of round % 2 === 0 ? order : [...order].reverse()) {
        const trace = traces[side];
        const before = trace.fullGcs.length;
        const load = await runH2load({
          url: `http://127.0.0.1:${started[side].grpcPort}${PREDICT}`,
          bodyFile: files.predict,
          connections: 1,
          streams: options.streams,
          durationS: options.seconds,
          scratch,
        });
        // A collection that ended as the load did prints its line a moment later.
        await new Promise((resolve) => setTimeout(resolve, 200));
        results[side].load.push(load);
        results[side].fullGcs.push(...trace.fullGcs.slice(before));
      }
    }
    const sides = {
      default: summary(results.default, rssMb.default),
      flagged: summary(results.flagged, rssMb.flagged),
    };
    console.log(
      'side      RSS MB   req/s    p99 ms   full GCs  pause sum ms  max pause ms  external strings ms  reduce',
    );
    for (const side of order) {
      const s = sides[side];
      console.log(
        `${side.padEnd(8)}  ${s.rssMb.toFixed(0).padStart(6)}  ${s.throughput.toFixed(0).padStart(6)}  ${s.p99Ms.toFixed(2).padStart(7)}  ` +
          `${String(s.fullGcs).padStart(8)}  ${s.pauseSumMs.toFixed(1).padStart(12)}  ` +
          `${s.maxPauseMs.toFixed(1).padStart(12)}  ${s.externalStringsMs.toFixed(1).padStart(19)}  ` +
          `${String(s.reduceGcs).padStart(6)}`,
      );
    }
    console.log('');
    const peerName = 'V8 defaults';
    const row = (name: string, key: keyof SideSummary, unit: string, higherIsBetter: boolean): BenchRow => ({
      name,
      unit,
      flowserve: sides.flagged[key],
      peer: sides.default[key],
      peerName,
      higherIsBetter,
    });
    report(
      'gc-pauses',
      [
        row('gc_flagged_throughput', 'throughput', 'req/s', true),
        row('gc_flagged_p99', 'p99Ms', 'ms', false),
        row('gc_flagged_max_full_gc_pause', 'maxPauseMs', 'ms', false),
        row('gc_flagged_full_gc_pause_sum', 'pauseSumMs', 'ms', false),
        row('gc_flagged_full_gcs', 'fullGcs', 'collections', false),
        row('gc_flagged_rss_at_load', 'rssMb', 'MB', false),
      ],
      {
        config: {
          generator: `h2load -c1 -m${options.streams}`,
          seconds: options.seconds,
          rounds: options.rounds,
          v8Flags: options.v8Flags,
          idleSeconds: options.idleSeconds,
        },
        sides,
        fullGcs: { default: results.default.fullGcs, flagged: results.flagged.fullGcs },
      },
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
  process.exit(0);
}
