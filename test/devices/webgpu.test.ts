import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { deviceListing, parseDeviceCount } from '../../src/cli/devices.js';
import { discoverDevices } from '../../src/devices/device.js';
import {
  GPU_PRIORITY,
  discoverGpus,
  gpuMissingHint,
  gpuProbeResult,
  probeGpusSync,
  resetGpuProbe,
  webgpuDevices,
  type GpuProbeResult,
} from '../../src/devices/webgpu.js';
import { deviceMappingLines } from '../../src/placement/log.js';

const saved = { ...process.env };
after(() => {
  for (const k of ['FLOWSERVE_DISABLE_GPU', 'FLOWSERVE_GPU_PROBE_CACHE']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  resetGpuProbe();
});

describe('WebGPU discovery', () => {
  it('runs the real probe in a child process, bounded, and never crashes a CPU-only machine', () => {
    delete process.env.FLOWSERVE_DISABLE_GPU;
    process.env.FLOWSERVE_GPU_PROBE_CACHE = '0';
    resetGpuProbe();
    const start = performance.now();
    const r = probeGpusSync();
    assert.ok(performance.now() - start < 25_000, 'bounded by the probe timeout');
    assert.equal(r.source, 'probe');
    assert.equal(typeof r.available, 'boolean');
    if (!r.available) {
      assert.match(r.reason, /WebGPU/);
      assert.deepEqual(webgpuDevices(r), []);
      assert.ok(!discoverDevices().some((d) => d.type === 'GPU'), 'no adapter: no GPU devices');
      assert.match(gpuMissingHint(), /no WebGPU adapter was found/);
    } else {
      assert.equal(discoverDevices()[0]?.type, 'GPU');
    }
    assert.ok(discoverDevices().some((d) => d.name === '/job:localhost/replica:0/task:0/device:CPU:0'));
    assert.equal(probeGpusSync(), r, 'cached in memory');
  });

  it('the async probe gives the same verdict', async () => {
    const sync = gpuProbeResult() as GpuProbeResult;
    resetGpuProbe();
    const r = await discoverGpus();
    assert.equal(r.available, sync.available);
    assert.equal(await discoverGpus(), r);
  });

  it('FLOWSERVE_DISABLE_GPU=1 skips the probe', () => {
    process.env.FLOWSERVE_DISABLE_GPU = '1';
    resetGpuProbe();
    const start = performance.now();
    const r = probeGpusSync();
    assert.ok(performance.now() - start < 50);
    assert.equal(r.source, 'disabled');
    assert.equal(r.available, false);
    assert.ok(!discoverDevices().some((d) => d.type === 'GPU'));
    assert.match(gpuMissingHint(), /FLOWSERVE_DISABLE_GPU=1/);
    delete process.env.FLOWSERVE_DISABLE_GPU;
    resetGpuProbe();
  });

  it('describes an adapter as TensorFlow describes a GPU', () => {
    const found: GpuProbeResult = {
      available: true,
      reason: 'found',
      source: 'probe',
      ms: 1,
      adapter: { name: 'NVIDIA H100 80GB HBM3', pciBusId: '00000000:00:05.0', computeCapability: '9.0', driver: '580' },
    };
    const [gpu] = webgpuDevices(found);
    assert.deepEqual(
      { ...gpu, details: undefined },
      {
        name: '/job:localhost/replica:0/task:0/device:GPU:0',
        type: 'GPU',
        index: 0,
        description: 'device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 00000000:00:05.0, compute capability: 9.0',
        details: undefined,
        priority: GPU_PRIORITY,
        executionProviders: ['webgpu'],
      },
    );
    assert.deepEqual(deviceMappingLines(discoverDevices({ deviceCount: { GPU: 0 } })), [
      'Device mapping: no known devices.',
    ]);
    assert.deepEqual(deviceMappingLines(webgpuDevices(found)), [
      'Device mapping:',
      '/job:localhost/replica:0/task:0/device:GPU:0 -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 00000000:00:05.0, compute capability: 9.0',
    ]);
  });

  it('`flowserve devices` lists devices and the mapping block', () => {
    const lines = deviceListing(discoverDevices({ deviceCount: { GPU: 0, CPU: 2 } }));
    assert.equal(lines[0], '/job:localhost/replica:0/task:0/device:CPU:0');
    assert.ok(lines.includes('/job:localhost/replica:0/task:0/device:CPU:1'));
    assert.ok(lines.some((l) => l.startsWith('GPU: none')));
    assert.equal(lines[lines.length - 1], 'Device mapping: no known devices.');
    assert.deepEqual(parseDeviceCount('gpu=0, CPU=2'), { GPU: 0, CPU: 2 });
    assert.throws(() => parseDeviceCount('GPU'), /--device-count/);
  });
});
