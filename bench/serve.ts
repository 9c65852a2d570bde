/**
 * Serving benchmark: flowserve against bare transports on the same machine, in one run.
 *
 * An MNIST-shaped softmax servable (x [?,784] → MatMul W [784,10] + b → Softmax → y) is written to a temp dir and
 * served by flowserve; the load generator (src/cli/bench.ts `runLoad`) sends batch-1 requests at concurrency
 * 1/8/32/64, each level bounded by --requests (default 4000) or --seconds (default 5), whichever comes first.
 *
 *   - gRPC Predict (and Classify at c32): flowserve vs a bare @grpc/grpc-js server on the same
 *     tensorflow.serving.PredictionService methods (from proto/) answering a canned response of the same size;
 *     Predict and Classify on one connection also against that server with its HTTP/2 receive windows opened to
 *     flowserve's 1 MiB (kind `bare-windowed`): with grpc-js's 64 KiB, C streams' request bodies wait for the
 *     window, which lowers the peer's median and raises its tail (docs/performance.md, "Round 23");
 *   - REST :predict: flowserve vs a bare fastify server on the same route answering a canned JSON body;
 *   - batching on (max_batch_size 64, batch_timeout_micros 1000, num_batch_threads 2, allowed_batch_sizes
 *     8/16/32/64) vs off, gRPC Predict, c64, on the softmax model and on the MNIST CNN (a model whose run costs
 *     more than the request handling around it), on two servers of their own that serve nothing before, both first
 *     loaded for 2 s at c64 (BATCHING_WARM_SECONDS);
 *   - the Open Inference Protocol (v2): gRPC ModelInfer with raw contents vs a bare grpc-js server answering the
 *     same canned ModelInferResponse; REST infer with binary tensors vs a bare fastify route answering the same
 *     canned bytes; REST binary vs REST JSON for a [1,3,224,224] FP32 input (a sum model; both request bodies
 *     encoded once, so the server's decoding is what differs); v2 vs v1 on the same softmax model (gRPC infer vs
 *     Predict, REST JSON infer vs :predict, each client encoding its request every time).
 *
 * Every server runs in its own child process (bench/serve-servers.ts, started with --child KIND) so the load
 * generator does not share an event loop with the server it measures, and the server's heap holds only what
 * `flowserve serve` would hold; only one server process is loaded at a time. All bind 127.0.0.1 on
 * ephemeral ports. The client side (typed gRPC client / fetch) is the same code for flowserve and for its peer.
 *
 * The load generator is native by default (bench/native-load.ts): h2load drives gRPC, on one connection with C streams
 * and on C connections with one stream each, and wrk drives REST with C connections; both sides of a comparison are
 * measured by the same generator in the same run, rounds alternated, and the generator's own CPU time is printed to
 * show its headroom. There the batching pairs (on vs off at the highest concurrency) are measured for at least 16 s a
 * side in rounds of 1 s (BATCHING_MIN_SECONDS). Without h2load or wrk (or with --generator node) the Node.js client measures,
 * with a warning: it saturates before the bare peers do, so its ratios flatter flowserve.
 *
 *   node dist/bench/serve.js [--requests N] [--seconds S] [--concurrency 1,8,32,64] [--generator native|node]
 *     [--only all|v2|cnn-batching|batching|dashboard] [--baseline OTHER_DIST]
 *
 * `--only batching`: only the batching pairs (batching on vs off at the highest --concurrency, softmax, CNN and MLP,
 * h2load on one connection), each side's server CPU time per request beside it (/proc/PID/stat: on this shared
 * machine CPU per request moves far less than throughput). With `--baseline OTHER_DIST` (another build's dist/,
 * e.g. /work/base/dist) that build's batching-on server is measured too, in the same rounds (order rotated each
 * round; use --rounds 3 or more). Writes bench/results/serve-batching.json.
 *
 * `--only dashboard`: one flowserve server (dashboard on, as by default), with the dashboard page open in a headless
 * chromium on the live-load view (bench/dashboard-viewer.ts) against no page open; REST :predict (wrk) and gRPC
 * Predict (h2load, 1 connection) at each level, rounds alternated. Rows: dashboard open / closed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, credentials, type ServiceDefinition } from '@grpc/grpc-js';
import { exampleMsg, GrpcServingClient } from '../src/client/grpc-client.js';
import { RestServingClient } from '../src/client/rest-client.js';
import {
  encodeGrpcInfer,
  GrpcV2Client,
  INFERENCE_SERVICE,
  loadInferencePackageDefinition,
} from '../src/client/v2/grpc.js';
import { decodeRestInfer, encodeRestInfer, INFERENCE_HEADER, RestV2Client } from '../src/client/v2/rest.js';
import type { V2ModelTarget } from '../src/client/v2/types.js';
import { formatLoadTable, percentile, runLoad, type LoadResult } from '../src/cli/bench.js';
import { HostTensor } from '../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { exportModel } from '../src/export/export.js';
import { predictSignature } from '../src/export/signatures.js';
import { Graph, withGraph } from '../src/graph/graph.js';
import { globalVariablesInitializer } from '../src/ops/variables.js';
import { Session } from '../src/runtime/session.js';
import { buildModel } from '../src/train/models.js';
import { protobufRoot } from '../src/serving/apis/shared/protos.js';
import { encodeTensorProto } from '../src/serving/apis/shared/tensor-proto.js';
import type { SignatureFile } from '../src/serving/core/types.js';
import {
  grpcFrame,
  INSTALL_HINT,
  mergeNative,
  nativeGenerators,
  runH2load,
  runWrk,
  type NativeLoadResult,
} from './native-load.js';
import { report, type BenchRow } from './report.js';
import {
  benchBatching,
  CLASSES,
  CNN_MODEL,
  MLP_MODEL,
  LABELS,
  LARGE_MODEL,
  MODEL,
  PREDICT_SIGNATURE,
  serverScript,
  spawnServer,
  type ChildKind,
  type Ports,
  type ServerProcess,
} from './serve-servers.js';
// dashboard-viewer.js is imported where --only dashboard runs: it loads playwright-core, a development dependency
// that the GPU device pack (scripts/gpu/pack.sh, production dependencies only) does not carry.
import type { DashboardBrowser } from './dashboard-viewer.js';

const PIXELS = 784;
const LARGE_SHAPE = [1, 3, 224, 224];

// ---------------------------------------------------------------------------------------------------------------
// The servable

function signatures(): SignatureFile {
  const input = { name: 'x', dtype: 'float32' as const, shape: [-1, PIXELS] };
  const scores = { name: 'y', dtype: 'float32' as const, shape: [-1, CLASSES] };
  return {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/classify',
        inputs: { inputs: input },
        outputs: { scores },
        classLabels: LABELS,
        exampleFeatures: { x: { input: 'inputs', kind: 'float_list', shape: [PIXELS] } },
      },
      [PREDICT_SIGNATURE]: {
        method: 'tensorflow/serving/predict',
        inputs: { images: input },
        outputs: { scores },
      },
    },
  };
}

/** Writes <base>/1/{model.onnx,signatures.json}: y = softmax(x·W + b) with random W, b. */
export function writeMnistServable(base: string): void {
  const g = new OnnxGraphBuilder('mnist_softmax');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', PIXELS] });
  const w = Float32Array.from({ length: PIXELS * CLASSES }, () => (Math.random() - 0.5) * 0.1);
  const b = Float32Array.from({ length: CLASSES }, () => (Math.random() - 0.5) * 0.1);
  const wName = g.constant(new HostTensor('float32', [PIXELS, CLASSES], w), 'W');
  const bName = g.constant(new HostTensor('float32', [CLASSES], b), 'b');
  const logits = g.op('Add', [g.op('MatMul', ['x', wName]), bName]);
  g.op('Softmax', [logits], { axis: -1 }, 'y');
  g.output({ name: 'y', dtype: 'float32', shape: ['batch', CLASSES] });
  const tmp = join(base, '.tmp-1');
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'model.onnx'), g.build());
  writeFileSync(join(tmp, 'signatures.json'), JSON.stringify(signatures()));
  renameSync(tmp, join(base, '1'));
}

