/**
 * Clients sending MNIST predictions through the load balancer until stopped: half over gRPC, half over REST, each one
 * request at a time with a deadline. Every request is recorded (latency, the version that answered where the API
 * says it, or the error), so a scenario can count failures and the p99.
 */
import { createClient, type ServingClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { PIXELS } from './model.js';

export interface RequestRecord {
  api: 'grpc' | 'rest';
  startMs: number;
  ms: number;
  /** The version in the response's model_spec (gRPC); undefined over REST, whose predict response has none. */
  version?: number;
  error?: string;
}

export interface LoadOptions {
  clients: number;
  grpcAddress: string;
  restAddress: string;
  images: Float32Array;
  count: number;
  /** Per-request deadline. */
  timeoutMs: number;
}

export class Load {
  readonly records: RequestRecord[] = [];
  private stopping = false;
  private readonly clients: { api: 'grpc' | 'rest'; client: ServingClient }[];
  private running: Promise<void>[] = [];

  constructor(private readonly options: LoadOptions) {
    this.clients = Array.from({ length: options.clients }, (_, i) => {
      const api = i % 2 === 0 ? ('grpc' as const) : ('rest' as const);
      const server = api === 'grpc' ? options.grpcAddress : options.restAddress;
      return { api, client: createClient({ server, api }) };
    });
  }

  start(): void {
    this.stopping = false;
    this.running = this.clients.map(({ api, client }, i) => this.loop(api, client, i));
  }

  /** Stops after each client's request in flight and returns the records since `fromIndex`. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  close(): void {
    for (const { client } of this.clients) client.close();
  }

  private async loop(api: 'grpc' | 'rest', client: ServingClient, index: number): Promise<void> {
    const { images, count, timeoutMs } = this.options;
    for (let n = index; !this.stopping; n++) {
      const i = n % count;
      const x = new HostTensor('float32', [1, PIXELS], images.slice(i * PIXELS, (i + 1) * PIXELS));
      const startMs = performance.now();
      try {
        const result = await client.predict({ name: 'mnist' }, { images: x }, { timeoutMs });
        const ms = performance.now() - startMs;
        if (result.outputs.scores?.shape[1] !== 10) throw new Error(`scores of shape ${result.outputs.scores?.shape}`);
        this.records.push({
          api,
          startMs,
          ms,
          ...(result.model.version === undefined ? {} : { version: result.model.version }),
        });
      } catch (err) {
        this.records.push({ api, startMs, ms: performance.now() - startMs, error: (err as Error).message });
      }
    }
  }
}

export interface Summary {
  requests: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  /** The first few distinct error messages, for the report. */
  errors: string[];
}

export function summarize(records: readonly RequestRecord[]): Summary {
  const times = records.map((r) => r.ms).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  const failed = records.filter((r) => r.error !== undefined);
  return {
    requests: records.length,
    failures: failed.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    errors: [...new Set(failed.map((r) => `${r.api}: ${r.error}`))].slice(0, 5),
  };
}
