/**
 * The GPU device type: WebGPU adapters reached through ONNX Runtime's WebGPU execution provider
 * (spec/placement-and-lowering.md §2.3). Registered for type `GPU` with TensorFlow's GPU priority (210), so the
 * placer prefers it for every op whose definition lists a GPU kernel.
 *
 * Discovery is a probe: a child process creates a tiny ONNX session with executionProviders ['webgpu'] and runs
 * it (src/devices/webgpu-probe.ts). Without an adapter that throws "No supported adapters"; the machine then
 * has no GPU devices, and the reason is printed to stderr when FLOWSERVE_DEBUG=1. FLOWSERVE_DISABLE_GPU=1 skips
 * the probe.
 *
 * Sync or async? `discoverDevices()` is synchronous because `new Session()` is (as tf.Session() is), so the
 * provider probes with `spawnSync` and a timeout when nothing is cached: the child can crash, hang or print
 * Dawn's warnings without touching this process, and the timeout bounds the wait (default 20 s; on a CPU-only
 * machine the probe takes ~0.2 s). Code that can await — the CLI, servers — calls `await initDevices()` first,
 * which runs the same probe with an async `execFile` and fills the same cache, so the event loop never blocks.
 * The result is cached in memory and in a small file in the OS temp directory keyed by boot id, Node binary,
 * the Vulkan/library environment and the installed Vulkan drivers (FLOWSERVE_GPU_PROBE_CACHE=0 disables the
 * file), so each test process does not pay for the probe again.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Device, DeviceTypeProvider } from './device.js';
import { localDeviceName } from './names.js';
import type { ProbeOutput } from './webgpu-probe.js';

export const GPU_PRIORITY = 210;

/** What the probe found. */
export interface GpuProbeResult {
  /** True when a WebGPU adapter ran the probe model. */
  available: boolean;
  /** Why there is no GPU (or how it was found): for `flowserve devices` and FLOWSERVE_DEBUG. */
  reason: string;
  /** 'probe' (ran now), 'cache' (file cache), 'disabled' (FLOWSERVE_DISABLE_GPU). */
  source: 'probe' | 'cache' | 'disabled';
  /** The adapter ONNX Runtime's WebGPU EP uses, as Dawn for Node and nvidia-smi describe it. */
  adapter?: GpuAdapter;
  /** Probe wall time, milliseconds. */
  ms: number;
}

/**
 * ONNX Runtime's Node API does not expose its adapter; the probe asks Dawn for Node (package `webgpu`) for the
 * default adapter's GPUAdapterInfo and nvidia-smi for what TensorFlow prints (PCI bus id, compute capability).
 */
export interface GpuAdapter {
  /** nvidia-smi's name, else GPUAdapterInfo.device, else 'WebGPU adapter'. */
  name: string;
  pciBusId: string;
  computeCapability: string;
  /** nvidia-smi's driver version, else GPUAdapterInfo.description (Dawn puts the driver there). */
  driver: string;
  /** GPUAdapterInfo.vendor / .architecture ('' when unknown). */
  vendor?: string;
  architecture?: string;
  /** GPUAdapterInfo.isFallbackAdapter: a software (CPU) implementation such as Mesa's llvmpipe. */
  software?: boolean;
}

let cached: GpuProbeResult | undefined;

function debug(message: string): void {
  if (process.env.FLOWSERVE_DEBUG === '1') process.stderr.write(`[flowserve] ${message}\n`);
}

function probeScript(): string {
  return fileURLToPath(new URL('./webgpu-probe.js', import.meta.url));
}

function timeoutMs(): number {
  const v = Number(process.env.FLOWSERVE_GPU_PROBE_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 20_000;
}

function disabled(): GpuProbeResult | undefined {
  if (process.env.FLOWSERVE_DISABLE_GPU === '1') {
    return { available: false, reason: 'GPU discovery disabled by FLOWSERVE_DISABLE_GPU=1', source: 'disabled', ms: 0 };
  }
  return undefined;
}

function cacheFile(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `flowserve-gpu-probe-${uid}.json`);
}

