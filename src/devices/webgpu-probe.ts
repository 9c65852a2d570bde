/**
 * Child-process entry of the WebGPU probe (src/devices/webgpu.ts runs `node webgpu-probe.js`).
 *
 * Creates a one-node ONNX model (y = x + x) on ONNX Runtime's WebGPU execution provider with CPU fallback
 * disabled, runs it once and checks the result. Without an adapter, session creation throws
 * "Failed to get a WebGPU adapter: No supported adapters" (spec §2.3). It runs in a child process because Dawn
 * writes to stderr, a broken Vulkan driver can crash or hang the process, and the failure is cached inside
 * ONNX Runtime for the life of the process. Prints one JSON line: ProbeOutput.
 *
 * ONNX Runtime's Node API does not say which adapter it got, so after its session ran, the probe asks Dawn for
 * Node (the optional npm package `webgpu`) for the default adapter's GPUAdapterInfo — the adapter ONNX Runtime's
 * WebGPU EP also takes (both use Dawn's default request). nvidia-smi, where present, adds the PCI bus id and the
 * compute capability TensorFlow prints.
 */
import { execFileSync } from 'node:child_process';
import ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../onnx/builder.js';

export interface ProbeOutput {
  ok: boolean;
  error?: string;
  /** Session creation + one run, milliseconds. */
  ms: number;
  /** `nvidia-smi` rows (name, pci bus id, compute capability, driver) when the tool exists. */
  gpus?: { name: string; pciBusId: string; computeCapability: string; driver: string }[];
  /** The default adapter's GPUAdapterInfo from the `webgpu` package (absent when it is not installed). */
  adapterInfo?: WebGpuAdapterInfo;
  /** Why `adapterInfo` is absent. */
  adapterInfoError?: string;
}

/** GPUAdapterInfo's fields (WebGPU spec) as Dawn fills them: vendor 'nvidia', architecture 'hopper', … */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software (CPU) adapter such as Mesa's llvmpipe or SwiftShader. */
  isFallbackAdapter: boolean;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(): Promise<{ info: Partial<WebGpuAdapterInfo> } | null> };
}

async function adapterInfo(): Promise<Pick<ProbeOutput, 'adapterInfo' | 'adapterInfoError'>> {
  let dawn: DawnModule;
  try {
    // A variable specifier keeps TypeScript from requiring the optional package's types at build time.
    const name = 'webgpu';
    dawn = (await import(name)) as DawnModule;
  } catch (err) {
    return { adapterInfoError: `the optional package 'webgpu' could not be loaded: ${(err as Error).message}` };
  }
  try {
    const adapter = await dawn.create([]).requestAdapter();
    if (!adapter) return { adapterInfoError: "Dawn for Node (package 'webgpu') returned no adapter" };
    const i = adapter.info;
    return {
      adapterInfo: {
        vendor: i.vendor ?? '',
        architecture: i.architecture ?? '',
        device: i.device ?? '',
        description: i.description ?? '',
        isFallbackAdapter: i.isFallbackAdapter === true,
      },
    };
  } catch (err) {
    return { adapterInfoError: `requestAdapter() failed: ${(err as Error).message}` };
  }
}

function nvidiaSmi(): ProbeOutput['gpus'] {
  try {
    const out = execFileSync(
      'nvidia-smi',
      ['--query-gpu=name,pci.bus_id,compute_cap,driver_version', '--format=csv,noheader'],
      { timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return out
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const [name = '', pciBusId = '', computeCapability = '', driver = ''] = l.split(',').map((s) => s.trim());
        return { name, pciBusId, computeCapability, driver };
      });
  } catch {
    return undefined;
  }
}

async function main(): Promise<ProbeOutput> {
  const start = performance.now();
  const b = new OnnxGraphBuilder('webgpu_probe');
  b.input({ name: 'x', dtype: 'float32', shape: [2] });
  b.op('Add', ['x', 'x'], {}, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: [2] });
  try {
    const session = await ort.InferenceSession.create(b.build(), {
      executionProviders: ['webgpu'],
      extra: { session: { disable_cpu_ep_fallback: '1' } },
    });
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]) });
    const y = out.y?.data as Float32Array | undefined;
    if (!y || y[0] !== 2 || y[1] !== 4) throw new Error(`WebGPU probe computed ${String(y)} instead of [2, 4]`);
    await session.release();
    const ms = performance.now() - start;
    return { ok: true, ms, gpus: nvidiaSmi(), ...(await adapterInfo()) };
  } catch (err) {
    return { ok: false, error: (err as Error).message, ms: performance.now() - start };
  }
}

main()
  .then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  })
  .catch((err: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(err), ms: 0 })}\n`);
    process.exit(0);
  });
