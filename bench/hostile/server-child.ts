/**
 * The server a fuzz or soak run attacks, in its own process so that a crash is seen as an exit and its memory can
 * be read from /proc: startServer on 127.0.0.1 with ephemeral gRPC and REST ports, Prometheus on, one inference
 * worker. Started by server-process.ts with one JSON argument (ChildConfig); reports its ports over IPC and stops
 * gracefully on the message 'stop'.
 */
import { startServer } from '../../src/serving/server.js';
import { defaultBatchingParameters } from '../../src/serving/config/batching-parameters.js';
import type { ModelConfig } from '../../src/serving/config/model-server-config.js';
import { DEFAULT_VERSION_POLICY } from '../../src/serving/config/model-server-config.js';

export interface ChildConfig {
  models: { name: string; basePath: string; versionLabels?: Record<string, number> }[];
  /** Server-side batching on every model (TF Serving's batching is server-wide). */
  batching: boolean;
  fileSystemPollWaitSeconds: number;
  /** --max_input_bytes; the server's default when absent. */
  maxInputBytes?: number;
}

export interface ChildPorts {
  grpcPort: number;
  restPort: number;
}

/** max_batch_size of the batching server: the fuzzers send batches around it. */
export const FUZZ_MAX_BATCH_SIZE = 16;

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const models: ModelConfig[] = config.models.map((m) => ({
  name: m.name,
  basePath: m.basePath,
  modelPlatform: 'tensorflow',
  versionPolicy: DEFAULT_VERSION_POLICY,
  versionLabels: m.versionLabels ?? {},
}));
const server = await startServer({
  modelConfig: { models },
  grpcPort: 0,
  restPort: 0,
  host: '127.0.0.1',
  numWorkers: 1,
  ...(config.maxInputBytes ? { limits: { maxInputBytes: config.maxInputBytes } } : {}),
  fileSystemPollWaitSeconds: config.fileSystemPollWaitSeconds,
  // Labels are set before the first load finishes, as TF Serving requires this flag for (tensorflow/serving#1230).
  allowVersionLabelsForUnavailableModels: true,
  monitoring: { prometheus: { enable: true, path: '/monitoring/prometheus/metrics' } },
  ...(config.batching
    ? {
        batching: {
          ...defaultBatchingParameters(),
          maxBatchSize: FUZZ_MAX_BATCH_SIZE,
          maxExecutionBatchSize: FUZZ_MAX_BATCH_SIZE,
          batchTimeoutMicros: 500,
          numBatchThreads: 1,
          maxEnqueuedBatches: 100,
        },
      }
    : {}),
  // Lifecycle lines only (loads, unloads); request errors are the fuzzer's business, not the log's.
  log: (level, message) => {
    if (level !== 'info') process.stderr.write(`[server ${level}] ${message.slice(0, 2000)}\n`);
  },
});
const ports: ChildPorts = { grpcPort: server.grpcPort, restPort: server.restPort as number };
process.send?.(ports);
process.on('message', (message) => {
  if (message === 'stop') void server.close().then(() => process.exit(0));
  // The soak's measurement point: memory after a full collection is what the server keeps, not garbage in waiting.
  if (message === 'gc') {
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    collect?.();
    process.send?.({ memory: process.memoryUsage(), collected: collect !== undefined });
  }
});
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
