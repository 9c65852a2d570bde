/**
 * The server's CPU time per request on the hot paths: a figure that a loaded machine does not stretch the way it
 * stretches throughput. Each server (flowserve, the bare grpc-js/fastify peer, and optionally another build of
 * flowserve such as main's) runs in its own process; a native generator sends a fixed number of requests
 * (`h2load -n N -c1 -m32` for gRPC, `h2load --h1 -n N -c8` for REST), and the server process's CPU time (user +
 * system, all its threads, from /proc/PID/stat) over those requests, divided by N, is the cost. The main thread's
 * share (/proc/PID/task/PID/stat) is printed beside it: that thread is the bottleneck of the serving path.
 * Rounds alternate the sides; the figure kept per side is the median of the rounds.
 *
 *   node dist/bench/request-cost.js [--requests 20000] [--rounds 3] [--streams 32] [--rest-connections 8]
 *     [--baseline DIST] [--only grpc_predict,v2_grpc_infer,rest_predict,v2_rest_binary]
 *
 * --baseline DIST: another build's dist/ (e.g. main's, built in a copy of its tree): its bench server module serves the
 * same models, so the table gains "this build vs baseline" rows, measured in the same run.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { report, type BenchRow } from './report.js';
import {
  checkGrpcBody,
  checkRestBody,
  MODEL_INFER,
  PREDICT,
  removeServedModels,
  writeBodies,
  writeServedModels,
} from './serve.js';
import { MODEL, serverScript, spawnServer, type ServerProcess } from './serve-servers.js';

interface Options {
  requests: number;
  rounds: number;
  streams: number;
  restConnections: number;
  baseline: string | undefined;
  /** Series names to measure (default all). */
  only: string[] | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    requests: 20_000,
    rounds: 3,
    streams: 32,
    restConnections: 8,
    baseline: undefined,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--requests') options.requests = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--streams') options.streams = Number(value);
    else if (flag === '--rest-connections') options.restConnections = Number(value);
    else if (flag === '--baseline') options.baseline = resolve(value);
    else if (flag === '--only') options.only = value.split(',');
    else throw new Error(`unknown flag ${flag ?? ''}`);
  }
  const counts = [options.requests, options.rounds, options.streams, options.restConnections];
  if (counts.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error('counts must be positive integers');
  return options;
}

const TICKS_PER_SECOND = 100; // Linux USER_HZ (`getconf CLK_TCK`)

