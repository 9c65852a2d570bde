/**
 * flowserve's own CPU per request, without a transport: the parts of the request path that bench:request-cost
 * measures only inside a whole server, where two server processes of one build differ by more (how many of a
 * burst's runs go to the workers depends on each process's calling-thread estimate) than most single changes save.
 * Both builds run in this one process, rounds alternated, on the bench's MNIST softmax model (batch 1):
 *
 *  - `worker_handoff`: bursts of 24 runs posted in one turn to a one-worker pool (calling-thread runs off), as the
 *    requests of a `-m32` burst beyond the calling thread's budget are; main-thread and process CPU per run;
 *  - `core_path`: one request at a time through ServingCore.run (admission, validation, the servable, the
 *    calling-thread run once the model qualifies, statistics) and ServingMetrics.recordRequest: main-thread CPU per
 *    request;
 *  - `v2_grpc_wire`: ModelInfer's own work on the request's bytes, without the run: the bench's ModelInferRequest
 *    (raw_input_contents, 784 FP32) read, resolved, admitted and decoded (infer-request-wire.ts, infer-inputs.ts),
 *    and the softmax's ModelInferResponse encoded raw: main-thread CPU per request;
 *  - `grpc_predict_wire`: Predict's own work on the request's bytes, without the run: the bench's PredictRequest (784
 *    floats in `tensor_content`) read (predict-wire.ts), its tensor decoded into the storage this build's Predict
 *    gives it (a request slab where the build has serving/request-buffers.ts), and the softmax's PredictResponse
 *    encoded: main-thread CPU per request.
 *
 *   node dist/bench/request-path.js [--runs 24000] [--rounds 3] --baseline OTHER/dist
 *
 * Main-thread CPU comes from /proc/thread-self/stat (10 ms ticks: each figure spans ≥ 1 s of CPU), process CPU
 * from process.cpuUsage().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HostTensor } from '../src/graph/host-tensor.js';
import { report, type BenchRow } from './report.js';
import { defaultModelConfig } from '../src/serving/config/model-server-config.js';
import { writeBodies, writeMnistServable } from './serve.js';
import { MODEL } from './serve-servers.js';
import { median, threadCpuMicros } from './cpu-time.js';

interface Options {
  runs: number;
  rounds: number;
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 24_000, rounds: 3, baseline: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--runs') options.runs = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--baseline') options.baseline = resolve(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

function processCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const BURST = 24;
const PIXELS = 784;

interface PooledModelLike {
  run(feeds: Record<string, HostTensor>, fetches: readonly string[], options?: object): Promise<unknown>;
}

interface Build {
  name: string;
  pool: { loadModel(path: string): Promise<PooledModelLike>; close(): Promise<void> };
  core: {
    start(): Promise<void>;
    ready(): Promise<void>;
    run(request: object): Promise<unknown>;
    recordRequest(record: object): void;
    close(): Promise<void>;
  };
  model: PooledModelLike;
  /** One request's v2 gRPC decode and encode (no run), as this build's ModelInfer does them. */
  v2Wire(bytes: Uint8Array): unknown;
  /** One PredictRequest's decode and its response's encode (no run), as this build's Predict does them. */
  predictWire(bytes: Buffer): unknown;
}

interface PredictWireModules {
  decodePredictRequest(bytes: Buffer): { inputs: Record<string, object> };
  decodeTensorProto(proto: object, alias: string, admit?: undefined, storage?: unknown): HostTensor;
  allocateForRequest?: unknown;
  encodePredictResponse(response: object): Buffer;
}

interface V2WireModules {
  decodeModelInferRequest(bytes: Uint8Array): unknown;
  decodeInferRequest(core: unknown, wire: unknown, deadline: undefined): unknown;
  encodeModelInferResponse(result: object, raw: boolean): Buffer;
}

async function loadBuild(name: string, dist: string, base: string): Promise<Build> {
  const at = (path: string) => pathToFileURL(join(dist, path)).href;
  const { WorkerPool } = (await import(at('src/serving/worker/worker-pool.js'))) as {
    WorkerPool: new (options: object) => Build['pool'];
  };
  const { ServingCoreImpl } = (await import(at('src/serving/core/serving-core.js'))) as {
    ServingCoreImpl: new (options: object) => Build['core'];
  };
  const pool = new WorkerPool({ size: 1, intraOpNumThreads: 1, callingThreadRuns: false });
  const model = await pool.loadModel(join(base, '1', 'model.onnx'));
  const core = new ServingCoreImpl({
    modelConfig: {
      models: [defaultModelConfig(MODEL, base)],
    },
    numWorkers: 1,
    fileSystemPollWaitSeconds: 0,
    log: () => undefined,
  });
  await core.start();
  await core.ready();
  const wire = {
    ...(await import(at('src/serving/apis/grpc/v2/infer-request-wire.js'))),
    ...(await import(at('src/serving/apis/grpc/v2/infer-inputs.js'))),
    ...(await import(at('src/serving/apis/grpc/v2/infer-response-wire.js'))),
  } as V2WireModules;
  const scores = new HostTensor('float32', [1, 10], new Float32Array(10).fill(0.1));
  const result = {
    modelName: MODEL,
    modelVersion: '1',
    outputs: [{ name: 'scores', datatype: 'FP32', shape: [1, 10], tensor: scores }],
  };
  const v2Wire = (bytes: Uint8Array) => {
    const decoded = wire.decodeInferRequest(core, wire.decodeModelInferRequest(bytes), undefined);
    return decoded instanceof Promise
      ? decoded.then(() => wire.encodeModelInferResponse(result, true))
      : wire.encodeModelInferResponse(result, true);
  };
  const predict = {
    ...(await import(at('src/serving/apis/grpc/predict-wire.js'))),
    ...(await import(at('src/serving/apis/shared/tensor-proto.js'))),
    // Builds before request slabs have no such module: their decoder allocates each tensor's own buffer.
    ...((await import(at('src/serving/request-buffers.js')).catch(() => ({}))) as object),
  } as PredictWireModules;
  const predictResponse = {
    outputs: { scores },
    model_spec: { name: MODEL, version: { value: '1' }, signature_name: 'predict_images' },
    tensorContent: false,
  };
  const predictWire = (bytes: Buffer) => {
    const request = predict.decodePredictRequest(bytes);
    const proto = request.inputs.images as object;
    predict.decodeTensorProto(proto, 'images', undefined, predict.allocateForRequest);
    return predict.encodePredictResponse(predictResponse);
  };
  return { name, pool, core, model, v2Wire, predictWire };
}