/** Writes the four models every bench server serves (serve-servers.ts's startFlowserve): base, -cnn, -mlp and -sum. */
export async function writeServedModels(base: string): Promise<void> {
  writeMnistServable(base);
  await writeCnnServable(base);
  await writeMlpServable(base);
  writeLargeServable(base);
}

/** Removes what writeServedModels wrote. */
export function removeServedModels(base: string): void {
  for (const dir of [base, `${base}-cnn`, `${base}-mlp`, `${base}-sum`]) rmSync(dir, { recursive: true, force: true });
}

/** Writes <base>-sum/1/: sum[b] = Σ x[b, :, :, :] for x [?,3,224,224] (an identity would echo 600 KB back). */
export function writeLargeServable(base: string): void {
  const g = new OnnxGraphBuilder('sum224');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', 3, 224, 224] });
  g.op('ReduceSum', ['x', g.int64s([1, 2, 3])], { keepdims: 0 }, 'sum');
  g.output({ name: 'sum', dtype: 'float32', shape: ['batch'] });
  const tmp = join(`${base}-sum`, '.tmp-1');
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'model.onnx'), g.build());
  const signatures: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: { x: { name: 'x', dtype: 'float32', shape: [-1, 3, 224, 224] } },
        outputs: { sum: { name: 'sum', dtype: 'float32', shape: [-1] } },
      },
    },
  };
  writeFileSync(join(tmp, 'signatures.json'), JSON.stringify(signatures));
  renameSync(tmp, join(`${base}-sum`, '1'));
}

/** Exports the MNIST CNN (two conv+pool blocks, dense 1024) with initial weights to `<base>-cnn/00000001`. */
export async function writeCnnServable(base: string): Promise<void> {
  await writeBuiltServable('cnn', `${base}-cnn`);
}

/** Exports the MNIST MLP (784-256-128-10, ReLU) with initial weights to `<base>-mlp/00000001`. */
export async function writeMlpServable(base: string): Promise<void> {
  await writeBuiltServable('mlp', `${base}-mlp`);
}

/** One of train/models.ts's MNIST models, initialised with seed 1, exported as version 1 with predict_images. */
async function writeBuiltServable(name: 'cnn' | 'mlp', exportBase: string): Promise<void> {
  const g = new Graph();
  const model = withGraph(g, () => buildModel(name, { seed: 1 }));
  const session = new Session(g, { logger: () => {} });
  await session.run(globalVariablesInitializer(g));
  await exportModel(session, {
    exportBase,
    version: 1,
    signatures: {
      [PREDICT_SIGNATURE]: predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
    },
  });
  await session.close();
}

// ---------------------------------------------------------------------------------------------------------------
// Server processes

// ---------------------------------------------------------------------------------------------------------------
// Load

interface Options {
  requests: number;
  seconds: number;
  concurrency: number[];
  /** Alternating flowserve/peer rounds per level; the level's bound is split between them. */
  rounds: number;
  /** Where flowserve runs the models (--device, as `flowserve serve --device`). */
  device: 'cpu' | 'gpu';
  /**
   * `cnn-batching`: only batching on vs off on the CNN (the GPU check's short run); `batching`: only batching on vs
   * off, softmax, CNN and MLP (h2load); `v2`: only the v2 rows; `dashboard`: only the dashboard open vs closed.
   */
  only: 'all' | 'v2' | 'cnn-batching' | 'batching' | 'dashboard';
  /** `--only batching`: another build's dist/ whose batching-on server is measured against this build's. */
  baseline?: string;
  /** `native`: h2load and wrk when both are installed (the default); `node`: the Node.js client of src/cli/bench.ts. */
  generator: 'native' | 'node';
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    requests: 4000,
    seconds: 5,
    concurrency: [1, 8, 32, 64],
    rounds: 2,
    device: 'cpu',
    only: 'all',
    generator: 'native',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--requests' && value) options.requests = Number(value);
    else if (flag === '--seconds' && value) options.seconds = Number(value);
    else if (flag === '--concurrency' && value) options.concurrency = value.split(',').map(Number);
    else if (flag === '--rounds' && value) options.rounds = Number(value);
    else if (flag === '--device' && (value === 'cpu' || value === 'gpu')) options.device = value;
    else if (
      flag === '--only' &&
      (value === 'all' || value === 'v2' || value === 'cnn-batching' || value === 'batching' || value === 'dashboard')
    )
      options.only = value;
    else if (flag === '--baseline' && value) options.baseline = value;
    else if (flag === '--generator' && (value === 'native' || value === 'node')) options.generator = value;
    else if (flag === '--device' || flag === '--only' || flag === '--generator')
      throw new Error(`invalid value for ${flag}: '${value ?? ''}'`);
    else continue;
    i++;
  }
  const counts = [options.requests, options.seconds, options.rounds, ...options.concurrency];
  if (counts.some((n) => !(n > 0)) || !Number.isInteger(options.rounds))
    throw new Error('--requests, --seconds, --rounds and --concurrency must be positive');
  return options;
}

interface Target {
  grpcPredict: () => Promise<unknown>;
  /** Predict on the CNN (flowserve servers only). */
  grpcPredictCnn: () => Promise<unknown>;
  /** Predict on the MLP (flowserve servers only). */
  grpcPredictMlp: () => Promise<unknown>;
  grpcClassify: () => Promise<unknown>;
  restPredict: () => Promise<unknown>;
  /** v2 gRPC ModelInfer, raw contents, softmax model. */
  v2GrpcInfer: () => Promise<unknown>;
  /** v2 REST infer, binary input and outputs, the same request bytes every time, softmax model. */
  v2RestBinary: () => Promise<unknown>;
  /** v2 REST infer, JSON, the client encoding every request (as v1's REST client does), softmax model. */
  v2RestJson: () => Promise<unknown>;
  /** v2 REST infer on the [1,3,224,224] sum model, binary / JSON bodies encoded once (flowserve servers only). */
  v2LargeBinary: () => Promise<unknown>;
  v2LargeJson: () => Promise<unknown>;
  close(): void;
}

