/**
 * The cluster: 3 `flowserve serve` replicas reading one model store (an S3 bucket on a loopback s3rver), a real
 * HAProxy in front, 8 clients through it, and three scenarios:
 *  (a) a new version is published: each replica serves it within one poll interval plus its load time;
 *  (b) a rolling restart: each replica in turn gets SIGTERM, drains, exits 0 and is started again (ready, and back
 *      in HAProxy's rotation, before the next);
 *  (c) one replica is SIGKILLed: the requests that failed despite HAProxy's retries are counted.
 * Shared by `npm run demo:cluster` (longer phases) and test/e2e/cluster.test.ts (which asserts the bars).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { Haproxy, type HealthCheckTiming } from './haproxy.js';
import { Load, summarize, type RequestRecord, type Summary } from './load.js';
import { exportMnistVersions, PIXELS } from './model.js';
import { Replica } from './replica.js';
import { localStore, s3Store, type ModelStore } from './store.js';

export interface ClusterOptions {
  haproxy: string;
  storage: 's3' | 'local';
  replicas: number;
  clients: number;
  pollSeconds: number;
  drainDelaySeconds: number;
  drainTimeoutSeconds: number;
  check: HealthCheckTiming;
  /** Steady load before and after each scenario's event. */
  steadyMs: number;
  /** Per-request deadline. */
  requestTimeoutMs: number;
  log: (line: string) => void;
}

export const DEFAULT_CLUSTER_OPTIONS: Omit<ClusterOptions, 'haproxy'> = {
  storage: 's3',
  replicas: 3,
  clients: 8,
  pollSeconds: 1,
  // More than HAProxy's inter × fall (200 ms) plus a check's own time, with room for a loaded machine.
  drainDelaySeconds: 1,
  drainTimeoutSeconds: 10,
  check: { interMs: 100, fall: 2, rise: 1 },
  steadyMs: 1000,
  requestTimeoutMs: 10_000,
  log: () => undefined,
};

export interface ScenarioResult {
  name: string;
  summary: Summary;
  details: Record<string, unknown>;
}

export interface NewVersionDetail {
  replica: string;
  /** From the end of the upload until a direct request to the replica was answered by version 2. */
  servedAfterMs: number;
  /** The replica's own load time of version 2 (its :tensorflow:cc:saved_model:load_latency). */
  loadMs: number;
  /** servedAfterMs − loadMs: how long the replica took to see the new version (bounded by the poll interval). */
  noticedAfterMs: number;
}