const pixels = Float32Array.from({ length: PIXELS }, (_, i) => (i % 17) / 17);
/** A fresh input per request (its buffer is moved to a worker): a copy, as a decoder makes. */
const image = () => new HostTensor('float32', [1, PIXELS], pixels.slice());

async function handoff(build: Build, runs: number): Promise<{ main: number; process: number }> {
  const main0 = threadCpuMicros();
  const process0 = processCpuMicros();
  for (let done = 0; done < runs; done += BURST) {
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < BURST; i++) burst.push(build.model.run({ x: image() }, ['y'], { transferInputs: true }));
    await Promise.all(burst);
  }
  return { main: (threadCpuMicros() - main0) / runs, process: (processCpuMicros() - process0) / runs };
}

async function corePath(build: Build, requests: number): Promise<number> {
  const main0 = threadCpuMicros();
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    await build.core.run({
      model: { name: MODEL },
      signatureName: 'predict_images',
      inputs: { images: image() },
      inputsOwned: true,
    });
    build.core.recordRequest({
      model: MODEL,
      version: 1,
      api: 'Predict',
      status: 'OK',
      latencySeconds: (performance.now() - started) / 1000,
    });
  }
  return (threadCpuMicros() - main0) / requests;
}

/** `bytes` as a DATA chunk holds them: after the 5-byte gRPC prefix, at an offset not a multiple of 4. */
function inChunk(message: Uint8Array): Uint8Array {
  const chunk = Buffer.alloc(message.byteLength + 5);
  chunk.set(message, 5);
  return chunk.subarray(5);
}

async function v2WirePath(build: Build, bytes: Uint8Array, requests: number): Promise<number> {
  const main0 = threadCpuMicros();
  for (let i = 0; i < requests; i++) {
    const done = build.v2Wire(bytes);
    if (done instanceof Promise) await done;
  }
  return (threadCpuMicros() - main0) / requests;
}

async function predictWirePath(build: Build, bytes: Buffer, requests: number): Promise<number> {
  const main0 = threadCpuMicros();
  for (let i = 0; i < requests; i++) build.predictWire(bytes);
  return (threadCpuMicros() - main0) / requests;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!options.baseline) throw new Error('--baseline OTHER/dist is required: the figures are a comparison');
  const base = mkdtempSync(join(tmpdir(), 'flowserve-request-path-'));
  writeMnistServable(base);
  const image = Array.from(pixels);
  const { messages } = writeBodies(base, image);
  const v2Request = inChunk(messages.v2Infer);
  const predictRequest = Buffer.from(inChunk(messages.predict));
  const here = resolve(new URL('..', import.meta.url).pathname);
  const builds = [await loadBuild('this build', here, base), await loadBuild('baseline', options.baseline, base)];
  // Warm-up: the core's model qualifies for calling-thread runs after its first measured worker runs.
  for (const build of builds) {
    await handoff(build, BURST * 20);
    await corePath(build, 500);
    await v2WirePath(build, v2Request, 2000);
    await predictWirePath(build, predictRequest, 2000);
  }
  const samples = new Map<string, number[]>();
  const add = (key: string, value: number) => samples.set(key, [...(samples.get(key) ?? []), value]);
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 ? [...builds].reverse() : builds;
    for (const build of order) {
      const h = await handoff(build, options.runs);
      add(`${build.name} handoff main`, h.main);
      add(`${build.name} handoff process`, h.process);
      add(`${build.name} core main`, await corePath(build, options.runs));
      add(`${build.name} v2 wire main`, await v2WirePath(build, v2Request, options.runs * 4));
      add(`${build.name} predict wire main`, await predictWirePath(build, predictRequest, options.runs * 4));
    }
  }
  const m = (key: string) => median(samples.get(key) ?? []);
  const rows: BenchRow[] = [
    ['worker_handoff_main_thread', 'handoff main'],
    ['worker_handoff_process', 'handoff process'],
    ['core_path_main_thread', 'core main'],
    ['v2_grpc_wire_main_thread', 'v2 wire main'],
    ['grpc_predict_wire_main_thread', 'predict wire main'],
  ].map(([name, key]) => ({
    name: `${name}_cpu_per_request_vs_baseline`,
    unit: 'CPU µs/request',
    flowserve: m(`this build ${key}`),
    peer: m(`baseline ${key}`),
    peerName: 'baseline build',
    higherIsBetter: false,
  }));
  report('request-path', rows, { runs: options.runs, rounds: options.rounds, samples: Object.fromEntries(samples) });
  for (const build of builds) {
    await build.core.close();
    await build.pool.close();
  }
  rmSync(base, { recursive: true, force: true });
}

await main();