function cacheKey(): string {
  let boot: string;
  try {
    boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    boot = String(Math.round(Date.now() / 1000 - os.uptime()));
  }
  const env = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'LD_LIBRARY_PATH'].map((k) => process.env[k] ?? '');
  return JSON.stringify([boot, process.execPath, process.version, probeScript(), ...env, ...vulkanDriverState()]);
}

/** Where the Vulkan loader looks for drivers: installing or removing one must invalidate a cached verdict. */
const VULKAN_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

export function vulkanDriverState(dirs: readonly string[] = VULKAN_ICD_DIRS): string[] {
  return dirs.map((dir) => {
    try {
      return fs
        .readdirSync(dir)
        .sort()
        .map((f) => `${dir}/${f}:${fs.statSync(path.join(dir, f)).mtimeMs}`)
        .join(',');
    } catch {
      return `${dir}:absent`;
    }
  });
}

function readCache(): GpuProbeResult | undefined {
  if (process.env.FLOWSERVE_GPU_PROBE_CACHE === '0') return undefined;
  try {
    const data = JSON.parse(fs.readFileSync(cacheFile(), 'utf8')) as { key: string; result: GpuProbeResult };
    if (data.key !== cacheKey()) return undefined;
    return { ...data.result, source: 'cache' };
  } catch {
    return undefined;
  }
}

function writeCache(result: GpuProbeResult): void {
  if (process.env.FLOWSERVE_GPU_PROBE_CACHE === '0') return;
  try {
    const file = cacheFile();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ key: cacheKey(), result }));
    fs.renameSync(tmp, file);
  } catch {
    // A read-only temp directory only costs a probe per process.
  }
}

/** Turns the child's exit into a result; `stderr` carries Dawn's own diagnostics (e.g. no libvulkan.so.1). */
export function interpretProbe(
  stdout: string,
  stderr: string,
  failure: string | undefined,
  ms: number,
): GpuProbeResult {
  const dawn = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at '))
    .slice(0, 3)
    .join(' | ');
  const line = stdout.trim().split('\n').pop() ?? '';
  let out: ProbeOutput | undefined;
  try {
    out = JSON.parse(line) as ProbeOutput;
  } catch {
    out = undefined;
  }
  if (!out) {
    const why = failure ?? 'the probe printed no result';
    return { available: false, reason: `WebGPU probe failed: ${why}${dawn ? ` (${dawn})` : ''}`, source: 'probe', ms };
  }
  if (!out.ok) {
    const msg = (out.error ?? 'unknown error').replace(/^.*?(Failed to get a WebGPU adapter)/s, '$1').trim();
    return { available: false, reason: `no WebGPU adapter: ${msg}${dawn ? ` (${dawn})` : ''}`, source: 'probe', ms };
  }
  const gpu = out.gpus?.[0];
  const info = out.adapterInfo;
  if (out.adapterInfoError) debug(`GPU probe: no adapter description: ${out.adapterInfoError}`);
  const adapter: GpuAdapter = {
    name: gpu?.name || info?.device || 'WebGPU adapter',
    pciBusId: gpu?.pciBusId || 'unknown',
    computeCapability: gpu?.computeCapability ?? '',
    driver: gpu?.driver || info?.description || '',
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    software: info?.isFallbackAdapter === true,
  };
  const kind = adapter.software ? 'software WebGPU adapter' : 'WebGPU adapter';
  return {
    available: true,
    reason: `${kind} found by ONNX Runtime's WebGPU execution provider in ${Math.round(out.ms)} ms`,
    source: 'probe',
    ms,
    adapter,
  };
}

function remember(result: GpuProbeResult): GpuProbeResult {
  cached = result;
  if (result.source === 'probe') writeCache(result);
  debug(`GPU probe (${result.source}, ${Math.round(result.ms)} ms): ${result.reason}`);
  return result;
}

