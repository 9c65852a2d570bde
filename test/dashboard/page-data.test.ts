import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type {
  DashboardPlacement,
  DashboardSeries,
  DashboardSignature,
  DashboardStats,
} from '../../src/serving/dashboard/api-types.js';
import { importDashboardModule } from '../helpers/dashboard-assets.js';

interface StatsWindowModule {
  mergeStats(current: DashboardStats | null, incoming: DashboardStats, maxSamples: number): DashboardStats;
}
interface PlacementLayoutModule {
  layoutPlacement(placement: Pick<DashboardPlacement, 'inputs' | 'ops'>): {
    nodes: { id: string; layer: number; slot: number }[];
    edges: { from: string; to: string; tensor: string; transfer: boolean }[];
    layers: number;
    widest: number;
  };
  shortDeviceName(device: string): string;
}
interface RequestTemplateModule {
  predictRequestTemplate(name: string, signature: DashboardSignature): unknown;
  classScores(response: unknown): { output: string; scores: number[] } | null;
  formatJson(value: unknown): string;
  MAX_PREFILLED_ELEMENTS: number;
}

let statsWindow: StatsWindowModule;
let placementLayout: PlacementLayoutModule;
let requestTemplate: RequestTemplateModule;
before(async () => {
  statsWindow = await importDashboardModule<StatsWindowModule>('stats-window.js');
  placementLayout = await importDashboardModule<PlacementLayoutModule>('placement-layout.js');
  requestTemplate = await importDashboardModule<RequestTemplateModule>('request-template.js');
});

function series(model: string, requests: number[]): DashboardSeries {
  return {
    model,
    entrypoint: 'REST',
    protocol: 'v1',
    requestsPerSecond: requests,
    errorsPerSecond: requests.map(() => 0),
    p50LatencyMs: requests.map((r) => (r > 0 ? 1 : null)),
    p99LatencyMs: requests.map((r) => (r > 0 ? 2 : null)),
  };
}

function stats(timestamps: number[], all: DashboardSeries[], workersBusy = 0): DashboardStats {
  return {
    intervalMs: 1000,
    timestamps,
    series: all,
    batchSizes: [],
    queues: [],
    workers: { size: 2, busy: workersBusy, idle: 2 - workersBusy, restarts: 0 },
  };
}

describe('the live charts keep a window of samples', () => {
  it('appends a stream event to the window and drops the oldest sample past the limit', () => {
    const window = stats([1000, 2000, 3000], [series('mnist', [1, 2, 3])]);
    const merged = statsWindow.mergeStats(window, stats([4000], [series('mnist', [4])], 1), 3);
    assert.deepEqual(merged.timestamps, [2000, 3000, 4000]);
    assert.deepEqual(merged.series[0]?.requestsPerSecond, [2, 3, 4]);
    assert.equal(merged.workers?.busy, 1);
  });

  it('a series first seen in an event gets zeros and nulls for the samples before it', () => {
    const window = stats([1000, 2000], [series('mnist', [1, 2])]);
    const merged = statsWindow.mergeStats(window, stats([3000], [series('cnn', [5])]), 10);
    assert.deepEqual(
      merged.series.map((s) => s.model),
      ['mnist', 'cnn'],
    );
    assert.deepEqual(merged.series[0]?.requestsPerSecond, [1, 2, 0]);
    assert.deepEqual(merged.series[1]?.requestsPerSecond, [0, 0, 5]);
    assert.deepEqual(merged.series[1]?.p50LatencyMs, [null, null, 1]);
  });

  it('ignores an event for a sample it already has, and takes a whole window as it is', () => {
    const window = stats([1000, 2000], [series('mnist', [1, 2])]);
    const repeated = statsWindow.mergeStats(window, stats([2000], [series('mnist', [9])]), 10);
    assert.deepEqual(repeated.series[0]?.requestsPerSecond, [1, 2]);
    const polled = statsWindow.mergeStats(window, stats([5000, 6000], [series('mnist', [7, 8])]), 10);
    assert.deepEqual(polled.timestamps, [5000, 6000]);
    assert.deepEqual(polled.series[0]?.requestsPerSecond, [7, 8]);
  });
});