/** Sends one encoded v2 REST infer request, checks the status and decodes the answer as the client does. */
function v2RestSender(client: RestV2Client, target: V2ModelTarget, encoded: ReturnType<typeof encodeRestInfer>) {
  const path = `/v2/models/${target.name}/infer`;
  return async () => {
    const response = await client.send('POST', path, encoded.body, encoded.headers);
    if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${response.body.toString('utf8', 0, 300)}`);
    const header = response.headers.get(INFERENCE_HEADER);
    return decodeRestInfer(response.body, header === null ? undefined : Number(header));
  };
}

function target(ports: Ports, image: number[]): Target {
  const grpc = new GrpcServingClient(`127.0.0.1:${ports.grpcPort}`);
  const rest = new RestServingClient(`127.0.0.1:${ports.restPort}`);
  const grpcV2 = new GrpcV2Client(`127.0.0.1:${ports.grpcPort}`);
  const restV2 = new RestV2Client(`127.0.0.1:${ports.restPort}`);
  const tensor = HostTensor.from('float32', [image], [1, PIXELS]);
  const restBody = { signature_name: PREDICT_SIGNATURE, instances: [image] };
  // The v2 requests address the default signature (serving_default), whose input alias is `inputs`.
  const mnist = { name: MODEL };
  const large = { name: LARGE_MODEL };
  const largeInput = {
    x: new HostTensor('float32', LARGE_SHAPE, Float32Array.from({ length: 3 * 224 * 224 }, Math.random)),
  };
  return {
    grpcPredict: () => grpc.predict({ name: MODEL, signatureName: PREDICT_SIGNATURE }, { images: tensor }),
    grpcPredictCnn: () => grpc.predict({ name: CNN_MODEL, signatureName: PREDICT_SIGNATURE }, { images: tensor }),
    grpcPredictMlp: () => grpc.predict({ name: MLP_MODEL, signatureName: PREDICT_SIGNATURE }, { images: tensor }),
    grpcClassify: () => grpc.classify({ name: MODEL }, [{ x: image }]),
    restPredict: () => rest.request('POST', `/v1/models/${MODEL}:predict`, restBody),
    v2GrpcInfer: () => grpcV2.infer(mnist, { inputs: tensor }),
    v2RestBinary: v2RestSender(restV2, mnist, encodeRestInfer(mnist, { inputs: tensor }, { binary: true })),
    v2RestJson: () => restV2.infer(mnist, { inputs: tensor }),
    v2LargeBinary: v2RestSender(restV2, large, encodeRestInfer(large, largeInput, { binary: true })),
    v2LargeJson: v2RestSender(restV2, large, encodeRestInfer(large, largeInput, {})),
    close: () => {
      grpc.close();
      grpcV2.close();
      restV2.close();
    },
  };
}

/** One measured series: per concurrency level, the merged result of its rounds. */
type Series = LoadResult[];

/** Times every completed call of `send` into `latencies`. */
function timed(send: () => Promise<unknown>, latencies: number[]): () => Promise<unknown> {
  return async () => {
    const t = performance.now();
    const result = await send();
    latencies.push(performance.now() - t);
    return result;
  };
}

function merge(concurrency: number, parts: readonly LoadResult[], latencies: number[]): LoadResult {
  latencies.sort((a, b) => a - b);
  const requests = parts.reduce((s, r) => s + r.requests, 0);
  const seconds = parts.reduce((s, r) => s + r.seconds, 0);
  return {
    concurrency,
    requests,
    errors: parts.reduce((s, r) => s + r.errors, 0),
    seconds,
    throughput: requests / seconds,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
  };
}

/**
 * Measures flowserve and its peer at each level in alternating rounds (A B, then B A, ...), each round with a share
 * of the level's bound, so that drift in the machine's load falls on both sides alike.
 */
async function measurePair(
  label: string,
  sends: { flowserve: () => Promise<unknown>; peer: () => Promise<unknown> },
  levels: readonly number[],
  options: Options,
): Promise<{ flowserve: Series; peer: Series }> {
  const out = { flowserve: [] as Series, peer: [] as Series };
  const sides = ['flowserve', 'peer'] as const;
  // Warm the connections, the JIT and (for flowserve) the worker sessions.
  for (const side of sides) await runLoad(sends[side], 8, { requests: 200, durationS: 2 });
  const bound = { requests: Math.ceil(options.requests / options.rounds), durationS: options.seconds / options.rounds };
  for (const level of levels) {
    const parts = { flowserve: [] as LoadResult[], peer: [] as LoadResult[] };
    const latencies = { flowserve: [] as number[], peer: [] as number[] };
    for (let round = 0; round < options.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const result = await runLoad(timed(sends[side], latencies[side]), level, bound);
        if (result.errors > 0) {
          // Surface the first error so a broken run is not mistaken for a slow one.
          try {
            await sends[side]();
          } catch (err) {
            throw new Error(`${label} ${side} c${level}: ${result.errors} errors; e.g. ${String(err)}`, { cause: err });
          }
        }
        parts[side].push(result);
      }
    }
    for (const side of sides) out[side].push(merge(level, parts[side], latencies[side]));
  }
  console.log(formatLoadTable(`${label}: flowserve`, out.flowserve));
  console.log(formatLoadTable(`${label}: peer`, out.peer) + '\n');
  return out;
}

function at(rows: readonly LoadResult[], concurrency: number): LoadResult {
  const row = rows.find((r) => r.concurrency === concurrency);
  if (!row) throw new Error(`no result at concurrency ${concurrency}`);
  return row;
}

function compareRows(
  prefix: string,
  flowserve: readonly LoadResult[],
  peer: readonly LoadResult[],
  peerName: string,
  target?: string,
): BenchRow[] {
  return flowserve.flatMap((f) => {
    const p = at(peer, f.concurrency);
    const name = `${prefix}_c${f.concurrency}`;
    return [
      {
        name: `${name}_throughput`,
        unit: 'req/s',
        flowserve: f.throughput,
        peer: p.throughput,
        peerName,
        higherIsBetter: true,
        target,
      },
      { name: `${name}_p50`, unit: 'ms', flowserve: f.p50Ms, peer: p.p50Ms, peerName, higherIsBetter: false },
      { name: `${name}_p90`, unit: 'ms', flowserve: f.p90Ms, peer: p.p90Ms, peerName, higherIsBetter: false },
      { name: `${name}_p99`, unit: 'ms', flowserve: f.p99Ms, peer: p.p99Ms, peerName, higherIsBetter: false },
    ];
  });
}

/**
 * Issue 14's batching targets at c64: turning batching on never costs throughput or p99 latency, for any model, and
 * gains at least 1.5× on the CNN.
 */
const BATCHING_TARGETS = { softmax: '>= 1.0', cnn: '>= 1.5', mlp: '>= 1.0', large: '>= 1.0', p99: '>= 1.0' } as const;

/** Rows comparing batching on (flowserve side) with batching off (peer side) at concurrency `c`. */
function batchingRows(
  c: number,
  suffix: string,
  pair: { flowserve: Series; peer: Series },
  target: string,
): BenchRow[] {
  const offName = 'flowserve batching off';
  const on = at(pair.flowserve, c);
  const off = at(pair.peer, c);
  return [
    {
      name: `batching_on_vs_off_c${c}${suffix}`,
      unit: 'req/s',
      flowserve: on.throughput,
      peer: off.throughput,
      peerName: offName,
      higherIsBetter: true,
      target,
    },
    {
      name: `batching_on_vs_off_c${c}${suffix}_p50`,
      unit: 'ms',
      flowserve: on.p50Ms,
      peer: off.p50Ms,
      peerName: offName,
      higherIsBetter: false,
    },
    {
      name: `batching_on_vs_off_c${c}${suffix}_p99`,
      unit: 'ms',
      flowserve: on.p99Ms,
      peer: off.p99Ms,
      peerName: offName,
      higherIsBetter: false,
      target: BATCHING_TARGETS.p99,
    },
  ];
}

/** Throughput of `peer` over `flowserve` at concurrency `c`: how far above flowserve the load generator can go. */
function headroom(pair: { flowserve: Series; peer: Series }, c: number): number {
  return at(pair.peer, c).throughput / at(pair.flowserve, c).throughput;
}

/**
 * The Open Inference Protocol comparisons, on servers already started: v2 gRPC and REST binary against bare
 * transports, REST binary against REST JSON on a large input, and v2 against v1 on the same model.
 */
async function measureV2(
  flow: Target,
  bare: Target,
  levels: readonly number[],
  c32: readonly number[],
  options: Options,
): Promise<{ rows: BenchRow[]; results: Record<string, unknown> }> {
  const largeLevels = [1, 8];
  const grpc = await measurePair(
    'v2 gRPC ModelInfer, raw contents (peer: bare grpc-js, canned ModelInferResponse)',
    { flowserve: flow.v2GrpcInfer, peer: bare.v2GrpcInfer },
    levels,
    options,
  );
  const restBinary = await measurePair(
    'v2 REST infer, binary tensors (peer: bare fastify, canned bytes)',
    { flowserve: flow.v2RestBinary, peer: bare.v2RestBinary },
    levels,
    options,
  );
  const large = await measurePair(
    `v2 REST infer [${LARGE_SHAPE.join(',')}] FP32, binary (peer: flowserve REST JSON)`,
    { flowserve: flow.v2LargeBinary, peer: flow.v2LargeJson },
    largeLevels,
    options,
  );
  const v2v1Grpc = await measurePair(
    'v2 gRPC ModelInfer (peer: flowserve v1 gRPC Predict, same model)',
    { flowserve: flow.v2GrpcInfer, peer: flow.grpcPredict },
    levels,
    options,
  );
  const v2v1Rest = await measurePair(
    'v2 REST JSON infer (peer: flowserve v1 REST :predict, same model)',
    { flowserve: flow.v2RestJson, peer: flow.restPredict },
    c32,
    options,
  );
  const c = c32[0] as number;
  const generatorHeadroom = {
    concurrency: c,
    bareGrpcOverFlowserveV2: headroom(grpc, c),
    bareFastifyOverFlowserveV2Binary: headroom(restBinary, c),
  };
  console.log(
    `load generator headroom at c${c}: bare grpc-js answers ${generatorHeadroom.bareGrpcOverFlowserveV2.toFixed(2)}× ` +
      `flowserve's v2 gRPC rate, bare fastify ${generatorHeadroom.bareFastifyOverFlowserveV2Binary.toFixed(2)}× its ` +
      `v2 REST binary rate, with the same load generator\n`,
  );
  return {
    rows: [
      ...compareRows('v2_grpc_infer', grpc.flowserve, grpc.peer, 'bare grpc-js', '>= 0.8'),
      ...compareRows('v2_rest_binary_infer', restBinary.flowserve, restBinary.peer, 'bare fastify', '>= 0.8'),
      ...compareRows('v2_rest_binary_vs_json_224', large.flowserve, large.peer, 'flowserve REST JSON', '>= 3'),
      ...compareRows('v2_vs_v1_grpc', v2v1Grpc.flowserve, v2v1Grpc.peer, 'flowserve v1 Predict'),
      ...compareRows('v2_vs_v1_rest_json', v2v1Rest.flowserve, v2v1Rest.peer, 'flowserve v1 REST predict'),
    ],
    results: {
      v2GrpcInfer: grpc,
      v2RestBinary: restBinary,
      v2RestBinaryVsJson224: large,
      v2VsV1Grpc: v2v1Grpc,
      v2VsV1RestJson: v2v1Rest,
      generatorHeadroom,
    },
  };
}

