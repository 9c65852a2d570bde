/**
 * One request in flight (c1): how much of its cost is the CPUs waking from idle. At c1 every thread, the server's
 * and the load generator's, sleeps between two requests; on a virtual machine such as this one an idle vCPU is
 * halted, and the next request's code and data are then cold. Two measurements, rounds alternated, medians:
 *
 * 1. The run of bench:serve's MNIST softmax ([1,784] → [1,10]) on this thread, by both engines flowserve's
 *    calling-thread runs use: ONNX Runtime's synchronous native session (src/serving/worker/ort-sync-session.ts) and
 *    the JavaScript plan of a tiny dense model (src/serving/worker/dense-plan.ts); back to back, and each run after
 *    sleeping 0.2 ms or 1 ms (Atomics.wait), as at c1, where a request arrives every ~0.2 ms.
 * 2. v2 REST binary infer at `wrk -t1 -c1` against flowserve and bench:serve's bare fastify peer (the same child
 *    servers bench:serve starts), once with the CPUs left to idle and once with one spinner process per CPU at nice
 *    19, which takes only the cycles nothing else wants and so keeps every vCPU out of idle.
 *
 *   node dist/bench/idle-wake.js [--seconds 3] [--rounds 3]
 *
 * A diagnosis, not a target: it shows how much of the c1 rows in bench:serve is the machine's idle state rather than
 * either server's work (docs/performance.md, "Round 10").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HostTensor } from '../src/graph/host-tensor.js';
import { MAX_MODEL_BYTES } from '../src/serving/worker/calling-thread-runs.js';
import { DensePlan, loadDensePlan } from '../src/serving/worker/dense-plan.js';
import { createSyncSession } from '../src/serving/worker/ort-sync-session.js';
import { median } from './cpu-time.js';
import { INSTALL_HINT, nativeGenerators, runWrk } from './native-load.js';
import { report, type BenchRow } from './report.js';
import { writeBodies, writeServedModels } from './serve.js';
import { MODEL, spawnServer } from './serve-servers.js';

interface Options {
  seconds: number;
  rounds: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 3, rounds: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (flag === '--seconds') options.seconds = value;
    else if (flag === '--rounds') options.rounds = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (![options.seconds, options.rounds].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('--seconds and --rounds must be positive integers');
  }
  return options;
}

/** The pauses between runs of part 1, in ms (0: back to back). */
const PAUSES_MS = [0, 0.2, 1];
const RUNS_PER_PAUSE: Record<number, number> = { 0: 5000, 0.2: 1500, 1: 500 };

const ENGINES = ['onnxruntime', 'javascript'] as const;
type Engine = (typeof ENGINES)[number];

/**
 * Part 1: µs per run of the softmax by each engine after each pause (`${engine} ${pause}`), one sample per round;
 * the pauses and the engines alternate within a round.
 */
async function measureRuns(modelPath: string, rounds: number): Promise<Map<string, number[]>> {
  const session = createSyncSession(modelPath);
  if (!session) throw new Error("onnxruntime-node's native binding is not as flowserve expects (ort-sync-session.ts)");
  const plan = await loadDensePlan(modelPath, MAX_MODEL_BYTES);
  if (!(plan instanceof DensePlan)) throw new Error(`the MNIST softmax got no JavaScript plan: ${plan.reason}`);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const input = new Float32Array(784).fill(0.5);
  const run: Record<Engine, () => unknown> = {
    onnxruntime: () => session.run({ x: new ort.Tensor('float32', input, [1, 784]) }, ['y']),
    javascript: () => plan.run({ x: new HostTensor('float32', [1, 784], input) }, ['y']),
  };
  for (const engine of ENGINES) for (let i = 0; i < 2000; i++) run[engine]();
  const samples = new Map<string, number[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const pause of round % 2 ? [...PAUSES_MS].reverse() : PAUSES_MS) {
        for (const engine of round % 2 ? [...ENGINES].reverse() : ENGINES) {
          const count = RUNS_PER_PAUSE[pause] as number;
          let ns = 0;
          for (let i = 0; i < count; i++) {
            if (pause > 0) Atomics.wait(sleeper, 0, 0, pause);
            const started = process.hrtime.bigint();
            run[engine]();
            ns += Number(process.hrtime.bigint() - started);
          }
          const key = `${engine} ${pause}`;
          samples.set(key, [...(samples.get(key) ?? []), ns / count / 1000]);
        }
      }
    }
  } finally {
    session.release();
  }
  return samples;
}

/** One spinner per CPU at nice 19: every vCPU stays out of idle, and any other thread that wants a core gets it. */
function startSpinners(): ChildProcess[] {
  return os.cpus().map(() => {
    const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    if (child.pid !== undefined) os.setPriority(child.pid, 19);
    return child;
  });
}

