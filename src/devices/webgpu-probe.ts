/**
 * Child-process entry of the WebGPU probe (src/devices/webgpu.ts runs `node webgpu-probe.js`).
 *
 * Creates a one-node ONNX model (y = x + x) on ONNX Runtime's WebGPU execution provider with CPU fallback
 * disabled, runs it once and checks the result. Without an adapter, session creation throws
 * "Failed to get a WebGPU adapter: No supported adapters" (spec §2.3). It runs in a child process because Dawn
 * writes to stderr, a broken Vulkan driver can crash or hang the process, and the failure is cached inside
 * ONNX Runtime for the life of the process. Prints one JSON line: ProbeOutput.
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
    return { ok: true, ms: performance.now() - start, gpus: nvidiaSmi() };
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