/**
 * `--only cnn-batching`: batching on vs off for the MNIST CNN alone, on --device (scripts/gpu/check.sh runs it
 * with --device gpu, where batching matters most). Writes bench/results/serve-cnn-DEVICE.json.
 */
async function cnnBatchingOnly(options: Options): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-serve-'));
  const image = Array.from({ length: PIXELS }, () => Math.random());
  const c = Math.max(...options.concurrency);
  const servers: ServerProcess[] = [];
  const targets: Target[] = [];
  try {
    await writeServedModels(base);
    console.log(
      `flowserve serving bench: ${CNN_MODEL} on ${options.device}, batch 1, concurrency ${c}, batching on vs off, ` +
        `${options.requests} requests or ${options.seconds} s per side, in ${options.rounds} alternating rounds\n`,
    );
    for (const kind of ['flowserve', 'flowserve-batching'] as const) servers.push(await spawnServer(kind, base));
    const [off, on] = servers.map((server) => target(server, image)) as [Target, Target];
    targets.push(off, on);
    const pair = await measurePair(
      `gRPC Predict on the MNIST CNN on ${options.device}, batching on (peer: batching off)`,
      { flowserve: on.grpcPredictCnn, peer: off.grpcPredictCnn },
      [c],
      options,
    );
    report(`serve-cnn-${options.device}`, batchingRows(c, `_cnn_${options.device}`, pair, BATCHING_TARGETS.cnn), {
      config: { model: CNN_MODEL, device: options.device, batch: 1, concurrency: c, batching: benchBatching() },
      results: { batchingOnVsOffCnn: pair },
    });
  } finally {
    for (const t of targets) t.close();
    await Promise.all(servers.map((s) => s.stop()));
    removeServedModels(base);
  }
}

function v2Config(options: Options, levels: readonly number[]): Record<string, unknown> {
  return {
    model: `${MODEL} softmax ${PIXELS}x${CLASSES}; ${LARGE_MODEL} sum over [${LARGE_SHAPE.join(',')}]`,
    batch: 1,
    concurrency: levels,
    largeInputConcurrency: [1, 8],
    requestsPerLevel: options.requests,
    secondsPerLevel: options.seconds,
    rounds: options.rounds,
    serversInChildProcesses: true,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Native load generators (h2load, wrk)

const PREDICTION_SERVICE = '/tensorflow.serving.PredictionService';
export const PREDICT = `${PREDICTION_SERVICE}/Predict`;
const CLASSIFY = `${PREDICTION_SERVICE}/Classify`;
export const MODEL_INFER = `/${INFERENCE_SERVICE}/ModelInfer`;

/** The request bodies the native generators send, written once into the scratch directory. */
export interface Bodies {
  predict: string;
  predictCnn: string;
  predictMlp: string;
  /** Predict on the sum over [1,3,224,224] (LARGE_MODEL): a 600 KB row that the model computes little on. */
  predictLarge: string;
  classify: string;
  rest: string;
  /** A ModelInferRequest for the softmax model, the image in raw_input_contents, as the Node v2 client sends it. */
  v2Infer: string;
  /** The REST infer body with the binary extension, and its headers. */
  v2RestBinary: { file: string; headers: Record<string, string> };
}

export interface RequestMessages {
  predict: Buffer;
  predictCnn: Buffer;
  predictMlp: Buffer;
  predictLarge: Buffer;
  classify: Buffer;
  v2Infer: Buffer;
}

/** Serialized PredictRequest / ClassificationRequest for one image, as the Node client sends them (tensor_content). */
function requestMessages(image: number[]): RequestMessages {
  const root = protobufRoot();
  const encode = (typeName: string, message: object) => {
    const type = root.lookupType(typeName);
    return Buffer.from(type.encode(type.fromObject(message)).finish());
  };
  const images = encodeTensorProto(HostTensor.from('float32', [image], [1, PIXELS]), { tensorContent: true });
  const predict = (name: string) =>
    encode('tensorflow.serving.PredictRequest', {
      model_spec: { name, signature_name: PREDICT_SIGNATURE },
      inputs: { images },
    });
  const modelInfer = loadInferencePackageDefinition()[INFERENCE_SERVICE] as unknown as ServiceDefinition;
  const inferMethod = modelInfer.ModelInfer as ServiceDefinition[string];
  const v2Inputs = { inputs: HostTensor.from('float32', [image], [1, PIXELS]) };
  return {
    predict: predict(MODEL),
    predictCnn: predict(CNN_MODEL),
    predictMlp: predict(MLP_MODEL),
    predictLarge: encode('tensorflow.serving.PredictRequest', {
      model_spec: { name: LARGE_MODEL, signature_name: 'serving_default' },
      inputs: {
        x: encodeTensorProto(
          new HostTensor(
            'float32',
            LARGE_SHAPE,
            Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => (i % 17) / 17),
          ),
          { tensorContent: true },
        ),
      },
    }),
    classify: encode('tensorflow.serving.ClassificationRequest', {
      model_spec: { name: MODEL },
      input: { example_list: { examples: [exampleMsg({ x: image })] } },
    }),
    v2Infer: inferMethod.requestSerialize(encodeGrpcInfer({ name: MODEL }, v2Inputs)),
  };
}

export function writeBodies(dir: string, image: number[]): { files: Bodies; messages: RequestMessages } {
  const messages = requestMessages(image);
  const v2Rest = encodeRestInfer(
    { name: MODEL },
    { inputs: HostTensor.from('float32', [image], [1, PIXELS]) },
    { binary: true },
  );
  const files: Bodies = {
    predict: join(dir, 'predict.grpc'),
    predictCnn: join(dir, 'predict-cnn.grpc'),
    predictMlp: join(dir, 'predict-mlp.grpc'),
    predictLarge: join(dir, 'predict-large.grpc'),
    classify: join(dir, 'classify.grpc'),
    rest: join(dir, 'predict.json'),
    v2Infer: join(dir, 'model-infer.grpc'),
    v2RestBinary: { file: join(dir, 'infer.bin'), headers: v2Rest.headers },
  };
  writeFileSync(files.predict, grpcFrame(messages.predict));
  writeFileSync(files.predictCnn, grpcFrame(messages.predictCnn));
  writeFileSync(files.predictMlp, grpcFrame(messages.predictMlp));
  writeFileSync(files.predictLarge, grpcFrame(messages.predictLarge));
  writeFileSync(files.classify, grpcFrame(messages.classify));
  writeFileSync(files.rest, JSON.stringify({ signature_name: PREDICT_SIGNATURE, instances: [image] }));
  writeFileSync(files.v2Infer, grpcFrame(messages.v2Infer));
  writeFileSync(files.v2RestBinary.file, v2Rest.body);
  return { files, messages };
}

/**
 * Sends each body once with grpc-js and fails unless the call succeeds: h2load counts HTTP 200 as success, and a
 * gRPC error travels in the trailers of an HTTP 200 response.
 */
export async function checkGrpcBody(port: number, path: string, message: Buffer): Promise<void> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const method = path.slice(path.lastIndexOf('/') + 1);
  try {
    await new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        message,
        (err) => (err ? reject(new Error(`${method} on port ${port}: ${err.message}`)) : resolve()),
      ),
    );
  } finally {
    client.close();
  }
}

