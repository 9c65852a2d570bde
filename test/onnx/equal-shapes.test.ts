import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import * as fs from '../../src/index.js';
import { HostTensor, type Tensor } from '../../src/index.js';
import { lowerPartition } from '../../src/runtime/lower.js';
import { compileModel } from '../../src/runtime/ort.js';
import { prune } from '../../src/runtime/prune.js';
import { randomNd } from '../helpers/reference.js';

const { onnx } = onnxProto;

function weights(shape: number[], seed: number): Tensor {
  const nd = randomNd(shape, seed, -1, 1);
  return fs.constant(HostTensor.from('float32', nd.data, nd.shape));
}

/**
 * A downsampling residual block as iris has at every stage: the shortcut a 2×2 MaxPool, the other operand a 2×2
 * stride-2 convolution followed by a 1×1 convolution with bias. The ONNX input declares no height or width (imported
 * models accept any), so it runs at other sizes than the 8×8 it is built for.
 */
function downsamplingNet() {
  const g = new fs.Graph();
  return fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, 8, 8, 16], name: 'x' });
    const c1 = fs.relu(fs.conv2d(x, weights([1, 1, 16, 16], 1), { padding: 'SAME' }));
    const shortcut = fs.maxPool(c1, { ksize: 2, strides: 2, padding: 'VALID' });
    const h = fs.relu(fs.conv2d(c1, weights([2, 2, 16, 16], 2), { strides: 2, padding: 'VALID' }));
    const y = fs.relu(
      fs.add(shortcut, fs.biasAdd(fs.conv2d(h, weights([1, 1, 16, 16], 3), { padding: 'VALID' }), weights([16], 4))),
    );
    return { x, y };
  });
}

function lower(channelsFirst: boolean): Uint8Array {
  const { x, y } = downsamplingNet();
  const names = new Map<Tensor, string>([
    [x, 'x'],
    [y, 'y'],
  ]);
  const cpu = fs.discoverDevices({}).find((d) => d.type === 'CPU') as fs.Device;
  const fed = new Set([x]);
  return lowerPartition({ device: cpu, stage: 0, ops: prune([y], [], fed) }, fed, (t) => t === y, {
    feedName: (t) => names.get(t) as string,
    outputName: (t) => names.get(t) as string,
    declareShapes: false,
    channelsFirst,
  }).model;
}

async function run(model: Uint8Array, shape: number[]) {
  const compiled = await compileModel(model, { executionProviders: ['cpu'] });
  const input = randomNd(shape, shape[1] as number, -2, 2);
  const out = await compiled.run({ x: HostTensor.from('float32', input.data, input.shape) });
  await compiled.release();
  return out.y as HostTensor;
}

describe('equal residual shapes', () => {
  it('declare both operands of a downsampling residual Add with the same symbolic dims, and nothing else', () => {
    const graph = onnx.ModelProto.decode(lower(true)).graph as InstanceType<typeof onnx.GraphProto>;
    const add = graph.node.find((n) => n.opType === 'Add' && n.input?.every((i) => !i.includes('bias')));
    const declared = (name: string) =>
      graph.valueInfo.find((v) => v.name === name)?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam ?? null);
    const residual = graph.node.filter(
      (n) => n.opType === 'Add' && n.input?.every((i) => !graph.initializer.some((t) => t.name === i)),
    );
    assert.equal(residual.length, 1, 'one Add of two computed operands');
    const [a, b] = residual[0]?.input as [string, string];
    assert.ok(add);
    assert.deepEqual(declared(a), declared(b));
    assert.equal(declared(a)?.length, 4);
    assert.ok(declared(a)?.[2] && declared(a)?.[3], 'height and width named');
    assert.equal(graph.valueInfo.length, 2);
  });

  it('compute what the NHWC lowering does at even and odd heights and widths', async () => {
    const [nhwc, nchw] = [lower(false), lower(true)];
    for (const shape of [
      [1, 8, 8, 16],
      [3, 9, 7, 16],
    ]) {
      const [e, a] = [await run(nhwc, shape), await run(nchw, shape)];
      assert.deepEqual(a.shape, e.shape);
      const worst = e.toNumbers().reduce((m, v, i) => Math.max(m, Math.abs(v - (a.toNumbers()[i] as number))), 0);
      assert.ok(worst <= 1e-5, `${shape}: max abs diff ${worst}`);
    }
  });

  it('let ONNX Runtime fuse the residual Add into a blocked convolution, where it blocks them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-equal-shapes-'));
    try {
      const file = join(dir, 'optimized.onnx');
      const session = await ort.InferenceSession.create(lower(true), {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: 1,
        optimizedModelFilePath: file,
        logSeverityLevel: 3,
      });
      await session.release();
      const optimized = onnx.ModelProto.decode(await readFile(file)).graph as InstanceType<typeof onnx.GraphProto>;
      // ONNX Runtime blocks convolutions only on CPUs with AVX2 or AVX-512 (its NCHWc kernels).
      if (!optimized.node.some((n) => n.domain === 'com.microsoft.nchwc')) return;
      assert.deepEqual(
        optimized.node.filter((n) => n.opType === 'Add' || n.opType === 'Reshape').map((n) => n.opType),
        [],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
