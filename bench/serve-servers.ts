/**
 * The bench's server processes: flowserve (batching off or on) and the bare transports it is measured against, each
 * started in a child process of its own by spawnServer (this file, run with --child KIND BASE).
 *
 * This module imports only what the servers need, so a server process holds what `flowserve serve` would hold and no
 * more. When the child ran bench/serve.js, it also loaded the bench's own imports (playwright-core's bundles, the
 * training code): a heap twice the size (54.6 MB live against 26.7 under gRPC load), which V8 lets grow further before
 * each full collection, so each of those collections paused the server longer (up to 0.6 s: docs/performance.md,
 * "Round 15").
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { SERVER_NODE_FLAGS } from '../src/cli/server-node-flags.js';
import { INFERENCE_SERVICE, loadInferencePackageDefinition } from '../src/client/v2/grpc.js';
import { INFERENCE_HEADER } from '../src/client/v2/rest.js';
import { HostTensor } from '../src/graph/host-tensor.js';
import type { ClassificationResponseMsg, PredictResponseMsg } from '../src/serving/apis/shared/proto-types.js';
import { loadServicePackageDefinition } from '../src/serving/apis/shared/protos.js';
import { encodeTensorProto } from '../src/serving/apis/shared/tensor-proto.js';
import { defaultBatchingParameters, type BatchingParameters } from '../src/serving/config/index.js';
import { DEFAULT_FLOW_CONTROL_WINDOW } from '../src/serving/config/grpc-channel-arguments.js';
import { defaultModelConfig } from '../src/serving/config/model-server-config.js';

export const MODEL = 'mnist';
/** A heavier model for the batching comparison: the MNIST CNN (random weights; only its cost matters here). */
export const CNN_MODEL = 'mnist_cnn';
/** The 784-256-128-10 MLP of bench:train, for batching's "any model" (served from <base>-mlp). */
export const MLP_MODEL = 'mnist_mlp';
export const CLASSES = 10;
export const PREDICT_SIGNATURE = 'predict_images';
export const LABELS = Array.from({ length: CLASSES }, (_, i) => String(i));
/** The large-input model of the v2 binary vs JSON comparison: sum = Σ x over an image-sized FP32 input. */
export const LARGE_MODEL = 'sum224';

/**
 * `bare-windowed`: the bare servers with grpc-js's HTTP/2 receive windows opened as wide as flowserve's transport opens
 * its own (1 MiB a stream and a connection, where grpc-js keeps HTTP/2's 64 KiB), so that a comparison at many streams
 * on one connection measures the servers' work, not their flow control (docs/performance.md, "Round 23").
 */
export type ChildKind = 'flowserve' | 'flowserve-batching' | 'bare' | 'bare-windowed';

export interface Ports {
  grpcPort: number;
  restPort: number;
}

/** The bench's batching settings over the defaults (bench/batching-cost.ts uses them with another build's defaults). */
export const BENCH_BATCHING_SETTINGS = {
  maxBatchSize: 64,
  maxExecutionBatchSize: 64,
  batchTimeoutMicros: 1000,
  numBatchThreads: 2,
  maxEnqueuedBatches: 100,
  // TF Serving's guide recommends a few fixed batch sizes; flowserve pads to them only on the GPU by default.
  allowedBatchSizes: [8, 16, 32, 64],
} as const satisfies Partial<BatchingParameters>;

export function benchBatching(): BatchingParameters {
  return {
    ...defaultBatchingParameters(),
    ...BENCH_BATCHING_SETTINGS,
    allowedBatchSizes: [...BENCH_BATCHING_SETTINGS.allowedBatchSizes],
    // --batch_dispatch (default idle_thread); FLOWSERVE_BENCH_DISPATCH=timeout measures TF Serving's wait instead.
    dispatch: process.env.FLOWSERVE_BENCH_DISPATCH === 'timeout' ? 'timeout' : 'idle_thread',
    // --batch_padding (default auto: no padding on the CPU); FLOWSERVE_BENCH_PADDING=always pads as TF Serving does.
    padding: process.env.FLOWSERVE_BENCH_PADDING === 'always' ? 'always' : 'auto',
  };
}