/** Whether `message` to `path` is answered OK (checkGrpcBody without the error). */
async function answers(port: number, path: string, message: Buffer): Promise<boolean> {
  return checkGrpcBody(port, path, message).then(
    () => true,
    () => false,
  );
}

export async function checkRestBody(
  port: number,
  path: string,
  bodyFile: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers,
    body: readFileSync(bodyFile),
  });
  if (response.status !== 200) throw new Error(`REST POST ${path} on port ${port}: HTTP ${response.status}`);
  await response.arrayBuffer();
}

/** How one side of a comparison is loaded at a level: the generator run against that side's server. */
type NativeRun = (level: number, durationS: number) => Promise<NativeLoadResult>;

interface NativeSeries {
  flowserve: NativeLoadResult[];
  peer: NativeLoadResult[];
}

/** measurePair with a native generator: alternating rounds (A B, then B A, ...) at each level. */
async function measureNativePair(
  label: string,
  runs: { flowserve: NativeRun; peer: NativeRun },
  levels: readonly number[],
  options: Options,
  warm: { concurrency: number; seconds: number } = { concurrency: 8, seconds: 1 },
): Promise<NativeSeries> {
  const out: NativeSeries = { flowserve: [], peer: [] };
  const sides = ['flowserve', 'peer'] as const;
  // Warm the JIT and (for flowserve) the worker sessions.
  for (const side of sides) await runs[side](warm.concurrency, warm.seconds);
  const durationS = options.seconds / options.rounds;
  for (const level of levels) {
    const parts = { flowserve: [] as NativeLoadResult[], peer: [] as NativeLoadResult[] };
    for (let round = 0; round < options.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const result = await runs[side](level, durationS);
        if (result.errors > 0) {
          const detail = result.errorDetail ? ` (${result.errorDetail})` : '';
          throw new Error(`${label} ${side} c${level}: ${result.errors} failed requests${detail}`);
        }
        parts[side].push(result);
      }
    }
    for (const side of sides) out[side].push(mergeNative(level, parts[side]));
  }
  console.log(formatLoadTable(`${label}: flowserve`, out.flowserve));
  console.log(formatLoadTable(`${label}: peer`, out.peer));
  console.log(headroomLines(out) + '\n');
  return out;
}

/** The generator's CPU use per level (one generator thread: 100% would mean the generator is the limit). */
function headroomLines(series: NativeSeries): string {
  const cpu = (r: NativeLoadResult) => `${((100 * r.generatorCpuS) / r.seconds).toFixed(0)}%`;
  return series.peer
    .map((peer, i) => {
      const flow = series.flowserve[i] as NativeLoadResult;
      return (
        `  c${peer.concurrency}: generator CPU ${cpu(flow)} of one core against flowserve, ${cpu(peer)} against the ` +
        `peer; peer/flowserve throughput ${(peer.throughput / flow.throughput).toFixed(2)}`
      );
    })
    .join('\n');
}

/** Per level: the generator's CPU share of one core on each side (the JSON's proof of headroom). */
function generatorCpuShares(series: NativeSeries): Record<string, { flowserve: number; peer: number }> {
  return Object.fromEntries(
    series.peer.map((peer, i) => {
      const flow = series.flowserve[i] as NativeLoadResult;
      const share = (r: NativeLoadResult) => Number((r.generatorCpuS / r.seconds).toFixed(3));
      return [`c${peer.concurrency}`, { flowserve: share(flow), peer: share(peer) }];
    }),
  );
}

const P50_TARGET = '>= 0.833 (p50 <= 1.2x peer)';

/** compareRows with the serving targets: throughput >= 0.9 of the peer, p50 <= 1.2x the peer's. */
function servingRows(prefix: string, series: NativeSeries, peerName: string): BenchRow[] {
  return compareRows(prefix, series.flowserve, series.peer, peerName, '>= 0.9').map((row) =>
    row.name.endsWith('_p50') ? { ...row, target: P50_TARGET } : row,
  );
}

