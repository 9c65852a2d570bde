import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { deviceListing, parseDeviceCount } from '../../src/cli/devices.js';
import { discoverDevices } from '../../src/devices/device.js';
import {
  GPU_PRIORITY,
  discoverGpus,
  gpuMissingHint,
  gpuProbeResult,
  interpretProbe,
  probeGpusSync,
  resetGpuProbe,
  vulkanDriverState,
  webgpuDevices,
  type GpuProbeResult,
} from '../../src/devices/webgpu.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
        description:
          'device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 00000000:00:05.0, compute capability: 9.0, driver: 580',
        details: undefined,
        priority: GPU_PRIORITY,
        executionProviders: ['webgpu'],
        residentOutputs: true,
      },
    );
    assert.deepEqual(deviceMappingLines(discoverDevices({ deviceCount: { GPU: 0 } })), [
      'Device mapping: no known devices.',
    ]);
    assert.deepEqual(deviceMappingLines(webgpuDevices(found)), [
      'Device mapping:',
      '/job:localhost/replica:0/task:0/device:GPU:0 -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 00000000:00:05.0, compute capability: 9.0, driver: 580',
    ]);
  });

  it("describes the adapter with WebGPU's GPUAdapterInfo, merged with nvidia-smi where it exists", () => {
    const h100 = interpretProbe(
      JSON.stringify({
        ok: true,
        ms: 40,
        gpus: [
          { name: 'NVIDIA H100 80GB HBM3', pciBusId: '00000000:00:05.0', computeCapability: '9.0', driver: '580.1' },
        ],
        adapterInfo: {
          vendor: 'nvidia',
          architecture: 'hopper',
          device: '',
          description: 'NVIDIA: 580.1',
          isFallbackAdapter: false,
        },
      }),
      'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced',
      undefined,
      50,
    );
    assert.equal(h100.available, true);
    assert.match(h100.reason, /^WebGPU adapter found/);
    assert.equal(
      webgpuDevices(h100)[0]?.description,
      'device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 00000000:00:05.0, compute capability: 9.0, ' +
        'vendor: nvidia, architecture: hopper, driver: 580.1',
    );

    const lavapipe = interpretProbe(
      JSON.stringify({
        ok: true,
        ms: 170,
        adapterInfo: {
          vendor: 'mesa',
          architecture: 'software',
          device: 'llvmpipe-llvm-15-0-6-256-bits-',
          description: 'llvmpipe: Mesa 25.0.7',
          isFallbackAdapter: true,
        },
      }),
      '',
      undefined,
      200,
    );
    assert.match(lavapipe.reason, /^software WebGPU adapter found/);
    const [gpu] = webgpuDevices(lavapipe);
    assert.equal(
      gpu?.description,
      'device: 0, name: llvmpipe-llvm-15-0-6-256-bits-, pci bus id: unknown, vendor: mesa, architecture: software, ' +
        'driver: llvmpipe: Mesa 25.0.7',
    );
    assert.match(gpu?.details ?? '', /software adapter: computes on the CPU/);

    // Without the optional 'webgpu' package the device still exists, described generically.
    const bare = interpretProbe(
      JSON.stringify({ ok: true, ms: 1, adapterInfoError: 'not installed' }),
      '',
      undefined,
      2,
    );
    assert.equal(webgpuDevices(bare)[0]?.description, 'device: 0, name: WebGPU adapter, pci bus id: unknown');
  });

  it("explains a failed probe with Dawn's own words, and a crashed one with the exit", () => {
    const none = interpretProbe(
      JSON.stringify({
        ok: false,
        ms: 5,
        error: 'webgpu_context.cc:136 Failed to get a WebGPU adapter: No supported adapters',
      }),
      "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file",
      undefined,
      9,
    );
    assert.equal(none.available, false);
    assert.match(
      none.reason,
      /^no WebGPU adapter: Failed to get a WebGPU adapter: No supported adapters \(Warning: Couldn't load Vulkan/,
    );
    const crashed = interpretProbe('', 'Segmentation fault', 'the probe process exited with SIGSEGV', 9);
    assert.equal(crashed.available, false);
    assert.equal(crashed.reason, 'WebGPU probe failed: the probe process exited with SIGSEGV (Segmentation fault)');
  });

  it('a Vulkan driver installed after a probe invalidates the cached verdict', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'icd-'));
    try {
      const before = vulkanDriverState([dir, path.join(dir, 'missing')]);
      fs.writeFileSync(path.join(dir, 'lvp_icd.x86_64.json'), '{}');
      const after = vulkanDriverState([dir, path.join(dir, 'missing')]);
      assert.notDeepEqual(after, before);
      assert.match(after[0] ?? '', /lvp_icd\.x86_64\.json/);
      assert.match(after[1] ?? '', /missing:absent$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`flowserve devices` lists devices and the mapping block', () => {
    const lines = deviceListing(discoverDevices({ deviceCount: { GPU: 0, CPU: 2 } }));
    assert.equal(lines[0], '/job:localhost/replica:0/task:0/device:CPU:0');
    assert.ok(lines.includes('/job:localhost/replica:0/task:0/device:CPU:1'));
    assert.ok(lines.some((l) => l.startsWith('GPU: none')));
    assert.equal(lines[lines.length - 1], 'Device mapping: no known devices.');
    assert.deepEqual(parseDeviceCount('gpu=0, CPU=2'), { GPU: 0, CPU: 2 });
    assert.throws(() => parseDeviceCount('GPU'), /--device_count/);
  });
});