export interface ClusterResult {
  storage: ModelStore['kind'];
  pollMs: number;
  scenarios: ScenarioResult[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCluster(options: ClusterOptions): Promise<ClusterResult> {
  const { log } = options;
  const dir = mkdtempSync(join(tmpdir(), 'flowserve-cluster-'));
  const replicas: Replica[] = [];
  let store: ModelStore | undefined;
  let proxy: Haproxy | undefined;
  try {
    log('exporting MNIST versions 1 and 2');
    const model = await exportMnistVersions(dir);
    store = options.storage === 's3' ? await s3Store() : localStore();
    await store.publish(1, model.versionDirs[1] as string);
    const monitoringConfigFile = join(dir, 'monitoring.txt');
    writeFileSync(monitoringConfigFile, 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n');
    for (let i = 0; i < options.replicas; i++) {
      replicas.push(
        await Replica.create(`r${i}`, {
          store,
          pollSeconds: options.pollSeconds,
          drainDelaySeconds: options.drainDelaySeconds,
          drainTimeoutSeconds: options.drainTimeoutSeconds,
          monitoringConfigFile,
        }),
      );
    }
    log(`starting ${options.replicas} replicas on ${store.basePath}`);
    for (const r of replicas) r.start();
    await Promise.all(replicas.map((r) => r.waitReady(60_000)));
    proxy = await Haproxy.start(options.haproxy, { backends: replicas, ...options.check });
    const viaProxy = `http://127.0.0.1:${proxy.ports.rest}/v2/health/ready`;
    await proxy.waitUp(10_000, async () => (await fetch(viaProxy).catch(() => undefined))?.status === 200);
    const ports = proxy.ports;
    log(
      `haproxy up: gRPC 127.0.0.1:${ports.grpc}, REST 127.0.0.1:${ports.rest} (with retries: ${ports.grpcRetrying}, ${ports.restRetrying})`,
    );

    // (a) and (b) go through the frontends without retries: their bar is kept by readiness and drain alone.
    const newLoad = (retrying: boolean) =>
      new Load({
        clients: options.clients,
        grpcAddress: `127.0.0.1:${retrying ? ports.grpcRetrying : ports.grpc}`,
        restAddress: `127.0.0.1:${retrying ? ports.restRetrying : ports.rest}`,
        images: model.images,
        count: model.count,
        timeoutMs: options.requestTimeoutMs,
      });
    const underLoad = async (event: () => Promise<Record<string, unknown>>, retrying = false) => {
      const load = newLoad(retrying);
      load.start();
      try {
        await sleep(options.steadyMs);
        const details = await event();
        await sleep(options.steadyMs);
        await load.stop();
        return { records: load.records, details };
      } finally {
        await load.stop();
        load.close();
      }
    };
    const scenarios: ScenarioResult[] = [];

    log('(a) publishing version 2');
    const a = await underLoad(async () => {
      const uploaded = await publishTimed(store as ModelStore, 2, model.versionDirs[2] as string);
      const perReplica = await Promise.all(replicas.map((r) => servedVersion(r, 2, uploaded, model.images)));
      const lastSwitch = Math.max(...perReplica.map((p) => p.servedAt));
      return {
        replicas: await Promise.all(
          perReplica.map(async (p, i): Promise<NewVersionDetail> => {
            const loadMs = ((await (replicas[i] as Replica).loadSeconds(2)) ?? NaN) * 1000;
            return {
              replica: (replicas[i] as Replica).name,
              servedAfterMs: p.servedAt - uploaded,
              loadMs,
              noticedAfterMs: p.servedAt - uploaded - loadMs,
            };
          }),
        ),
        lastSwitch,
      };
    });
    const lastSwitch = a.details.lastSwitch as number;
    delete a.details.lastSwitch;
    const grpcAfter = a.records.filter((r) => r.api === 'grpc' && r.startMs > lastSwitch && r.error === undefined);
    a.details.viaProxyAfterSwitch = {
      grpcRequests: grpcAfter.length,
      answeredByVersion2: grpcAfter.filter((r) => r.version === 2).length,
    };
    scenarios.push({ name: '(a) new version uploaded', summary: summarize(a.records), details: a.details });

    log('(b) rolling restart');
    const b = await underLoad(async () => {
      const steps: Record<string, unknown>[] = [];
      for (const r of replicas) {
        const t0 = performance.now();
        r.signal('SIGTERM');
        const exit = await r.exited((options.drainDelaySeconds + options.drainTimeoutSeconds + 10) * 1000);
        const exitedMs = performance.now() - t0;
        r.start();
        await r.waitReady(60_000);
        const readyMs = performance.now() - t0;
        // Back in HAProxy's rotation (rise checks) before the next one goes.
        await sleep(options.check.interMs * (options.check.rise + 1));
        steps.push({ replica: r.name, exit, exitedMs: Math.round(exitedMs), readyAgainMs: Math.round(readyMs) });
        log(
          `    ${r.name}: exited ${JSON.stringify(exit)} after ${exitedMs.toFixed(0)} ms, ready after ${readyMs.toFixed(0)} ms`,
        );
      }
      return { steps };
    });
    scenarios.push({ name: '(b) rolling restart', summary: summarize(b.records), details: b.details });

    log('(c) SIGKILL one replica');
    const victim = replicas[0] as Replica;
    const c = await underLoad(async () => {
      victim.signal('SIGKILL');
      await victim.exited(5000);
      // Long enough for HAProxy's checks to take it out (inter × fall) and then some.
      await sleep(options.check.interMs * options.check.fall + options.steadyMs);
      return { killed: victim.name, haproxyRetries: 'retry-on conn-failure empty-response, option redispatch' };
    }, true);
    victim.start();
    await victim.waitReady(60_000);
    scenarios.push({ name: '(c) one replica SIGKILLed', summary: summarize(c.records), details: c.details });
    return { storage: store.kind, pollMs: options.pollSeconds * 1000, scenarios };
  } catch (err) {
    for (const r of replicas) log(`--- ${r.name} stderr (tail):\n${r.stderr().slice(-3000)}`);
    if (proxy) log(`--- haproxy output (tail):\n${proxy.output().slice(-3000)}`);
    throw err;
  } finally {
    await proxy?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function publishTimed(store: ModelStore, version: number, dir: string): Promise<number> {
  await store.publish(version, dir);
  return performance.now();
}

/** Sends predictions straight to `replica` until version `version` answers; the time it first did. */
async function servedVersion(
  replica: Replica,
  version: number,
  since: number,
  images: Float32Array,
): Promise<{ servedAt: number }> {
  const client = createClient({ server: `127.0.0.1:${replica.grpcPort}` });
  const x = new HostTensor('float32', [1, PIXELS], images.slice(0, PIXELS));
  try {
    for (;;) {
      const result = await client.predict({ name: 'mnist' }, { images: x }, { timeoutMs: 10_000 });
      if (result.model.version === version) return { servedAt: performance.now() };
      if (performance.now() - since > 60_000)
        throw new Error(`${replica.name} did not serve version ${version} in 60 s`);
      await sleep(20);
    }
  } finally {
    client.close();
  }
}

export type { RequestRecord };