async function nativeMain(options: Options): Promise<void> {
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-serve-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-bench-load-'));
  const image = Array.from({ length: PIXELS }, () => Math.random());
  const levels = options.concurrency;
  const manyConnectionLevels = levels.filter((c) => c > 1);
  const cMax = Math.max(...levels);
  const servers: ServerProcess[] = [];
  try {
    await writeServedModels(base); // the large model is not measured here, but the servers serve it
    const { files, messages } = writeBodies(scratch, image);
    console.log(
      `flowserve serving bench (h2load, wrk): ${MODEL} softmax [?,${PIXELS}]→[?,${CLASSES}], batch 1, concurrency ` +
        `${levels.join('/')}, ${options.seconds} s per level and side, in ${options.rounds} alternating rounds\n`,
    );
    // The batching pairs get servers of their own, idle until then: compared with the batching-off server that has
    // served every row before, a barely warmed batching server lost 0.67–0.78 in full runs, while a fresh server
    // pair (--only batching) gave 0.87–1.23. A batching-off server loaded for a minute ran 1.38× a fresh one
    // (docs/performance.md, "Round 17"). That was V8's memory reducer: a server that idles after it starts grows its
    // heap slowly under the load that follows. The flowserve servers run with the flowserve command's own flags
    // (spawnServer), which turn it off (docs/performance.md, "Round 25").
    for (const kind of ['bare', 'flowserve', 'flowserve-batching', 'flowserve', 'bare-windowed'] as const)
      servers.push(await spawnServer(kind, base));
    const [bare, flow, batching, batchingOff, bareWindowed] = servers as [
      ServerProcess,
      ServerProcess,
      ServerProcess,
      ServerProcess,
      ServerProcess,
    ];
    const predictPath = `/v1/models/${MODEL}:predict`;
    const inferPath = `/v2/models/${MODEL}/infer`;
    for (const server of servers) {
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predict);
      await checkGrpcBody(server.grpcPort, CLASSIFY, messages.classify);
      await checkRestBody(server.restPort, predictPath, files.rest);
    }
    for (const server of [bare, flow]) {
      await checkGrpcBody(server.grpcPort, MODEL_INFER, messages.v2Infer);
      await checkRestBody(server.restPort, inferPath, files.v2RestBinary.file, files.v2RestBinary.headers);
    }
    for (const server of [flow, batching, batchingOff]) {
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predictCnn);
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predictMlp);
    }

    /** h2load against `server`: `connections` × `streams`, at level c (connections(c), streams(c)). */
    const h2 =
      (server: ServerProcess, path: string, bodyFile: string, shape: (c: number) => [number, number]): NativeRun =>
      (c, durationS) => {
        const [connections, streams] = shape(c);
        const url = `http://127.0.0.1:${server.grpcPort}${path}`;
        return runH2load({ url, bodyFile, connections, streams, durationS, scratch });
      };
    const oneConnection = (c: number): [number, number] => [1, c];
    const manyConnections = (c: number): [number, number] => [c, 1];
    const wrkPost =
      (server: ServerProcess, path: string, bodyFile: string, headers?: Record<string, string>): NativeRun =>
      (c, durationS) =>
        runWrk({
          url: `http://127.0.0.1:${server.restPort}${path}`,
          bodyFile,
          ...(headers ? { headers } : {}),
          connections: c,
          durationS,
          scratch,
        });
    const wrk = (server: ServerProcess): NativeRun => wrkPost(server, predictPath, files.rest);

    /** flowserve against `peer`, h2load on one connection with C streams, at every level. */
    const oneConnectionPair = (title: string, peer: ServerProcess, path: string, bodyFile: string) =>
      measureNativePair(
        title,
        { flowserve: h2(flow, path, bodyFile, oneConnection), peer: h2(peer, path, bodyFile, oneConnection) },
        levels,
        options,
      );
    /** flowserve against bare grpc-js as shipped, then against grpc-js with flowserve's windows (kind `bare-windowed`). */
    const againstBothPeers = async (what: string, path: string, bodyFile: string) => {
      const calls = `${what}, 1 connection × C streams (h2load; peer: bare grpc-js`;
      const shipped = await oneConnectionPair(`${calls}, canned response)`, bare, path, bodyFile);
      const windowed = await oneConnectionPair(
        `${calls} with flowserve's 1 MiB HTTP/2 windows)`,
        bareWindowed,
        path,
        bodyFile,
      );
      return [shipped, windowed] as const;
    };
    const [grpcOne, grpcOneWindowed] = await againstBothPeers('gRPC Predict', PREDICT, files.predict);
    const grpcMany = await measureNativePair(
      'gRPC Predict, C connections × 1 stream (h2load; peer: bare grpc-js, canned response)',
      {
        flowserve: h2(flow, PREDICT, files.predict, manyConnections),
        peer: h2(bare, PREDICT, files.predict, manyConnections),
      },
      manyConnectionLevels,
      options,
    );
    const [classify, classifyWindowed] = await againstBothPeers('gRPC Classify', CLASSIFY, files.classify);
    const rest = await measureNativePair(
      'REST :predict, C connections (wrk; peer: bare fastify parsing the JSON body, canned response)',
      { flowserve: wrk(flow), peer: wrk(bare) },
      levels,
      options,
    );
    const v2Grpc = await oneConnectionPair(
      'v2 gRPC ModelInfer, raw contents, 1 connection × C streams (h2load; peer: bare grpc-js, canned response)',
      bare,
      MODEL_INFER,
      files.v2Infer,
    );
    const { file: binaryFile, headers: binaryHeaders } = files.v2RestBinary;
    const v2RestBinary = await measureNativePair(
      'v2 REST infer, binary tensors, C connections (wrk; peer: bare fastify, canned bytes)',
      {
        flowserve: wrkPost(flow, inferPath, binaryFile, binaryHeaders),
        peer: wrkPost(bare, inferPath, binaryFile, binaryHeaders),
      },
      levels,
      options,
    );
    // Both servers of the pair have served nothing but the checks above; they are warmed alike at the measured load
    // first (a server's first second at c64 costs it about twice the CPU per request of its later ones, with or
    // without batching: docs/performance.md, "Round 6").
    const batchingWarm = { concurrency: cMax, seconds: BATCHING_WARM_SECONDS };
    const batchingOptions = batchingMeasurement(options);
    const batchingRounds = `${batchingOptions.seconds} s a side in ${batchingOptions.rounds} rounds`;
    /** Batching on against off for one model's Predict body, h2load on one connection at the highest level. */
    const batchingPair = (what: string, bodyFile: string) =>
      measureNativePair(
        `gRPC Predict${what}, flowserve batching on (h2load; peer: flowserve batching off; ${batchingRounds})`,
        {
          flowserve: h2(batching, PREDICT, bodyFile, oneConnection),
          peer: h2(batchingOff, PREDICT, bodyFile, oneConnection),
        },
        [cMax],
        batchingOptions,
        batchingWarm,
      );
    const batched = await batchingPair(', 1 connection × C streams', files.predict);
    const batchedCnn = await batchingPair(' on the MNIST CNN', files.predictCnn);
    const batchedMlp = await batchingPair(' on the MNIST MLP', files.predictMlp);

    const rows: BenchRow[] = [
      ...servingRows('grpc_predict_1conn', grpcOne, 'bare grpc-js'),
      ...servingRows('grpc_predict_1conn_same_windows', grpcOneWindowed, 'bare grpc-js, 1 MiB windows'),
      ...servingRows('grpc_predict_nconn', grpcMany, 'bare grpc-js'),
      ...servingRows('grpc_classify_1conn', classify, 'bare grpc-js'),
      ...servingRows('grpc_classify_1conn_same_windows', classifyWindowed, 'bare grpc-js, 1 MiB windows'),
      ...servingRows('rest_predict', rest, 'bare fastify'),
      ...compareRows('v2_grpc_infer', v2Grpc.flowserve, v2Grpc.peer, 'bare grpc-js', '>= 0.8'),
      ...compareRows('v2_rest_binary_infer', v2RestBinary.flowserve, v2RestBinary.peer, 'bare fastify', '>= 0.8'),
      ...batchingRows(cMax, '', batched, BATCHING_TARGETS.softmax),
      ...batchingRows(cMax, '_cnn', batchedCnn, BATCHING_TARGETS.cnn),
      ...batchingRows(cMax, '_mlp', batchedMlp, BATCHING_TARGETS.mlp),
    ];
    report('serve', rows, {
      config: {
        model: `${MODEL} softmax ${PIXELS}x${CLASSES}`,
        batch: 1,
        generator: { grpc: 'h2load -t1', rest: 'wrk -t1' },
        concurrency: levels,
        secondsPerLevel: options.seconds,
        rounds: options.rounds,
        batching: benchBatching(),
        batchingPairs: { secondsPerSide: batchingOptions.seconds, rounds: batchingOptions.rounds },
        serversInChildProcesses: true,
      },
      generatorCpuShareOfOneCore: {
        grpcPredict1conn: generatorCpuShares(grpcOne),
        grpcPredict1connSameWindows: generatorCpuShares(grpcOneWindowed),
        grpcPredictNconn: generatorCpuShares(grpcMany),
        grpcClassify1conn: generatorCpuShares(classify),
        grpcClassify1connSameWindows: generatorCpuShares(classifyWindowed),
        restPredict: generatorCpuShares(rest),
        v2GrpcInfer: generatorCpuShares(v2Grpc),
        v2RestBinary: generatorCpuShares(v2RestBinary),
      },
      results: {
        grpcPredict1conn: grpcOne,
        grpcPredict1connSameWindows: grpcOneWindowed,
        grpcPredictNconn: grpcMany,
        grpcClassify1conn: classify,
        grpcClassify1connSameWindows: classifyWindowed,
        restPredict: rest,
        v2GrpcInfer: v2Grpc,
        v2RestBinary,
        batchingOnVsOff: batched,
        batchingOnVsOffCnn: batchedCnn,
        batchingOnVsOffMlp: batchedMlp,
      },
    });
    console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** utime + stime of a process, in seconds (/proc/PID/stat; the name in field 2 may hold spaces: read after ')'). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime; USER_HZ = 100 on Linux
}

interface CpuTally {
  cpuS: number;
  requests: number;
}

function cpuRow(name: string, on: CpuTally, off: CpuTally, peerName: string): BenchRow {
  const perRequest = (t: CpuTally) => (t.requests > 0 ? (1e6 * t.cpuS) / t.requests : NaN);
  return {
    name,
    unit: 'µs CPU/request',
    flowserve: perRequest(on),
    peer: perRequest(off),
    peerName,
    higherIsBetter: false,
  };
}

/** Seconds each server of a batching pair is loaded at the measured concurrency before its rounds. */
const BATCHING_WARM_SECONDS = 2;

/**
 * The full run's batching pairs are measured for at least this many seconds a side, in rounds of 1 s. Batching changes
 * the softmax's cost by a few percent, and the machine's noise is larger than that over a few seconds: two identical
 * servers differed by up to 9 % in 8 alternated rounds of 1 s, and one pair's 1 s rounds ranged 0.64–1.27
 * (docs/performance.md, "Round 18"). Rounds of 1 s follow the machine's drift more closely than long ones.
 */
const BATCHING_MIN_SECONDS = 16;

function batchingMeasurement(options: Options): Options {
  const seconds = Math.max(options.seconds, BATCHING_MIN_SECONDS);
  return { ...options, seconds, rounds: Math.max(options.rounds, Math.round(seconds)) };
}

/**
 * `--only batching`: batching on vs off on the softmax model, the CNN, the MLP and the sum over 3×224×224 at the highest
 * --concurrency, h2load on
 * one connection (the c64 rows, alone so they are quick to repeat), with each server's CPU per request.
 * `--baseline DIST`: also that build's batching-on server. Every server is first warmed alike (2 s at that
 * concurrency on each model), then all sides are measured in the same rounds, the order rotated each round, so that
 * neither a server's warm-up nor drift in the machine's load favours one side. Writes
 * bench/results/serve-batching.json.
 */