/** A 10-float scores tensor, as flowserve's Predict answers it (typed float_val, not tensor_content). */
function cannedScores(): HostTensor {
  return new HostTensor(
    'float32',
    [1, CLASSES],
    Float32Array.from({ length: CLASSES }, () => 1 / CLASSES),
  );
}

/**
 * Opens the receive windows of a bound grpc-js Server. grpc-js has no server option for them; its HTTP/2 servers are
 * in its private `http2Servers` map, which this checks for, so that a grpc-js that moved it fails the bench loudly.
 */
function openGrpcJsWindows(server: Server, bytes: number): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
    throw new Error('cannot reach the HTTP/2 servers of grpc-js (its private http2Servers map) to open their windows');
  }
  for (const http2Server of http2Servers.keys()) {
    http2Server.updateSettings({ initialWindowSize: bytes });
    http2Server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(bytes));
  }
}

async function startBare(windowBytes?: number): Promise<Ports & { close(): Promise<void> }> {
  const spec = { name: MODEL, version: { value: '1' }, signature_name: PREDICT_SIGNATURE };
  const predictResponse: PredictResponseMsg = {
    outputs: { scores: encodeTensorProto(cannedScores(), { tensorContent: false }) },
    model_spec: spec,
  };
  const classifyResponse: ClassificationResponseMsg = {
    result: {
      classifications: [{ classes: LABELS.map((label) => ({ label, score: 1 / CLASSES })) }],
    },
    model_spec: { ...spec, signature_name: 'serving_default' },
  };
  const definition = loadServicePackageDefinition();
  const server = new Server();
  const implementation: UntypedServiceImplementation = {
    Predict: (_call: unknown, callback: (err: null, response: object) => void) => callback(null, predictResponse),
    Classify: (_call: unknown, callback: (err: null, response: object) => void) => callback(null, classifyResponse),
  };
  server.addService(definition['tensorflow.serving.PredictionService'] as unknown as ServiceDefinition, implementation);
  // v2: the ModelInferResponse flowserve answers for the softmax model, scores in raw_output_contents.
  const scoresBytes = Buffer.from((cannedScores().data as Float32Array).buffer);
  const inferResponse = {
    model_name: MODEL,
    model_version: '1',
    outputs: [{ name: 'scores', datatype: 'FP32', shape: ['1', String(CLASSES)] }],
    raw_output_contents: [scoresBytes],
  };
  server.addService(
    loadInferencePackageDefinition()[INFERENCE_SERVICE] as unknown as ServiceDefinition,
    {
      ModelInfer: (_call: unknown, callback: (err: null, response: object) => void) => callback(null, inferResponse),
    } as UntypedServiceImplementation,
  );
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  if (windowBytes !== undefined) openGrpcJsWindows(server, windowBytes);

  const restBody = JSON.stringify({ predictions: [Array.from(cannedScores().data as Float32Array)] });
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 * 1024 });
  app.post('/v1/*', async (_request, reply) => reply.type('application/json').send(restBody));
  // v2 REST binary: the JSON header and the 40 bytes of scores that flowserve answers with binary outputs.
  const v2Header = Buffer.from(
    JSON.stringify({
      model_name: MODEL,
      model_version: '1',
      outputs: [
        {
          name: 'scores',
          datatype: 'FP32',
          shape: [1, CLASSES],
          parameters: { binary_data_size: scoresBytes.byteLength },
        },
      ],
    }),
  );
  const v2Body = Buffer.concat([v2Header, scoresBytes]);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  app.post('/v2/models/:model/infer', async (_request, reply) =>
    reply.type('application/octet-stream').header(INFERENCE_HEADER, String(v2Header.byteLength)).send(v2Body),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const restPort = typeof address === 'object' && address ? address.port : 0;
  return {
    grpcPort,
    restPort,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await app.close();
    },
  };
}

