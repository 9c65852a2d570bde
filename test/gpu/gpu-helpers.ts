/**
 * Shared by the GPU tests (test/gpu/*.test.ts): they run for real when ONNX Runtime's WebGPU execution provider
 * finds an adapter (a real GPU, or mesa's lavapipe software Vulkan driver in CI) and are skipped with the probe's
 * reason otherwise, so a CPU-only machine shows why in the test report.
 */
import assert from 'node:assert/strict';
import { discoverGpus } from '../../src/devices/webgpu.js';

const probe = await discoverGpus();

/** `false` when a WebGPU adapter exists; otherwise the reason, for node:test's `{ skip }`. */
export const gpuSkip: string | false = probe.available ? false : `no GPU:0 (${probe.reason})`;

export const CPU0 = '/job:localhost/replica:0/task:0/device:CPU:0';
export const GPU0 = '/job:localhost/replica:0/task:0/device:GPU:0';

/** Session options for the CPU-only reference (ConfigProto device_count {GPU: 0}). */
export const CPU_ONLY = { deviceCount: { GPU: 0 } } as const;

/** |a - e| <= atol + rtol·|e| for every element (float32 results of two execution providers). */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-4, what = 'value' }: { atol?: number; rtol?: number; what?: string } = {},
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Number.isFinite(a), `${what}[${i}] is ${a}`);
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: ${a} vs ${e} (|Δ| ${Math.abs(a - e)})`);
  }
}