async function batchingOnly(options: Options): Promise<void> {
  const found = nativeGenerators();
  if (!found.h2load) throw new Error(`--only batching needs h2load (${INSTALL_HINT})`);
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-serve-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-bench-load-'));
  const image = Array.from({ length: PIXELS }, () => Math.random());
  const c = Math.max(...options.concurrency);
  const servers: ServerProcess[] = [];
  try {
    await writeServedModels(base);
    const { files, messages } = writeBodies(scratch, image);
    console.log(
      `flowserve batching bench (h2load -c1 -m${c}): batching on vs off, softmax, CNN, MLP and sum224, ${options.seconds} s per ` +
        `side in ${options.rounds} rotated rounds; batching ${JSON.stringify(benchBatching())}` +
        (options.baseline ? `; baseline build ${options.baseline}` : '') +
        '\n',
    );
    const sides: { name: string; server: ServerProcess }[] = [];
    const add = async (name: string, kind: ChildKind, script?: string) => {
      const server = await spawnServer(kind, base, script);
      servers.push(server);
      sides.push({ name, server });
    };
    await add('batching on', 'flowserve-batching');
    await add('batching off', 'flowserve');
    if (options.baseline) await add('baseline batching on', 'flowserve-batching', serverScript(options.baseline));
    for (const { server } of sides) {
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predict);
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predictCnn);
      await checkGrpcBody(server.grpcPort, PREDICT, messages.predictLarge);
    }
    // A baseline build from before the MLP was served (round 26) cannot answer it: the MLP is then left out.
    const withMlp = await Promise.all(
      sides.map(({ server }) => answers(server.grpcPort, PREDICT, messages.predictMlp)),
    );
    const h2 = (server: ServerProcess, bodyFile: string, durationS: number) =>
      runH2load({
        url: `http://127.0.0.1:${server.grpcPort}${PREDICT}`,
        bodyFile,
        connections: 1,
        streams: c,
        durationS,
        scratch,
      });
    const models = [
      { key: 'softmax', suffix: '', body: files.predict, target: BATCHING_TARGETS.softmax },
      { key: 'cnn', suffix: '_cnn', body: files.predictCnn, target: BATCHING_TARGETS.cnn },
      ...(withMlp.every(Boolean)
        ? [{ key: 'mlp', suffix: '_mlp', body: files.predictMlp, target: BATCHING_TARGETS.mlp }]
        : []),
      // Rows of 600 KB that the model only sums: batching's tasks run apart (merge-costs.ts, round 26).
      { key: 'sum224', suffix: '_sum224', body: files.predictLarge, target: BATCHING_TARGETS.large },
    ];
    if (!withMlp.every(Boolean)) console.log('The baseline build does not serve the MLP: measuring softmax and CNN.\n');
    for (const model of models) for (const { server } of sides) await h2(server, model.body, BATCHING_WARM_SECONDS);
    const rows: BenchRow[] = [];
    const results: Record<string, unknown> = {};
    for (const model of models) {
      const parts = sides.map(() => [] as NativeLoadResult[]);
      const cpu = sides.map(() => ({ cpuS: 0, requests: 0 }));
      for (let round = 0; round < options.rounds; round++) {
        for (let k = 0; k < sides.length; k++) {
          const i = (round + k) % sides.length;
          const { name, server } = sides[i] as (typeof sides)[number];
          const before = processCpuSeconds(server.pid);
          const result = await h2(server, model.body, options.seconds / options.rounds);
          if (result.errors > 0) throw new Error(`${model.key} ${name}: ${result.errors} failed requests`);
          (cpu[i] as CpuTally).cpuS += processCpuSeconds(server.pid) - before;
          (cpu[i] as CpuTally).requests += result.requests;
          (parts[i] as NativeLoadResult[]).push(result);
        }
      }
      const merged = parts.map((p) => mergeNative(c, p));
      sides.forEach((side, i) => {
        const perRequest = (1e6 * (cpu[i] as CpuTally).cpuS) / (cpu[i] as CpuTally).requests;
        console.log(formatLoadTable(`gRPC Predict, ${model.key}, ${side.name}`, [merged[i] as NativeLoadResult]));
        console.log(`  server CPU ${perRequest.toFixed(1)} µs per request\n`);
      });
      const on = merged[0] as NativeLoadResult;
      for (let i = 1; i < sides.length; i++) {
        const peer = merged[i] as NativeLoadResult;
        const peerName = `flowserve ${(sides[i] as (typeof sides)[number]).name}`;
        const name = `batching_on_vs_${i === 1 ? 'off' : 'baseline_on'}_c${c}${model.suffix}`;
        const target = i === 1 ? model.target : undefined;
        const row = (suffix: string, unit: string, f: number, p: number, higherIsBetter: boolean, t?: string) => ({
          name: `${name}${suffix}`,
          unit,
          flowserve: f,
          peer: p,
          peerName,
          higherIsBetter,
          ...(t ? { target: t } : {}),
        });
        rows.push(
          row('', 'req/s', on.throughput, peer.throughput, true, target),
          row('_p50', 'ms', on.p50Ms, peer.p50Ms, false),
          row('_p99', 'ms', on.p99Ms, peer.p99Ms, false, i === 1 ? BATCHING_TARGETS.p99 : undefined),
          cpuRow(`${name}_cpu`, cpu[0] as CpuTally, cpu[i] as CpuTally, peerName),
        );
      }
      results[model.key] = Object.fromEntries(
        sides.map((side, i) => [side.name, { ...(merged[i] as NativeLoadResult), cpu: cpu[i] }]),
      );
    }
    report('serve-batching', rows, {
      config: {
        generator: `h2load -c1 -m${c}`,
        secondsPerSide: options.seconds,
        rounds: options.rounds,
        batching: benchBatching(),
        ...(options.baseline ? { baseline: options.baseline } : {}),
      },
      results,
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * `--only dashboard`: the "it must not slow the server", measured. One flowserve server; the "flowserve" side
 * of each pair runs with the dashboard open in chromium (a tab opened before the load starts and closed after it; one
 * browser for the whole run, idle with no page during the peer's rounds), the peer side with no page. The browser's CPU seconds per round are printed: on a machine where
 * it shares the server's cores, that is the part of any difference the server did not cause.
 */
async function dashboardOnly(options: Options): Promise<void> {
  const found = nativeGenerators();
  if (!found.h2load || !found.wrk) throw new Error(`--only dashboard needs h2load and wrk (${INSTALL_HINT})`);
  const { CHROMIUM, startDashboardBrowser } = await import('./dashboard-viewer.js');
  if (!existsSync(CHROMIUM)) throw new Error(`--only dashboard needs ${CHROMIUM} (Debian package chromium)`);
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-serve-'));
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-bench-load-'));
  const image = Array.from({ length: PIXELS }, () => Math.random());
  let server: ServerProcess | undefined;
  let browser: DashboardBrowser | undefined;
  try {
    await writeServedModels(base);
    const { files, messages } = writeBodies(scratch, image);
    browser = await startDashboardBrowser();
    const viewers = browser;
    console.log(
      `flowserve serving bench, dashboard open (headless chromium on the live view) vs closed: ${MODEL} softmax, ` +
        `batch 1, concurrency ${options.concurrency.join('/')}, ${options.seconds} s per level and side, in ` +
        `${options.rounds} alternating rounds\n`,
    );
    server = await spawnServer('flowserve', base);
    const flow = server;
    await checkGrpcBody(flow.grpcPort, PREDICT, messages.predict);
    await checkRestBody(flow.restPort, `/v1/models/${MODEL}:predict`, files.rest);
    const browserCpu: { level: number; seconds: number; cpuS: number }[] = [];
    /** Runs `load` with the dashboard open in a tab for its duration. */
    const withDashboard =
      (load: NativeRun): NativeRun =>
      async (level, durationS) => {
        const viewer = await viewers.open(`http://127.0.0.1:${flow.restPort}/#live`);
        try {
          const result = await load(level, durationS);
          browserCpu.push({ level, seconds: result.seconds, cpuS: viewer.cpuSeconds() });
          return result;
        } finally {
          await viewer.close();
        }
      };
    const rest: NativeRun = (c, durationS) =>
      runWrk({
        url: `http://127.0.0.1:${flow.restPort}/v1/models/${MODEL}:predict`,
        bodyFile: files.rest,
        connections: c,
        durationS,
        scratch,
      });
    const grpc: NativeRun = (c, durationS) =>
      runH2load({
        url: `http://127.0.0.1:${flow.grpcPort}${PREDICT}`,
        bodyFile: files.predict,
        connections: 1,
        streams: c,
        durationS,
        scratch,
      });
    const restPair = await measureNativePair(
      'REST :predict, C connections (wrk), dashboard open (peer: dashboard closed)',
      { flowserve: withDashboard(rest), peer: rest },
      options.concurrency,
      options,
    );
    const restCpu = browserCpu.splice(0);
    const grpcPair = await measureNativePair(
      'gRPC Predict, 1 connection × C streams (h2load), dashboard open (peer: dashboard closed)',
      { flowserve: withDashboard(grpc), peer: grpc },
      options.concurrency,
      options,
    );
    const grpcCpu = browserCpu.splice(0);
    const share = (rows: typeof browserCpu) =>
      rows.length === 0 ? 0 : rows.reduce((sum, r) => sum + r.cpuS / r.seconds, 0) / rows.length;
    console.log(
      `chromium's own CPU while open (share of one core, mean over rounds incl. warm-up): REST ${(100 * share(restCpu)).toFixed(0)}%, ` +
        `gRPC ${(100 * share(grpcCpu)).toFixed(0)}%\n`,
    );
    const closed = 'dashboard closed';
    report(
      'serve-dashboard',
      [
        ...compareRows('dashboard_open_rest_predict', restPair.flowserve, restPair.peer, closed, '>= 0.95'),
        ...compareRows('dashboard_open_grpc_predict', grpcPair.flowserve, grpcPair.peer, closed, '>= 0.95'),
      ],
      {
        config: {
          model: `${MODEL} softmax ${PIXELS}x${CLASSES}`,
          batch: 1,
          viewer: 'headless chromium, dashboard live view (SSE stream, 1 s redraw, model list polled every 3 s)',
          generator: { grpc: 'h2load -t1', rest: 'wrk -t1' },
          concurrency: options.concurrency,
          secondsPerLevel: options.seconds,
          rounds: options.rounds,
        },
        browserCpuShareOfOneCore: { rest: share(restCpu), grpc: share(grpcCpu) },
        results: { restPredict: restPair, grpcPredict: grpcPair },
      },
    );
    console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await browser?.close();
    await server?.stop();
    removeServedModels(base);
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  process.env.FLOWSERVE_BENCH_DEVICE = options.device;
  if (options.only === 'cnn-batching') {
    await cnnBatchingOnly(options);
    return;
  }
  if (options.only === 'dashboard') {
    await dashboardOnly(options);
    return;
  }
  if (options.only === 'batching') {
    await batchingOnly(options);
    return;
  }
  // With the native generators a full run measures TF Serving's API and v2 gRPC / REST binary against the bare peers;
  // `--only v2` runs every v2 comparison (binary vs JSON on a large input, v2 vs v1) with the Node.js clients.
  if (options.generator === 'native' && options.only !== 'v2') {
    const found = nativeGenerators();
    if (found.h2load && found.wrk) {
      await nativeMain(options);
      return;
    }
    console.warn(
      `WARNING: ${found.h2load ? '' : 'h2load '}${found.wrk ? '' : 'wrk '}not found (${INSTALL_HINT}): measuring ` +
        'with the Node.js client, which saturates before the bare peers do, so the ratios below flatter flowserve.\n',
    );
  }
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'flowserve-bench-serve-'));
  const image = Array.from({ length: PIXELS }, () => Math.random());
  const levels = options.concurrency;
  const c32 = levels.includes(32) ? [32] : levels.slice(-1);
  const cMax = Math.max(...levels);
  const servers: ServerProcess[] = [];
  const targets: Target[] = [];
  const open = async (kind: ChildKind): Promise<Target> => {
    const server = await spawnServer(kind, base);
    servers.push(server);
    const t = target(server, image);
    targets.push(t);
    return t;
  };
  try {
    await writeServedModels(base);
    console.log(
      `flowserve serving bench: ${MODEL} softmax [?,${PIXELS}]→[?,${CLASSES}], batch 1, concurrency ${levels.join('/')}, ` +
        `${options.requests} requests or ${options.seconds} s per level and side, in ${options.rounds} alternating rounds\n`,
    );
    // Each server in its own process; all up at once (idle when not measured) so the two sides can alternate.
    const bare = await open('bare');
    const flow = await open('flowserve');
    if (options.only === 'v2') {
      const v2 = await measureV2(flow, bare, levels, c32, options);
      report('serve-v2', v2.rows, {
        config: v2Config(options, levels),
        results: v2.results,
      });
      console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    // The batching pairs compare two servers with the same history (see nativeMain).
    const batching = await open('flowserve-batching');
    const batchingOff = await open('flowserve');

    const grpc = await measurePair(
      'gRPC Predict (peer: bare grpc-js, canned response)',
      { flowserve: flow.grpcPredict, peer: bare.grpcPredict },
      levels,
      options,
    );
    const classify = await measurePair(
      'gRPC Classify (peer: bare grpc-js, canned response)',
      { flowserve: flow.grpcClassify, peer: bare.grpcClassify },
      c32,
      options,
    );
    const rest = await measurePair(
      'REST :predict (peer: bare fastify, canned response)',
      { flowserve: flow.restPredict, peer: bare.restPredict },
      levels,
      options,
    );
    const batched = await measurePair(
      'gRPC Predict, flowserve batching on (peer: flowserve batching off)',
      { flowserve: batching.grpcPredict, peer: batchingOff.grpcPredict },
      [cMax],
      options,
    );

    const batchedCnn = await measurePair(
      'gRPC Predict on the MNIST CNN, flowserve batching on (peer: flowserve batching off)',
      { flowserve: batching.grpcPredictCnn, peer: batchingOff.grpcPredictCnn },
      [cMax],
      options,
    );
    const batchedMlp = await measurePair(
      'gRPC Predict on the MNIST MLP, flowserve batching on (peer: flowserve batching off)',
      { flowserve: batching.grpcPredictMlp, peer: batchingOff.grpcPredictMlp },
      [cMax],
      options,
    );

    const v2 = await measureV2(flow, bare, levels, c32, options);

    const rows: BenchRow[] = [
      ...compareRows('grpc_predict', grpc.flowserve, grpc.peer, 'bare grpc-js', '>= 0.8'),
      ...compareRows('grpc_classify', classify.flowserve, classify.peer, 'bare grpc-js', '>= 0.8'),
      ...compareRows('rest_predict', rest.flowserve, rest.peer, 'bare fastify', '>= 0.8'),
      ...batchingRows(cMax, '', batched, BATCHING_TARGETS.softmax),
      ...batchingRows(cMax, '_cnn', batchedCnn, BATCHING_TARGETS.cnn),
      ...batchingRows(cMax, '_mlp', batchedMlp, BATCHING_TARGETS.mlp),
      ...v2.rows,
    ];
    report('serve', rows, {
      config: {
        model: `${MODEL} softmax ${PIXELS}x${CLASSES}`,
        batch: 1,
        concurrency: levels,
        requestsPerLevel: options.requests,
        secondsPerLevel: options.seconds,
        rounds: options.rounds,
        batching: benchBatching(),
        serversInChildProcesses: true,
      },
      results: {
        grpcPredict: grpc,
        grpcClassify: classify,
        restPredict: rest,
        batchingOnVsOff: batched,
        batchingOnVsOffCnn: batchedCnn,
        batchingOnVsOffMlp: batchedMlp,
        ...v2.results,
      },
    });
    console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    for (const t of targets) t.close();
    await Promise.all(servers.map((s) => s.stop()));
    removeServedModels(base);
  }
}

// bench/request-cost.ts imports the fixtures above; only `node dist/bench/serve.js` runs the bench.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
  process.exit(0);
}
