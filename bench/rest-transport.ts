/**
 * The REST port's main-thread CPU per request, this build against another (--baseline), both servers in this one
 * process: two server processes of one build differ by ±10 % on a loaded machine (how many runs of each burst their
 * calling-thread estimate keeps on the main thread), more than the transport changes measured here. Each build's
 * `startServer` serves the bench's MNIST softmax model (REST port, no dashboard); `h2load --h1 -cC -nN` sends the
 * bench's v2 binary infer body or v1 :predict JSON body to one of them at a time, rounds alternated, and this
 * thread's CPU time (/proc/thread-self/stat, user + system, 10 ms ticks) over the requests, divided by N, is the
 * figure; the median of the rounds is kept.
 *
 *   node dist/bench/rest-transport.js --baseline OTHER/dist [--requests 15000] [--rounds 3] [--connections 8]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { report, type BenchRow } from './report.js';
import { defaultModelConfig } from '../src/serving/config/model-server-config.js';
import { writeBodies, writeMnistServable } from './serve.js';
import { MODEL } from './serve-servers.js';
import { median, threadCpuMicros } from './cpu-time.js';

interface Options {
  requests: number;
  rounds: number;
  connections: number;
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { requests: 15_000, rounds: 3, connections: 8, baseline: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--requests') options.requests = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--connections') options.connections = Number(value);
    else if (flag === '--baseline') options.baseline = resolve(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (![options.requests, options.rounds, options.connections].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('--requests, --rounds and --connections must be positive integers');
  }
  return options;
}

interface Running {
  restPort?: number;
  close(): Promise<void>;
}

interface Build {
  name: string;
  server: Running;
}

async function startBuild(name: string, dist: string, base: string): Promise<Build> {
  const { startServer } = (await import(pathToFileURL(join(dist, 'src/serving/server.js')).href)) as {
    startServer(options: object): Promise<Running>;
  };
  const server = await startServer({
    modelConfig: {
      models: [defaultModelConfig(MODEL, base)],
    },
    fileSystemPollWaitSeconds: 0,
    grpcPort: 0,
    restPort: 0,
    host: '127.0.0.1',
    dashboard: false,
    log: () => undefined,
  });
  return { name, server };
}

interface Series {
  name: string;
  path: string;
  /** h2load's -d body file and -H headers. */
  body: string;
  headers: Record<string, string>;
}

function h2load(port: number, series: Series, connections: number, requests: number): Promise<void> {
  const headers = Object.entries(series.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['--h1', '-t1', `-c${connections}`, `-n${requests}`, `-d${series.body}`, ...headers];
  return new Promise((done, fail) =>
    execFile('h2load', [...args, `http://127.0.0.1:${port}${series.path}`], (err, stdout) => {
      const succeeded = Number(/(\d+) succeeded/.exec(stdout)?.[1] ?? NaN);
      if (err) fail(err);
      else if (succeeded !== requests) fail(new Error(`${series.name}: ${succeeded} of ${requests} succeeded`));
      else done();
    }),
  );
}

async function mainThreadCost(build: Build, series: Series, options: Options): Promise<number> {
  const before = threadCpuMicros();
  await h2load(build.server.restPort ?? 0, series, options.connections, options.requests);
  return (threadCpuMicros() - before) / options.requests;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!options.baseline) throw new Error('--baseline OTHER/dist is required: the figures are a comparison');
  const base = mkdtempSync(join(tmpdir(), 'flowserve-rest-transport-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-rest-transport-bodies-'));
  writeMnistServable(base);
  const { files } = writeBodies(
    scratch,
    Array.from({ length: 784 }, (_, i) => (i % 17) / 17),
  );
  const series: Series[] = [
    {
      name: 'v2_rest_binary',
      path: `/v2/models/${MODEL}/infer`,
      body: files.v2RestBinary.file,
      headers: files.v2RestBinary.headers,
    },
    {
      name: 'rest_predict',
      path: `/v1/models/${MODEL}:predict`,
      body: files.rest,
      headers: { 'content-type': 'application/json' },
    },
  ];
  const here = resolve(new URL('..', import.meta.url).pathname);
  const builds = [await startBuild('this build', here, base), await startBuild('baseline', options.baseline, base)];
  try {
    // Warm-up: the model qualifies for calling-thread runs after its first measured worker runs; the JIT settles.
    for (const build of builds) for (const s of series) await h2load(build.server.restPort ?? 0, s, 8, 2000);
    const samples = new Map<string, number[]>();
    const add = (key: string, value: number) => samples.set(key, [...(samples.get(key) ?? []), value]);
    for (let round = 0; round < options.rounds; round++) {
      for (const s of series) {
        const order = round % 2 ? [...builds].reverse() : builds;
        for (const build of order) add(`${build.name} ${s.name}`, await mainThreadCost(build, s, options));
      }
    }
    const rows: BenchRow[] = series.map((s) => ({
      name: `${s.name}_c${options.connections}_main_thread_cpu_per_request_vs_baseline`,
      unit: 'CPU µs/request',
      flowserve: median(samples.get(`this build ${s.name}`) ?? []),
      peer: median(samples.get(`baseline ${s.name}`) ?? []),
      peerName: 'baseline build',
      higherIsBetter: false,
    }));
    report('rest-transport', rows, { ...options, samples: Object.fromEntries(samples) });
  } finally {
    for (const build of builds) await build.server.close();
    rmSync(base, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