interface LoadSample {
  rps: number[];
  p50Ms: number[];
  generator: number[];
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!nativeGenerators().wrk) throw new Error(`bench:idle-wake needs wrk (${INSTALL_HINT})`);
  const base = join(mkdtempSync(join(os.tmpdir(), 'flowserve-idle-wake-')), 'mnist');
  await writeServedModels(base);
  const scratch = mkdtempSync(join(os.tmpdir(), 'flowserve-idle-wake-wrk-'));
  const { files } = writeBodies(
    scratch,
    Array.from({ length: 784 }, (_, i) => (i % 17) / 17),
  );

  const runs = await measureRuns(join(base, '1', 'model.onnx'), options.rounds);
  const runUs = (engine: Engine, pause: number) => median(runs.get(`${engine} ${pause}`) ?? []);
  console.log(`A run of the MNIST softmax on this thread, ${options.rounds} rounds (medians):`);
  console.log(`  ${''.padEnd(24)}${ENGINES.map((e) => e.padStart(13)).join('')}`);
  for (const pause of PAUSES_MS)
    console.log(
      `  ${pause === 0 ? 'back to back' : `after ${pause} ms asleep`}`.padEnd(26) +
        ENGINES.map((e) => `${runUs(e, pause).toFixed(1)} µs`.padStart(13)).join(''),
    );

  const servers = { flowserve: await spawnServer('flowserve', base), bare: await spawnServer('bare', base) };
  const load = new Map<string, LoadSample>();
  let spinners: ChildProcess[] = [];
  try {
    const c1 = (port: number, seconds: number) =>
      runWrk({
        url: `http://127.0.0.1:${port}/v2/models/${MODEL}/infer`,
        bodyFile: files.v2RestBinary.file,
        headers: files.v2RestBinary.headers,
        connections: 1,
        durationS: seconds,
        scratch,
      });
    for (const server of Object.values(servers)) await c1(server.restPort, 1); // warm-up: the JIT settles
    for (let round = 0; round < options.rounds; round++) {
      for (const cpus of round % 2 ? ['busy', 'idle'] : ['idle', 'busy']) {
        if (cpus === 'busy') spinners = startSpinners();
        try {
          for (const [name, server] of Object.entries(servers)) {
            const result = await c1(server.restPort, options.seconds);
            const key = `${name} ${cpus}`;
            const entry = load.get(key) ?? { rps: [], p50Ms: [], generator: [] };
            entry.rps.push(result.throughput);
            entry.p50Ms.push(result.p50Ms);
            entry.generator.push(result.generatorCpuS / result.seconds);
            load.set(key, entry);
          }
        } finally {
          for (const spinner of spinners) spinner.kill('SIGKILL');
          spinners = [];
        }
      }
    }
  } finally {
    for (const spinner of spinners) spinner.kill('SIGKILL');
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    rmSync(join(base, '..'), { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(
    `\nv2 REST binary infer, wrk -t1 -c1, ${options.seconds} s per run, ${options.rounds} rounds alternated (medians):`,
  );
  for (const [key, s] of load) {
    console.log(
      `  ${key.padEnd(16)} ${median(s.rps).toFixed(0).padStart(6)} req/s, p50 ${median(s.p50Ms).toFixed(3)} ms, ` +
        `wrk ${(median(s.generator) * 100).toFixed(0)} % of one core`,
    );
  }
  console.log('');

  const rows: BenchRow[] = PAUSES_MS.filter((p) => p > 0).map((pause) => ({
    name: `ort_run_after_${pause * 1000}us_asleep_vs_back_to_back`,
    unit: 'µs/run',
    flowserve: runUs('onnxruntime', pause),
    peer: runUs('onnxruntime', 0),
    peerName: 'the same run back to back',
    higherIsBetter: false,
  }));
  for (const pause of PAUSES_MS) {
    rows.push({
      name: `javascript_run_${pause === 0 ? 'back_to_back' : `after_${pause * 1000}us_asleep`}_vs_ort`,
      unit: 'µs/run',
      flowserve: runUs('javascript', pause),
      peer: runUs('onnxruntime', pause),
      peerName: 'ONNX Runtime, the same pause',
      higherIsBetter: false,
    });
  }
  for (const cpus of ['idle', 'busy']) {
    const flow = load.get(`flowserve ${cpus}`);
    const bare = load.get(`bare ${cpus}`);
    if (!flow || !bare) continue;
    rows.push({
      name: `v2_rest_binary_c1_cpus_${cpus}_throughput`,
      unit: 'req/s',
      flowserve: median(flow.rps),
      peer: median(bare.rps),
      peerName: 'bare fastify',
      higherIsBetter: true,
    });
  }
  report('idle-wake', rows, {
    config: options,
    runUs: Object.fromEntries([...runs].map(([key, us]) => [key.replace(' ', ' after ') + ' ms', us])),
    load: Object.fromEntries(load),
  });
}

await main();
