import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalDevice,
  deviceMatches,
  deviceSpecToString,
  localDeviceSpec,
  mergeColocatedSpecs,
  mergeDeviceSpecs,
  parseDeviceSpec,
  type DeviceSpec,
} from '../../src/devices/device-spec.js';
import { InvalidArgument } from '../../src/errors.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { constant } from '../../src/ops/convert.js';

describe('parseDeviceSpec (spec §1.1)', () => {
  const table: [string, DeviceSpec, string][] = [
    [
      '/job:localhost/replica:0/task:0/device:GPU:0',
      { job: 'localhost', replica: 0, task: 0, type: 'GPU', index: 0 },
      '/job:localhost/replica:0/task:0/device:GPU:0',
    ],
    ['/cpu:0', { type: 'CPU', index: 0 }, '/device:CPU:0'],
    ['/CPU:1', { type: 'CPU', index: 1 }, '/device:CPU:1'],
    ['/gpu:1', { type: 'GPU', index: 1 }, '/device:GPU:1'],
    ['/Gpu:2', { type: 'GPU', index: 2 }, '/device:GPU:2'],
    ['/gpu:*', { type: 'GPU' }, '/device:GPU:*'],
    ['/gpu', { type: 'GPU' }, '/device:GPU:*'],
    ['/device:CPU:0', { type: 'CPU', index: 0 }, '/device:CPU:0'],
    ['/device:GPU', { type: 'GPU' }, '/device:GPU:*'],
    ['/device:GPU:*', { type: 'GPU' }, '/device:GPU:*'],
    ['/device:*:1', { index: 1 }, '/device:*:1'],
    // Device types are case-sensitive after `device:` (TensorFlow): `gpu` matches no device.
    ['/device:gpu:0', { type: 'gpu', index: 0 }, '/device:gpu:0'],
    ['/job:worker', { job: 'worker' }, '/job:worker'],
    ['/job:*', {}, ''],
    ['/task:1/job:ps', { job: 'ps', task: 1 }, '/job:ps/task:1'],
    [
      '/device:GPU:0/job:ps/replica:2',
      { job: 'ps', replica: 2, type: 'GPU', index: 0 },
      '/job:ps/replica:2/device:GPU:0',
    ],
    ['/', {}, ''],
    ['', {}, ''],
    ['GPU:0', { type: 'GPU', index: 0 }, '/device:GPU:0'],
    ['XLA_CPU:0', { type: 'XLA_CPU', index: 0 }, '/device:XLA_CPU:0'],
  ];
  for (const [text, spec, canonical] of table) {
    it(`'${text}'`, () => {
      assert.deepEqual(parseDeviceSpec(text), spec);
      assert.equal(canonicalDevice(text), canonical);
    });
  }

  it('rejects two device types with TensorFlow text', () => {
    assert.throws(
      () => parseDeviceSpec('/cpu:0/gpu:0'),
      (e: unknown) =>
        e instanceof InvalidArgument && e.message === 'Cannot specify multiple device types: /cpu:0/gpu:0',
    );
    assert.throws(() => parseDeviceSpec('/device:CPU:0/device:GPU:0'), /Cannot specify multiple device types/);
  });

  it('rejects unknown attributes with TensorFlow text', () => {
    assert.throws(
      () => parseDeviceSpec('/foo:1:2'),
      (e: unknown) => e instanceof InvalidArgument && e.message === "Unknown attribute: 'foo' in '/foo:1:2'",
    );
    assert.throws(() => parseDeviceSpec('/replica:x'), InvalidArgument);
    assert.throws(() => parseDeviceSpec('/device:GPU:x'), InvalidArgument);
    assert.throws(() => parseDeviceSpec('/job:1abc'), InvalidArgument);
  });
});