/** Runs the probe synchronously (once per process; later calls return the cached result). */
export function probeGpusSync(): GpuProbeResult {
  if (cached) return cached;
  const off = disabled() ?? readCache();
  if (off) return remember(off);
  const start = performance.now();
  const r = spawnSync(process.execPath, [probeScript()], {
    encoding: 'utf8',
    timeout: timeoutMs(),
    killSignal: 'SIGKILL',
    maxBuffer: 4 * 1024 * 1024,
    env: process.env,
  });
  const failure = r.error
    ? r.error.message
    : r.status !== 0
      ? `the probe process exited with ${r.signal ?? `code ${String(r.status)}`}`
      : undefined;
  return remember(interpretProbe(r.stdout ?? '', r.stderr ?? '', failure, performance.now() - start));
}

let inFlight: Promise<GpuProbeResult> | undefined;

/** Runs the probe without blocking the event loop (once per process; shares the cache with probeGpusSync). */
export function discoverGpus(): Promise<GpuProbeResult> {
  if (cached) return Promise.resolve(cached);
  const off = disabled() ?? readCache();
  if (off) return Promise.resolve(remember(off));
  inFlight ??= new Promise<GpuProbeResult>((resolve) => {
    const start = performance.now();
    execFile(
      process.execPath,
      [probeScript()],
      { encoding: 'utf8', timeout: timeoutMs(), killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const failure = err ? (err.killed ? `timed out after ${timeoutMs()} ms` : err.message) : undefined;
        resolve(remember(cached ?? interpretProbe(stdout, stderr, failure, performance.now() - start)));
      },
    );
  });
  return inFlight;
}

/** Discovers devices that need async work (the WebGPU probe) so later synchronous discovery is instant. */
export async function initDevices(): Promise<void> {
  await discoverGpus();
}

/** The cached probe result, without probing. */
export function gpuProbeResult(): GpuProbeResult | undefined {
  return cached;
}

/** Forgets the in-memory result (tests). The file cache is kept unless `file` is true. */
export function resetGpuProbe(options: { file?: boolean } = {}): void {
  cached = undefined;
  inFlight = undefined;
  if (options.file) fs.rmSync(cacheFile(), { force: true });
}

/**
 * The library-specific end of the "explicitly assigned to /device:GPU:…" error when no GPU device exists
 * (TensorFlow appends "The requested device appears to be a GPU, but CUDA is not enabled.").
 */
export function gpuMissingHint(): string {
  const r = cached;
  if (r?.source === 'disabled') {
    return ' The requested device appears to be a GPU, but GPU discovery is disabled (FLOWSERVE_DISABLE_GPU=1).';
  }
  if (r?.available) {
    return ' The requested device appears to be a GPU, but this session has no GPU device (ConfigProto device_count).';
  }
  return ' The requested device appears to be a GPU, but no WebGPU adapter was found.';
}

/** The GPU device (ONNX Runtime 1.30's Node binding uses the default adapter only, so at most one: GPU:0). */
export function webgpuDevices(result: GpuProbeResult): Device[] {
  if (!result.available) return [];
  const a = result.adapter ?? { name: 'WebGPU adapter', pciBusId: 'unknown', computeCapability: '', driver: '' };
  // TensorFlow's physical_device_desc fields first, then what WebGPU reports (only those that are known).
  const extra = [
    ['compute capability', a.computeCapability],
    ['vendor', a.vendor],
    ['architecture', a.architecture],
    ['driver', a.driver],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `, ${k}: ${v}`)
    .join('');
  const software = a.software ? ' (software adapter: computes on the CPU)' : '';
  return [
    {
      name: localDeviceName('GPU', 0),
      type: 'GPU',
      index: 0,
      description: `device: 0, name: ${a.name}, pci bus id: ${a.pciBusId}${extra}`,
      details: `${a.name}${software}, ONNX Runtime WebGPU execution provider (Dawn, Vulkan backend)`,
      priority: GPU_PRIORITY,
      executionProviders: ['webgpu'],
      residentOutputs: true,
    },
  ];
}

/** The provider registered for type GPU in src/devices/device.ts. */
export const webgpuProvider: DeviceTypeProvider = {
  type: 'GPU',
  priority: GPU_PRIORITY,
  discover(count) {
    if (count === 0) return [];
    return webgpuDevices(probeGpusSync());
  },
};
