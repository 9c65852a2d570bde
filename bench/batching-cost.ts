/**
 * CPU per request of batching, without the transport: 64 requests kept in flight through ServingCore.run (the
 * path gRPC and REST call after decoding), on the MNIST softmax model and the MNIST CNN, batching on (the settings of
 * bench/serve.ts: max 64, timeout 1 ms, 2 batch threads, allowed sizes 8/16/32/64) and off. The figure is the
 * process's CPU time (every thread: the event loop, the inference workers, ONNX Runtime) over a fixed number of
 * requests, which a loaded machine stretches far less than it stretches throughput; each side runs in its own
 * process, rounds rotate the order, and the median of the rounds is kept. What it leaves out is the transport
 * (bench/serve.ts --only batching measures that, with h2load). The requests carry one client connection, as 64
 * streams on one HTTP/2 session do, so that a tiny model's runs compute on the calling thread as in a server; without
 * one, every batching-off run went to a worker (108 µs of CPU a softmax request against 23 µs).
 *
 *   node dist/bench/batching-cost.js [--rounds 3] [--baseline OTHER_DIST]
 *
 * --baseline: another build's dist/ (e.g. /work/base/dist); its ServingCore runs the same requests, batching on.
 * Writes bench/results/batching-cost.json.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report, type BenchRow } from './report.js';
import { writeCnnServable, writeMnistServable } from './serve.js';
import { BENCH_BATCHING_SETTINGS } from './serve-servers.js';
import { median } from './cpu-time.js';

const IN_FLIGHT = 64;
const REQUESTS = { softmax: 30_000, cnn: 3_000 } as const;
type ModelKey = keyof typeof REQUESTS;

interface Side {
  name: string;
  dist: string;
  batching: boolean;
}

/** Child: serve `model` from `dist`'s ServingCore, keep IN_FLIGHT requests going, print CPU µs per request. */
async function child(dist: string, base: string, model: ModelKey, batching: boolean): Promise<void> {
  const { createServingCore } = await import(join(dist, 'src/serving/core/index.js'));
  const { parseModelServerConfig } = await import(join(dist, 'src/serving/config/model-server-config.js'));
  const { defaultBatchingParameters } = await import(join(dist, 'src/serving/config/batching-parameters.js'));
  const { HostTensor } = await import(join(dist, 'src/graph/host-tensor.js'));
  const basePath = model === 'cnn' ? `${base}-cnn` : base;
  const core = await createServingCore({
    modelConfig: parseModelServerConfig(
      `model_config_list { config { name: "m" base_path: "${basePath}" model_platform: "tensorflow" } }`,
    ),
    ...(batching
      ? {
          batching: { ...defaultBatchingParameters(), ...BENCH_BATCHING_SETTINGS },
        }
      : {}),
    fileSystemPollWaitSeconds: 0,
    log: () => undefined,
  });
  await core.ready();
  const image = Float32Array.from({ length: 784 }, () => Math.random());
  const connection = {}; // one client connection for every request (RunRequest.connection)
  const one = () =>
    core.run({
      model: { name: 'm' },
      signatureName: 'predict_images',
      inputs: { images: new HostTensor('float32', [1, 784], image.slice()) },
      inputsOwned: true,
      connection,
    });
  const load = async (n: number) => {
    let started = 0;
    const lane = async () => {
      while (started < n) {
        started++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  };
  const n = REQUESTS[model];
  await load(Math.ceil(n / 3)); // warm: JIT, the calling-thread estimate, the batch sizes' first runs
  const before = process.cpuUsage();
  await load(n);
  const used = process.cpuUsage(before);
  await core.close();
  process.stdout.write(`${(used.user + used.system) / n}\n`);
}

function runChild(side: Side, base: string, model: ModelKey): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  const args = [script, '--child', side.dist, base, model, side.batching ? 'on' : 'off'];
  return new Promise((done, reject) =>
    execFile(process.execPath, args, { maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const value = Number(stdout.trim().split('\n').pop());
      if (err || !Number.isFinite(value)) reject(new Error(`${side.name} ${model}: ${err?.message ?? ''}\n${stderr}`));
      else done(value);
    }),
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const rounds = Number(flag('--rounds') ?? 3);
  const baseline = flag('--baseline');
  if (!Number.isInteger(rounds) || rounds <= 0) throw new Error('--rounds must be a positive integer');
  const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const sides: Side[] = [
    { name: 'batching on', dist: here, batching: true },
    { name: 'batching off', dist: here, batching: false },
    ...(baseline ? [{ name: 'baseline batching on', dist: resolve(baseline), batching: true }] : []),
  ];
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-batching-'));
  try {
    writeMnistServable(base);
    await writeCnnServable(base);
    console.log(
      `batching CPU per request through ServingCore, ${IN_FLIGHT} in flight, ${rounds} rotated rounds` +
        (baseline ? `; baseline ${baseline}` : '') +
        '\n',
    );
    const rows: BenchRow[] = [];
    const results: Record<string, Record<string, number[]>> = {};
    for (const model of ['softmax', 'cnn'] as const) {
      const samples = sides.map(() => [] as number[]);
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < sides.length; k++) {
          const i = (round + k) % sides.length;
          (samples[i] as number[]).push(await runChild(sides[i] as Side, base, model));
        }
      }
      results[model] = Object.fromEntries(sides.map((s, i) => [s.name, samples[i] as number[]]));
      sides.forEach((s, i) =>
        console.log(`${model}, ${s.name}: ${(samples[i] as number[]).map((v) => v.toFixed(1)).join(' / ')} µs`),
      );
      const on = median(samples[0] as number[]);
      sides.slice(1).forEach((s, j) => {
        rows.push({
          name: `batching_cpu_${model}_on_vs_${j === 0 ? 'off' : 'baseline_on'}`,
          unit: 'µs CPU/request',
          flowserve: on,
          peer: median(samples[j + 1] as number[]),
          peerName: `flowserve ${s.name}`,
          higherIsBetter: false,
        });
      });
    }
    console.log('');
    report('batching-cost', rows, { config: { inFlight: IN_FLIGHT, requests: REQUESTS, rounds, baseline }, results });
  } finally {
    rmSync(base, { recursive: true, force: true });
    rmSync(`${base}-cnn`, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf('--child');
if (childIndex >= 0) {
  const [dist, base, model, mode] = process.argv.slice(childIndex + 1);
  await child(dist as string, base as string, model as ModelKey, mode === 'on');
  process.exit(0);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