async function startFlowserve(base: string, batching: boolean): Promise<Ports & { close(): Promise<void> }> {
  const { startServer } = await import('../src/serving/server.js');
  const server = await startServer({
    modelConfig: {
      models: [
        ...[
          [MODEL, base],
          [CNN_MODEL, `${base}-cnn`],
          [MLP_MODEL, `${base}-mlp`],
          [LARGE_MODEL, `${base}-sum`],
        ].map(([name, basePath]) => defaultModelConfig(name as string, basePath as string)),
      ],
    },
    fileSystemPollWaitSeconds: 0,
    grpcPort: 0,
    restPort: 0,
    host: '127.0.0.1',
    ...(batching ? { batching: benchBatching() } : {}),
    // The parent passes --device to its server processes through the environment.
    device: process.env.FLOWSERVE_BENCH_DEVICE === 'gpu' ? 'gpu' : 'cpu',
    log: (level, message) => {
      if (level !== 'info') process.stderr.write(`[flowserve ${level}] ${message}\n`);
    },
  });
  return { grpcPort: server.grpcPort, restPort: server.restPort ?? 0, close: () => server.close() };
}

/** Child process entry: start one kind of server, report its ports, close on 'stop'. */
async function childMain(kind: ChildKind, base: string): Promise<void> {
  const running =
    kind === 'bare'
      ? await startBare()
      : kind === 'bare-windowed'
        ? await startBare(DEFAULT_FLOW_CONTROL_WINDOW)
        : await startFlowserve(base, kind === 'flowserve-batching');
  process.send?.({ grpcPort: running.grpcPort, restPort: running.restPort });
  const stop = () => void running.close().finally(() => process.exit(0));
  process.on('message', (message) => {
    if (message === 'stop') stop();
  });
  // The bench that forked this server died without saying 'stop' (killed, or its output piped into `head`): stop
  // too, instead of serving on, unseen, beside later runs.
  process.on('disconnect', stop);
}

export interface ServerProcess extends Ports {
  /** The child process's id (bench/request-cost.ts reads its CPU time). */
  pid: number;
  stop(): Promise<void>;
}

/** How spawnServer starts the child, beyond its kind: Node/V8 flags, and where its stdout goes. */
export interface ServerLaunch {
  /**
   * The child's Node and V8 flags. Default: this process's, and for a flowserve server also the flowserve command's
   * own (SERVER_NODE_FLAGS), so that it runs as `flowserve serve` does.
   */
  execArgv?: string[];
  /** Receives the child's stdout (default: this process's stdout), e.g. V8's GC trace. */
  stdout?: (text: string) => void;
}

/**
 * The child entry of the build whose dist/ is `dist` (for an A/B against another build): its serve-servers.js, or
 * its serve.js for builds from before this module, where the child ran the whole bench file.
 */
export function serverScript(dist: string): string {
  const servers = join(dist, 'bench', 'serve-servers.js');
  return existsSync(servers) ? servers : join(dist, 'bench', 'serve.js');
}

/** Starts `kind` in a child process running `script` (this file by default; serverScript(dist) for an A/B). */
export function spawnServer(
  kind: ChildKind,
  base: string,
  script = fileURLToPath(import.meta.url),
  launch: ServerLaunch = {},
): Promise<ServerProcess> {
  const child: ChildProcess = fork(script, ['--child', kind, base], {
    stdio: ['ignore', launch.stdout ? 'pipe' : 'inherit', 'inherit', 'ipc'],
    execArgv:
      launch.execArgv ??
      (kind.startsWith('flowserve') ? [...process.execArgv, ...SERVER_NODE_FLAGS] : process.execArgv),
  });
  if (launch.stdout) child.stdout?.setEncoding('utf8').on('data', launch.stdout);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with code ${code ?? 'null'}`)));
    child.once('message', (message) => {
      const ports = message as Ports;
      child.removeAllListeners('exit');
      resolve({
        ...ports,
        pid: child.pid as number,
        stop: () =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            child.send('stop');
          }),
      });
    });
  });
}

const childIndex = process.argv.indexOf('--child');
if (childIndex >= 0 && process.argv[1] === fileURLToPath(import.meta.url)) {
  await childMain(process.argv[childIndex + 1] as ChildKind, process.argv[childIndex + 2] ?? '');
}
