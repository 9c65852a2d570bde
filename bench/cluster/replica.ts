/**
 * One `flowserve serve` replica as a child process on 127.0.0.1, on ports fixed at creation so that a restart comes
 * back where the load balancer expects it. Each has its own --model_cache_dir; stderr is kept for the report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from '../../src/cli/server-node-flags.js';
import { freePort } from '../../test/helpers/free-port.js';
import type { ModelStore } from './store.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

export interface ReplicaOptions {
  store: ModelStore;
  pollSeconds: number;
  drainDelaySeconds: number;
  drainTimeoutSeconds: number;
  /** Written once, passed as --monitoring_config_file (Prometheus on the REST port: the load latency metric). */
  monitoringConfigFile: string;
}

/**
 * Ports given to replicas by this process. freePort may return a port it returned before, once that one was closed
 * again; two replicas were once given the same REST port, and the second to bind failed with EADDRINUSE.
 */
const portsGiven = new Set<number>();

async function replicaPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (!portsGiven.has(port)) {
      portsGiven.add(port);
      return port;
    }
  }
  throw new Error('no free TCP port that no other replica was given, in 100 tries');
}

export class Replica {
  private child: ChildProcess | undefined;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private log = '';
  private readonly cacheDir = mkdtempSync(join(tmpdir(), 'flowserve-cluster-cache-'));

  private constructor(
    readonly name: string,
    readonly grpcPort: number,
    readonly restPort: number,
    private readonly options: ReplicaOptions,
  ) {}

  static async create(name: string, options: ReplicaOptions): Promise<Replica> {
    return new Replica(name, await replicaPort(), await replicaPort(), options);
  }

  /** Everything the process wrote to stderr, over all its starts. */
  stderr(): string {
    return this.log;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { store, pollSeconds, drainDelaySeconds, drainTimeoutSeconds, monitoringConfigFile } = this.options;
    // The flags the flowserve command runs with (its script's first line).
    const args = [
      ...SERVER_NODE_FLAGS,
      CLI,
      'serve',
      '--host=127.0.0.1',
      `--port=${this.grpcPort}`,
      `--rest_api_port=${this.restPort}`,
      '--model_name=mnist',
      `--model_base_path=${store.basePath}`,
      `--file_system_poll_wait_seconds=${pollSeconds}`,
      `--drain_delay_seconds=${drainDelaySeconds}`,
      `--drain_timeout_seconds=${drainTimeoutSeconds}`,
      `--monitoring_config_file=${monitoringConfigFile}`,
      '--num_workers=1',
      ...(store.kind === 's3' ? [`--model_cache_dir=${this.cacheDir}`] : []),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...store.env },
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (this.log += chunk));
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child = child;
  }

  /** GET /v2/health/ready on the REST port: what the load balancer checks. */
  async ready(): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.restPort}/v2/health/ready`, {
        signal: AbortSignal.timeout(1000),
      });
      await response.arrayBuffer();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.ready())) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.log.slice(-4000)}`);
      if (Date.now() > deadline)
        throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  signal(signal: 'SIGTERM' | 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  /** Resolves with how the process ended; SIGKILLs it after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exit) return { code: null, signal: null };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.child?.kill('SIGKILL');
        reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exit, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Load latency of `version` in seconds, from the Prometheus metric TF Serving names load_latency (µs). */
  async loadSeconds(version: number): Promise<number | undefined> {
    const response = await fetch(`http://127.0.0.1:${this.restPort}/monitoring/prometheus/metrics`);
    const text = await response.text();
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith(':tensorflow:cc:saved_model:load_latency{') && new RegExp(`[/\\\\]${version}"`).test(l),
      );
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1)) / 1e6;
  }

  /** Kills the process if it still runs and removes its cache. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child?.kill('SIGKILL');
      await this.exited(5000).catch(() => undefined);
    }
    rmSync(this.cacheDir, { recursive: true, force: true });
  }
}