describe('merging', () => {
  it('mergeDeviceSpecs: inner fields win, type and index independently', () => {
    const m = mergeDeviceSpecs(parseDeviceSpec('/device:GPU:1'), parseDeviceSpec('/device:CPU'));
    assert.equal(deviceSpecToString(m), '/device:CPU:1');
  });

  it('nested graph.device scopes merge field by field (merge_device docstring)', () => {
    const g = new Graph();
    const names = withGraph(g, () =>
      g.device('/job:worker', () => {
        const w = constant(1, { name: 'w' });
        return g.device('/device:GPU:0', () => {
          const x = constant(1, { name: 'x' });
          return g.device('/device:CPU:0', () => {
            const y = constant(1, { name: 'y' });
            const z = g.device('/job:ps', () => constant(1, { name: 'z' }));
            return [w, x, y, z].map((t) => t.op.requestedDevice);
          });
        });
      }),
    );
    assert.deepEqual(names, [
      '/job:worker',
      '/job:worker/device:GPU:0',
      '/job:worker/device:CPU:0',
      '/job:ps/device:CPU:0',
    ]);
  });

  it('short forms are stored canonically; outer GPU:1 + inner /device:CPU gives CPU:1', () => {
    const g = new Graph();
    withGraph(g, () => {
      g.device('/gpu:0', () => assert.equal(constant(1).op.requestedDevice, '/device:GPU:0'));
      g.device('/device:GPU:1', () =>
        g.device('/device:CPU', () => assert.equal(constant(1).op.requestedDevice, '/device:CPU:1')),
      );
    });
  });

  it('device(null) clears every enclosing scope', () => {
    const g = new Graph();
    withGraph(g, () =>
      g.device('/job:ps/cpu:0', () => {
        assert.equal(
          g.device(null, () => constant(1).op.requestedDevice),
          '',
        );
        assert.equal(
          g.device(null, () => g.device('/gpu:0', () => constant(1).op.requestedDevice)),
          '/device:GPU:0',
        );
      }),
    );
  });

  it('device functions see the device set by inner scopes and replace it', () => {
    const g = new Graph();
    const seen: string[] = [];
    const fn = (op: { name: string; type: string; device: string }) => {
      seen.push(`${op.name}:${op.device}`);
      return op.type === 'Const' && op.name.startsWith('v') ? '/cpu:0' : op.device;
    };
    withGraph(g, () =>
      g.device(fn, () => {
        assert.equal(constant(1, { name: 'v' }).op.requestedDevice, '/device:CPU:0');
        assert.equal(
          g.device('/gpu:1', () => constant(1, { name: 'k' }).op.requestedDevice),
          '/device:GPU:1',
        );
      }),
    );
    assert.deepEqual(seen, ['v:', 'k:/device:GPU:1']);
  });

  it('mergeColocatedSpecs: job conflicts always fail, type/id conflicts only without soft placement', () => {
    const cpu = parseDeviceSpec('/job:a/device:CPU:0');
    const gpu = parseDeviceSpec('/job:a/device:GPU:0');
    assert.throws(
      () => mergeColocatedSpecs(parseDeviceSpec('/job:a'), parseDeviceSpec('/job:b'), true),
      /Cannot merge devices with incompatible jobs: '\/job:a' and '\/job:b'/,
    );
    assert.throws(
      () => mergeColocatedSpecs(cpu, gpu, false),
      /Cannot merge devices with incompatible types: '\/job:a\/device:CPU:0' and '\/job:a\/device:GPU:0'/,
    );
    assert.deepEqual(mergeColocatedSpecs(cpu, gpu, true), { job: 'a' });
    assert.throws(
      () => mergeColocatedSpecs(parseDeviceSpec('/gpu:0'), parseDeviceSpec('/gpu:1'), false),
      /incompatible ids/,
    );
    assert.deepEqual(mergeColocatedSpecs(parseDeviceSpec('/gpu:0'), parseDeviceSpec('/gpu:1'), true), { type: 'GPU' });
    assert.deepEqual(mergeColocatedSpecs(parseDeviceSpec('/job:a'), parseDeviceSpec('/gpu:1'), false), {
      job: 'a',
      type: 'GPU',
      index: 1,
    });
  });

  it('deviceMatches: partial specs match concrete devices', () => {
    const gpu0 = localDeviceSpec('GPU', 0);
    assert.ok(deviceMatches(parseDeviceSpec('/gpu:*'), gpu0));
    assert.ok(deviceMatches(parseDeviceSpec('/job:localhost'), gpu0));
    assert.ok(deviceMatches({}, gpu0));
    assert.ok(!deviceMatches(parseDeviceSpec('/device:gpu:0'), gpu0));
    assert.ok(!deviceMatches(parseDeviceSpec('/job:worker/gpu:0'), gpu0));
    assert.ok(!deviceMatches(parseDeviceSpec('/gpu:1'), gpu0));
  });
});
