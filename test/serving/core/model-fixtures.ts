/** Small ONNX models written into temporary model repositories, for the serving tests. */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../../src/onnx/builder.js';

/** Deterministic values in [-scale, scale) (a linear congruential sequence), so failures reproduce. */
export function values(count: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/** The MNIST softmax's shape: y = softmax(x · W + b), x float32 [batch, k], W [k, n]. */
export function softmaxRegression(k = 784, n = 10): Uint8Array {
  const g = new OnnxGraphBuilder('softmax_regression');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', k] });
  const w = g.constant(new HostTensor('float32', [k, n], values(k * n, 1, 0.1)), 'W');
  const b = g.constant(new HostTensor('float32', [n], values(n, 2, 0.1)), 'b');
  const logits = g.op('Add', [g.op('MatMul', ['x', w]), b]);
  g.op('Softmax', [logits], { axis: -1 }, 'y');
  g.output({ name: 'y', dtype: 'float32', shape: ['batch', n] });
  return g.build();
}

/** y = x * scale + offset, x and y float32 [-1, 4]. */
export function affineModel(scale = 2, offset = 1): Uint8Array {
  const b = new OnnxGraphBuilder('affine');
  b.input({ name: 'x', dtype: 'float32', shape: ['batch', 4] });
  const scaled = b.op('Mul', ['x', b.scalar(scale, 'float32')]);
  b.op('Add', [scaled, b.scalar(offset, 'float32')], {}, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: ['batch', 4] });
  return b.build();
}

/** y = x · W · W · … (`depth` MatMuls of a `size`² matrix): slow enough to block a thread for a while. */
export function slowModel(size = 384, depth = 60): Uint8Array {
  const b = new OnnxGraphBuilder('slow');
  b.input({ name: 'x', dtype: 'float32', shape: ['batch', size] });
  const weights = new Float32Array(size * size).map((_, i) => ((i % 7) - 3) / (size * 4));
  const w = b.constant(new HostTensor('float32', [size, size], weights), 'w');
  let value = 'x';
  for (let i = 0; i < depth; i++) value = b.op('MatMul', [value, w], {}, i === depth - 1 ? 'y' : undefined);
  b.output({ name: 'y', dtype: 'float32', shape: ['batch', size] });
  return b.build();
}

export interface TempRepo {
  root: string;
  /** Writes `<root>/<model>/<version>/model.onnx` (+ optional extra files) and returns the version dir. */
  addVersion(
    model: string,
    version: number | string,
    onnx: Uint8Array,
    extra?: Record<string, string>,
  ): Promise<string>;
  basePath(model: string): string;
  remove(): Promise<void>;
}

export async function tempRepo(): Promise<TempRepo> {
  const root = await mkdtemp(join(tmpdir(), 'flowserve-serving-'));
  return {
    root,
    basePath: (model) => join(root, model),
    // Written aside and renamed into place, as the exporter does, so a polling server never sees half a version.
    async addVersion(model, version, onnx, extra = {}) {
      const dir = join(root, model, String(version));
      const staging = join(root, model, `.tmp-${version}`);
      await mkdir(staging, { recursive: true });
      await writeFile(join(staging, 'model.onnx'), onnx);
      for (const [name, text] of Object.entries(extra)) {
        await mkdir(join(staging, name, '..'), { recursive: true });
        await writeFile(join(staging, name), text);
      }
      await rename(staging, dir);
      return dir;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** Float32 rows for the affine model. */
export function rows(...values: number[][]): HostTensor {
  return HostTensor.from('float32', values);
}

/** Resolves when `predicate` holds, polling every few ms; rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
