/**
 * The pieces the ONNX layout-pass tests share: constant weights from a seed, lowering one graph's outputs with the
 * NHWC or the channels-first pass, and checking that both lowerings compute the same values.
 */
import assert from 'node:assert/strict';
import * as fs from '../../src/index.js';
import { HostTensor, type Tensor } from '../../src/index.js';
import { lowerPartition } from '../../src/runtime/lower.js';
import { compileModel } from '../../src/runtime/ort.js';
import { prune } from '../../src/runtime/prune.js';
import { randomNd } from './reference.js';

export function seededWeights(shape: number[], seed: number): Tensor {
  const nd = randomNd(shape, seed, -1, 1);
  return fs.constant(HostTensor.from('float32', nd.data, nd.shape));
}

/** A net with one float32 placeholder `x` and named outputs. */
export interface NamedNet {
  x: Tensor;
  outputs: Tensor[];
  outputNames: string[];
}

/** Lowers the net's CPU partition to an ONNX model, with or without the channels-first pass. */
export function lowerNet(net: NamedNet, channelsFirst: boolean): Uint8Array {
  const { x, outputs, outputNames } = net;
  const names = new Map<Tensor, string>([[x, 'x'], ...outputs.map((t, i) => [t, outputNames[i]] as [Tensor, string])]);
  const cpu = fs.discoverDevices({}).find((d) => d.type === 'CPU') as fs.Device;
  const fed = new Set([x]);
  return lowerPartition({ device: cpu, stage: 0, ops: prune(outputs, [], fed) }, fed, (t) => outputs.includes(t), {
    feedName: (t) => names.get(t) as string,
    outputName: (t) => names.get(t) as string,
    declareShapes: false,
    channelsFirst,
  }).model;
}

async function runOnRandomInput(model: Uint8Array, shape: number[], seed: number) {
  const compiled = await compileModel(model, { executionProviders: ['cpu'] });
  const input = randomNd(shape, seed, -2, 2);
  const out = await compiled.run({ x: HostTensor.from('float32', input.data, input.shape) });
  await compiled.release();
  return out as Record<string, HostTensor>;
}

/**
 * Runs both lowerings at batch 1 and 3 on the same random input (`[batch, ...imageShape]`) and asserts that every
 * named output has the same shape and values within 1e-5.
 */
export async function assertLayoutsAgree(
  nhwc: Uint8Array,
  nchw: Uint8Array,
  imageShape: number[],
  seed: number,
  outputNames: string[],
): Promise<void> {
  for (const batch of [1, 3]) {
    const shape = [batch, ...imageShape];
    const [expected, actual] = [
      await runOnRandomInput(nhwc, shape, seed + batch),
      await runOnRandomInput(nchw, shape, seed + batch),
    ];
    for (const name of outputNames) {
      const [e, a] = [expected[name] as HostTensor, actual[name] as HostTensor];
      assert.deepEqual(a.shape, e.shape, name);
      const values = a.toNumbers();
      const worst = e.toNumbers().reduce((m, v, i) => Math.max(m, Math.abs(v - (values[i] as number))), 0);
      assert.ok(worst <= 1e-5, `${name} at batch ${batch}: max abs diff ${worst}`);
    }
  }
}