/** utime + stime of /proc/…/stat, in seconds. The command name (field 2) may hold spaces: parse after its ')'. */
function statCpuSeconds(file: string): number {
  const fields = readFileSync(file, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // After the name: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function cpuOf(pid: number): { process: number; mainThread: number } {
  return { process: statCpuSeconds(`/proc/${pid}/stat`), mainThread: statCpuSeconds(`/proc/${pid}/task/${pid}/stat`) };
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolveRun, reject) =>
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} failed: ${err.message}\n${stdout}\n${stderr}`)) : resolveRun(stdout),
    ),
  );
}

/** h2load's "requests: N total, N started, N done, N succeeded, N failed, N errored": fails unless all succeeded. */
function checkH2load(stdout: string, expected: number): void {
  const counts = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded/.exec(stdout);
  if (!counts || Number(counts[2]) !== expected) throw new Error(`h2load did not complete ${expected}:\n${stdout}`);
}

interface Series {
  name: string;
  /** Generator arguments for `requests` requests against the server's ports. */
  args(server: ServerProcess, requests: number): string[];
}

interface Sample {
  processUs: number;
  mainThreadUs: number;
  /** h2load's req/s over the run: wall-clock, so only a hint on a shared machine. */
  requestsPerSecond: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const base = mkdtempSync(join(tmpdir(), 'flowserve-request-cost-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-request-cost-load-'));
  const image = Array.from({ length: 784 }, () => Math.random());
  const servers = new Map<string, ServerProcess>();
  try {
    await writeServedModels(base);
    const { files, messages } = writeBodies(scratch, image);
    servers.set('flowserve', await spawnServer('flowserve', base));
    servers.set('bare', await spawnServer('bare', base));
    if (options.baseline) {
      servers.set('baseline', await spawnServer('flowserve', base, serverScript(options.baseline)));
    }
    const grpc =
      (path: string, body: string) =>
      (server: ServerProcess, n: number): string[] => [
        '-t1',
        '-c1',
        `-m${options.streams}`,
        `-n${n}`,
        `-d${body}`,
        '-H',
        'content-type: application/grpc',
        '-H',
        'te: trailers',
        `http://127.0.0.1:${server.grpcPort}${path}`,
      ];
    const rest =
      (path: string, body: string, headers: Record<string, string>) =>
      (server: ServerProcess, n: number): string[] => [
        '--h1',
        '-t1',
        `-c${options.restConnections}`,
        `-n${n}`,
        `-d${body}`,
        ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
        `http://127.0.0.1:${server.restPort}${path}`,
      ];
    const predictPath = `/v1/models/${MODEL}:predict`;
    const inferPath = `/v2/models/${MODEL}/infer`;
    const allSeries: Series[] = [
      { name: 'grpc_predict', args: grpc(PREDICT, files.predict) },
      { name: 'v2_grpc_infer', args: grpc(MODEL_INFER, files.v2Infer) },
      { name: 'rest_predict', args: rest(predictPath, files.rest, { 'content-type': 'application/json' }) },
      {
        name: 'v2_rest_binary',
        args: rest(inferPath, files.v2RestBinary.file, files.v2RestBinary.headers),
      },
    ];
    const series = allSeries.filter((s) => !options.only || options.only.includes(s.name));
    for (const server of servers.values()) {
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predict);
      await checkGrpcBody(server.grpcPort, MODEL_INFER, messages.v2Infer);
      await checkRestBody(server.restPort, predictPath, files.rest);
      await checkRestBody(server.restPort, inferPath, files.v2RestBinary.file, files.v2RestBinary.headers);
    }
    const sides = [...servers.keys()];
    console.log(
      `CPU per request: ${options.requests} requests per side and round, ${options.rounds} rounds alternated; gRPC ` +
        `h2load -c1 -m${options.streams}, REST h2load --h1 -c${options.restConnections}; sides: ${sides.join(', ')}\n`,
    );
    const samples = new Map<string, Sample[]>();
    const measure = async (s: Series, side: string, n: number): Promise<Sample> => {
      const server = servers.get(side) as ServerProcess;
      const before = cpuOf(server.pid);
      const stdout = await run('h2load', s.args(server, n));
      const after = cpuOf(server.pid);
      checkH2load(stdout, n);
      return {
        requestsPerSecond: Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? NaN),
        processUs: ((after.process - before.process) * 1e6) / n,
        mainThreadUs: ((after.mainThread - before.mainThread) * 1e6) / n,
      };
    };
    for (const s of series) {
      // Warm the JIT, the connections' code paths and the calling-thread sessions.
      for (const side of sides) await measure(s, side, Math.min(4000, options.requests));
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          const key = `${s.name}/${side}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(s, side, options.requests)]);
        }
      }
    }
    const rows: BenchRow[] = [];
    const table: string[] = [];
    for (const s of series) {
      const cost = (side: string, pick: (x: Sample) => number) =>
        median((samples.get(`${s.name}/${side}`) ?? []).map(pick));
      const cells = sides.map(
        (side) =>
          `${side} ${cost(side, (x) => x.processUs).toFixed(1)} µs (main thread ${cost(side, (x) => x.mainThreadUs).toFixed(1)}, ${cost(side, (x) => x.requestsPerSecond).toFixed(0)} req/s)`,
      );
      table.push(`${s.name.padEnd(16)} ${cells.join('   ')}`);
      const row = (peerSide: string, peerName: string, target?: string): BenchRow => ({
        name: `${s.name}_cpu_per_request_vs_${peerSide}`,
        unit: 'CPU µs/request',
        flowserve: cost('flowserve', (x) => x.processUs),
        peer: cost(peerSide, (x) => x.processUs),
        peerName,
        higherIsBetter: false,
        ...(target ? { target } : {}),
      });
      rows.push(row('bare', s.name.startsWith('rest') || s.name.includes('rest') ? 'bare fastify' : 'bare grpc-js'));
      if (servers.has('baseline')) rows.push(row('baseline', 'baseline build', '>= 1'));
    }
    console.log(table.join('\n') + '\n');
    report('request-cost', rows, {
      config: {
        requests: options.requests,
        rounds: options.rounds,
        streams: options.streams,
        baseline: options.baseline,
      },
      samples: Object.fromEntries(samples),
    });
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