describe('the placement graph is laid out in layers', () => {
  const cpu = '/job:localhost/replica:0/task:0/device:CPU:0';
  const gpu = '/job:localhost/replica:0/task:0/device:GPU:0';
  const op = (name: string, inputs: string[], device: string, partition: number) => ({
    name,
    type: 'Add',
    device,
    partition,
    inputs,
    outputs: [`${name}:0`],
  });

  it('puts each op one layer below the deepest op it reads and marks edges between partitions as transfers', () => {
    const layout = placementLayout.layoutPlacement({
      inputs: ['x'],
      ops: [
        op('a', ['x', 'weights'], cpu, 0),
        op('b', ['x'], cpu, 0),
        op('c', ['a:0', 'b:0'], gpu, 1),
        op('d', ['c:0', ''], gpu, 1),
      ],
    });
    const layer = Object.fromEntries(layout.nodes.map((n) => [n.id, n.layer]));
    assert.deepEqual(layer, { 'input:x': 0, 'op:a': 1, 'op:b': 1, 'op:c': 2, 'op:d': 3 });
    assert.equal(layout.widest, 2);
    assert.deepEqual(
      layout.edges.filter((e) => e.transfer).map((e) => `${e.from}→${e.to}`),
      ['op:a→op:c', 'op:b→op:c'],
    );
    assert.equal(layout.edges.length, 5, 'the initializer "weights" and the omitted input "" make no edges');
  });

  it('shortens TensorFlow device names to their type and index', () => {
    assert.equal(placementLayout.shortDeviceName(gpu), 'GPU:0');
    assert.equal(placementLayout.shortDeviceName('cpu'), 'cpu');
  });
});

describe('the JSON request editor is prefilled from the signature', () => {
  const tensor = (dtype: string, shape: number[]) => ({
    name: 't',
    dtype,
    datatype: 'FP32',
    shape,
    unknownRank: false,
  });

  it('fills each input with zeros of its shape without the batch dimension; unknown dimensions become 1', () => {
    const template = requestTemplate.predictRequestTemplate('serving_default', {
      methodName: 'tensorflow/serving/predict',
      inputs: {
        images: tensor('DT_FLOAT', [-1, 2, -1]),
        names: tensor('DT_STRING', [-1]),
        flag: tensor('DT_BOOL', []),
      },
      outputs: {},
    });
    assert.deepEqual(template, {
      signature_name: 'serving_default',
      instances: [{ images: [[0], [0]], names: '', flag: false }],
    });
  });

  it('leaves an input too large to prefill as an empty list', () => {
    const side = Math.ceil(Math.sqrt(requestTemplate.MAX_PREFILLED_ELEMENTS)) + 1;
    const template = requestTemplate.predictRequestTemplate('s', {
      methodName: 'tensorflow/serving/predict',
      inputs: { big: tensor('DT_FLOAT', [-1, side, side]) },
      outputs: {},
    });
    assert.deepEqual(template, { signature_name: 's', instances: [{ big: [] }] });
  });

  it('finds the class scores in a :predict response with one output or several', () => {
    assert.deepEqual(requestTemplate.classScores({ predictions: [[0.1, 0.9]] }), { output: '', scores: [0.1, 0.9] });
    assert.deepEqual(
      requestTemplate.classScores({ predictions: [{ classes: 1, logits: [1, 2], scores: [0.3, 0.7] }] }),
      {
        output: 'scores',
        scores: [0.3, 0.7],
      },
    );
    assert.equal(requestTemplate.classScores({ error: 'x' }), null);
  });

  it('shows JSON with each list of plain values on one line, and parses back to the same value', () => {
    const value = { instances: [{ images: [0, 0.5, 1], name: 'a "quoted" \u0000 string' }], nested: [[1, 2], []] };
    const text = requestTemplate.formatJson(value);
    assert.deepEqual(JSON.parse(text), value);
    assert.match(text, /"images": \[0,0.5,1\]/);
    assert.match(text, /\[1,2\],\n\s+\[\]/);
  });
});
