/**
 * The dashboard's JSON endpoints on a real server with an exported MNIST model, a small classifier and a model
 * whose only version is corrupt: shapes and values, the live stats against the Prometheus page, the SSE stream,
 * placement, runs, and auth.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as fs from '../../../src/index.js';
import {
  DEFAULT_VERSION_POLICY,
  validateModelServerConfig,
  type ModelConfig,
} from '../../../src/serving/config/model-server-config.js';
import type {
  DashboardModels,
  DashboardPlacement,
  DashboardRuns,
  DashboardServer,
  DashboardStats,
} from '../../../src/serving/dashboard/api-types.js';
import { writeCurvesJson } from '../../../src/train/curves.js';
import { buildModel } from '../../../src/train/models.js';
import { tempBase, writeClassifier, writeCorruptVersion } from '../apis/fixtures.js';

const METRICS_PATH = '/monitoring/prometheus/metrics';
const INTERVAL_MS = 100;

async function exportMnist(base: string): Promise<void> {
  const g = new fs.Graph();
  const model = fs.withGraph(g, () => buildModel('softmax', { seed: 7 }));
  const session = new fs.Session(g, { logger: () => {} });
  try {
    await session.run(fs.globalVariablesInitializer(g));
    await fs.exportModel(session, {
      exportBase: base,
      version: 1,
      signatures: {
        serving_default: fs.classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
        predict_images: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
      },
    });
  } finally {
    await session.close();
  }
}

const entry = (base: string, name: string): ModelConfig => ({
  name,
  basePath: join(base, name),
  modelPlatform: 'tensorflow',
  versionPolicy: DEFAULT_VERSION_POLICY,
  versionLabels: name === 'clf' ? { stable: 1 } : {},
});

/** Sum of a Prometheus counter's samples whose labels include all of `labels`. */
function promSum(text: string, metric: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('dashboard JSON endpoints', () => {
  let base: string;
  let server: fs.RunningServer;
  let root: string;
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${root}${path}`);
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return (await res.json()) as T;
  };

  before(async () => {
    base = tempBase('flowserve-dashboard-');
    await exportMnist(join(base, 'mnist'));
    writeClassifier(join(base, 'clf'), 1);
    writeCorruptVersion(join(base, 'broken'), 3);
    const runs = join(base, 'runs');
    await writeCurvesJson(join(runs, 'run-a', 'curves.json'), {
      loss: [2, 1, NaN, 0.5],
      accuracy: [0.1, 0.9],
      title: 'A',
    });
    mkdirSync(join(runs, 'run-bad'), { recursive: true });
    writeFileSync(join(runs, 'run-bad', 'curves.json'), '{"format": "flowserve.curves/1", "loss": [1, "x"]}');
    mkdirSync(join(runs, 'run-huge'), { recursive: true });
    writeFileSync(join(runs, 'run-huge', 'curves.json'), Buffer.alloc(9 * 1024 * 1024, 32));
    server = await fs.startServer({
      modelConfig: validateModelServerConfig({
        models: [entry(base, 'mnist'), entry(base, 'clf'), entry(base, 'broken')],
      }),
      grpcPort: 0,
      restPort: 0,
      monitoring: { prometheus: { enable: true, path: METRICS_PATH } },
      fileSystemPollWaitSeconds: -1,
      maxNumLoadRetries: 0,
      waitForModels: false,
      allowVersionLabelsForUnavailableModels: true,
      numWorkers: 1,
      log: () => {},
      dashboard: { statsIntervalMs: INTERVAL_MS, statsSamples: 50, runsDir: runs, maxPlacementOps: 3 },
    });
    root = `http://127.0.0.1:${server.restPort}`;
    await server.core.ready().catch(() => undefined);
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('server: name, version, readiness, control mode, bound ports, protocols and the worker pool', async () => {
    const body = await get<DashboardServer>('/api/dashboard/server');
    assert.equal(body.name, 'flowserve');
    assert.match(body.version, /^\d+\.\d+\.\d+/);
    assert.equal(body.readiness, 'ready');
    assert.equal(body.modelControlMode, 'none');
    assert.deepEqual(body.ports, { grpc: server.grpcPort, rest: server.restPort });
    assert.equal(body.protocols.prometheusPath, METRICS_PATH);
    assert.equal(body.protocols.auth, false);
    assert.deepEqual(body.workers, { size: 1 });
    assert.equal(body.dashboard.runs, true);
    assert.equal(body.dashboard.statsIntervalMs, INTERVAL_MS);
    assert.ok(body.uptimeSeconds >= 0 && Date.parse(body.startedAt) <= Date.now());
  });

  test('models: versions, states, labels, full load errors, source, format and signatures as metadata says', async () => {
    const { models } = await get<DashboardModels>('/api/dashboard/models');
    assert.deepEqual(
      models.map((m) => m.name),
      ['broken', 'clf', 'mnist'],
    );
    const mnist = models.find((m) => m.name === 'mnist')!;
    assert.deepEqual(mnist.source, { basePath: join(base, 'mnist'), kind: 'local' });
    assert.equal(mnist.device, 'cpu');
    assert.equal(mnist.versionPolicy, 'latest 1');
    const v1 = mnist.versions[0]!;
    assert.equal(v1.state, 'AVAILABLE');
    assert.equal(v1.loaded?.format, 'flowserve');
    assert.equal(v1.loaded?.platform, 'onnxruntime_onnx');
    // The same signature the REST metadata API returns.
    const metadata = (await (await fetch(`${root}/v1/models/mnist/metadata`)).json()) as {
      metadata: { signature_def: { signature_def: Record<string, { inputs: Record<string, unknown> }> } };
    };
    const restInput = metadata.metadata.signature_def.signature_def.predict_images!.inputs.images as {
      dtype: string;
      tensor_shape: { dim: { size: string }[] };
    };
    const images = v1.loaded!.signatures.predict_images!.inputs.images!;
    assert.equal(images.dtype, restInput.dtype);
    assert.equal(images.dtype, 'DT_FLOAT');
    assert.equal(images.datatype, 'FP32');
    assert.deepEqual(
      images.shape,
      restInput.tensor_shape.dim.map((d) => Number(d.size)),
    );
    assert.deepEqual(images.shape, [-1, 784]);
    assert.deepEqual(Object.keys(v1.loaded!.signatures).sort(), ['predict_images', 'serving_default']);

    const clf = models.find((m) => m.name === 'clf')!;
    assert.deepEqual(clf.labels, { stable: 1 });
    assert.deepEqual(clf.versions[0]!.labels, ['stable']);
    assert.equal(clf.versions[0]!.loaded?.format, 'flowserve');

    const broken = models.find((m) => m.name === 'broken')!;
    const v3 = broken.versions[0]!;
    assert.equal(v3.version, 3);
    assert.equal(v3.state, 'END');
    assert.equal(v3.loaded, null);
    const status = (await (await fetch(`${root}/v1/models/broken`)).json()) as {
      model_version_status: { status: { error_message: string } }[];
    };
    assert.ok(v3.error && v3.error.message.length > 0);
    assert.ok(v3.error.message.startsWith(status.model_version_status[0]!.status.error_message.slice(0, 40)));
  });

  test('placement of the exported MNIST model lists its ops with their device, capped as the response says', async () => {
    const { models } = await get<DashboardModels>('/api/dashboard/models');
    const images = models.find((m) => m.name === 'mnist')!.versions[0]!.loaded!.signatures.predict_images!.inputs
      .images!;
    const body = await get<DashboardPlacement>('/api/dashboard/models/mnist/versions/1/placement');
    assert.equal(body.model, 'mnist');
    assert.equal(body.version, 1);
    assert.equal(body.format, 'flowserve');
    assert.ok(body.totalOps > 3, `totalOps ${body.totalOps}`);
    assert.equal(body.ops.length, 3);
    assert.equal(body.maxOps, 3);
    assert.equal(body.truncated, true);
    const cpu = '/job:localhost/replica:0/task:0/device:CPU:0';
    assert.deepEqual(body.devices, [cpu]);
    for (const op of body.ops) {
      assert.equal(op.device, cpu);
      assert.ok(op.type.length > 0 && op.name.length > 0);
    }
    assert.equal(body.log[0], `${body.ops[0]!.name}: (${body.ops[0]!.type}): ${cpu}`);
    assert.deepEqual(body.partitions, [{ index: 0, device: cpu, ops: body.totalOps }]);
    // The signature's one input is the graph's one fed tensor (weights are initializers, not inputs).
    assert.deepEqual(body.inputs, [images.name]);
    assert.ok(body.initializers > 0);
  });

  test('placement of an unknown model, version or a non-number answers 404 with an error body', async () => {
    for (const path of ['nope/versions/1', 'mnist/versions/7', 'mnist/versions/abc', 'broken/versions/3']) {
      const res = await fetch(`${root}/api/dashboard/models/${path}/placement`);
      assert.equal(res.status, 404, path);
      assert.equal(typeof ((await res.json()) as { error: string }).error, 'string');
    }
  });

  test('stats move with requests and agree with the Prometheus counters', async () => {
    const before = await (await fetch(`${root}${METRICS_PATH}`)).text();
    const okBefore = promSum(before, 'flowserve_requests_total', { model_name: 'clf', status: 'OK', protocol: 'v1' });
    const badBefore = promSum(before, 'flowserve_requests_total', { model_name: 'clf', entrypoint: 'REST' }) - okBefore;
    const sent = 7;
    for (let i = 0; i < sent; i++) {
      const res = await fetch(`${root}/v1/models/clf:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances: [[1, 2, 3, 4]] }),
      });
      assert.equal(res.status, 200);
      await res.text();
    }
    const bad = await fetch(`${root}/v1/models/clf:predict`, { method: 'POST', body: '{"instances": [[1]]}' });
    assert.equal(bad.status, 400);
    await bad.text();
    const after = await (await fetch(`${root}${METRICS_PATH}`)).text();
    const okAfter = promSum(after, 'flowserve_requests_total', { model_name: 'clf', status: 'OK', protocol: 'v1' });
    const allAfter = promSum(after, 'flowserve_requests_total', { model_name: 'clf', entrypoint: 'REST' });
    assert.equal(okAfter - okBefore, sent);
    assert.equal(allAfter - okAfter - badBefore, 1);

    // Bounded wait: the sampler reads the counters every INTERVAL_MS.
    let stats: DashboardStats | undefined;
    let total = 0;
    let errors = 0;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
      stats = await get<DashboardStats>('/api/dashboard/stats');
      const series = stats.series.find((s) => s.model === 'clf' && s.entrypoint === 'REST' && s.protocol === 'v1');
      const seconds = stats.intervalMs / 1000;
      total = Math.round((series?.requestsPerSecond ?? []).reduce((a, b) => a + b, 0) * seconds);
      errors = Math.round((series?.errorsPerSecond ?? []).reduce((a, b) => a + b, 0) * seconds);
      if (total >= sent + 1) break;
    }
    assert.ok(stats);
    // Everything the Prometheus counters counted since the window began (the metadata fetch above counts too).
    const windowTotal =
      allAfter - promSum(before, 'flowserve_requests_total', { model_name: 'clf', entrypoint: 'REST' });
    assert.ok(total >= windowTotal, `stats counted ${total}, Prometheus ${windowTotal}`);
    assert.equal(errors, 1);
    const series = stats.series.find((s) => s.model === 'clf' && s.entrypoint === 'REST' && s.protocol === 'v1')!;
    assert.equal(series.requestsPerSecond.length, stats.timestamps.length);
    const p50 = series.p50LatencyMs.filter((v): v is number => v !== null);
    assert.ok(p50.length > 0 && p50.every((v) => v > 0 && v < 10_000), `p50 ${p50.join(',')}`);
    assert.deepEqual(stats.workers && { size: stats.workers.size }, { size: 1 });
    assert.equal(stats.workers!.busy + stats.workers!.idle, 1);
    assert.ok(
      promSum(after, 'flowserve_inference_workers', { state: 'idle' }) +
        promSum(after, 'flowserve_inference_workers', { state: 'busy' }) ===
        1,
    );
  });

  test('the stream delivers stats events with the newest sample', async () => {
    const controller = new AbortController();
    const res = await fetch(`${root}/api/dashboard/stats/stream`, { signal: controller.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (let i = 0; i < 50 && !/event: stats\ndata: .*\n\n/.test(text); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const data = /event: stats\ndata: (.*)\n\n/.exec(text)?.[1];
    assert.ok(data, text);
    const event = JSON.parse(data) as DashboardStats;
    assert.equal(event.timestamps.length, 1);
    assert.equal(event.intervalMs, INTERVAL_MS);
    controller.abort();
  });

  test('runs: curves.json of each run folder, bad and oversized files skipped with the reason', async () => {
    const body = await get<DashboardRuns>('/api/dashboard/runs');
    assert.equal(body.enabled, true);
    assert.deepEqual(
      body.runs.map((r) => r.name),
      ['run-a'],
    );
    assert.deepEqual(body.runs[0]!.loss, [2, 1, null, 0.5]);
    assert.deepEqual(body.runs[0]!.accuracy, [0.1, 0.9]);
    assert.equal(body.runs[0]!.title, 'A');
    const skipped = new Map(body.skipped.map((s) => [s.name, s.reason]));
    assert.match(skipped.get('run-bad') ?? '', /loss\[1\]/);
    assert.match(skipped.get('run-huge') ?? '', /over/);
  });

  test('an unknown dashboard endpoint is a JSON 404', async () => {
    const res = await fetch(`${root}/api/dashboard/nothing`);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /no dashboard endpoint/);
  });
});

describe('dashboard with --auth_token_file', () => {
  test('JSON endpoints need the token; the page itself does not', async () => {
    const base = tempBase('flowserve-dashboard-auth-');
    const tokenFile = join(base, 'token');
    writeFileSync(tokenFile, 'sesame\n');
    const server = await fs.startServer({
      modelConfig: validateModelServerConfig({ models: [] }),
      grpcPort: 0,
      restPort: 0,
      fileSystemPollWaitSeconds: -1,
      authTokenFile: tokenFile,
      log: () => {},
    });
    const root = `http://127.0.0.1:${server.restPort}`;
    try {
      for (const path of ['/api/dashboard/server', '/api/dashboard/models', '/api/dashboard/stats/stream']) {
        const res = await fetch(`${root}${path}`);
        assert.equal(res.status, 401, path);
        await res.text();
      }
      const ok = await fetch(`${root}/api/dashboard/server`, { headers: { authorization: 'Bearer sesame' } });
      assert.equal(ok.status, 200);
      assert.equal(((await ok.json()) as DashboardServer).protocols.auth, true);
      const page = await fetch(`${root}/`);
      assert.equal(page.status, 200);
      await page.text();
    } finally {
      await server.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('dashboard streams and shutdown', () => {
  test('open streams end when the server closes, and no more than maxStreams open at once', async () => {
    const server = await fs.startServer({
      modelConfig: validateModelServerConfig({ models: [] }),
      grpcPort: 0,
      restPort: 0,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
      dashboard: { statsIntervalMs: INTERVAL_MS, maxStreams: 2 },
    });
    const root = `http://127.0.0.1:${server.restPort}`;
    const open = await Promise.all([1, 2].map(() => fetch(`${root}/api/dashboard/stats/stream`)));
    for (const res of open) assert.equal(res.status, 200);
    const third = await fetch(`${root}/api/dashboard/stats/stream`);
    assert.equal(third.status, 503);
    await third.text();
    const started = Date.now();
    const ended = open.map(async (res) => {
      const reader = res.body!.getReader();
      for (;;) {
        const { done } = await reader.read().catch(() => ({ done: true }));
        if (done) return;
      }
    });
    await server.close();
    await Promise.all(ended);
    assert.ok(Date.now() - started < 5000, 'the streams did not hold the close until its grace ran out');
  });
});
