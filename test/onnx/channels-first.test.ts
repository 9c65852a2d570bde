import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
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
 * A small NHWC convolutional net with every pattern the pass rewrites: conv + bias + relu, depthwise conv, a
 * per-channel PRelu, max pooling, a residual add, channel padding, a channel concat, a global mean (layout-free
 * reduction), a flatten (a Reshape, which must still see NHWC) and an activation fetched as it is.
 */
function convNet() {
  const g = new fs.Graph();
  const built = fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, 9, 9, 3], name: 'x' });
    const c1 = fs.relu(fs.biasAdd(fs.conv2d(x, weights([3, 3, 3, 8], 1), { padding: 'SAME' }), weights([8], 2)));
    const dw = fs.depthwiseConv2d(c1, weights([3, 3, 8, 1], 3), { padding: 'SAME' });
    const act = fs.prelu(fs.biasAdd(dw, weights([8], 4)), weights([1, 1, 8], 5));
    const residual = fs.add(act, c1);
    const pooled = fs.maxPool(residual, { ksize: 3, strides: 2, padding: 'SAME' });
    const widened = fs.pad(pooled, [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 4],
    ]);
    const c2 = fs.conv2d(pooled, weights([1, 1, 8, 12], 6), { padding: 'VALID' });
    const joined = fs.concat([fs.add(widened, c2), c2], 3);
    const mean = fs.reduceMean(joined, [1, 2]);
    const flat = fs.reshape(fs.sigmoid(joined), [-1, 5 * 5 * 24]);
    return { x, outputs: [mean, flat, residual] };
  });
  return built;
}

function lower(channelsFirst: boolean) {
  const { x, outputs } = convNet();
  const names = new Map<Tensor, string>([
    [x, 'x'],
    [outputs[0] as Tensor, 'mean'],
    [outputs[1] as Tensor, 'flat'],
    [outputs[2] as Tensor, 'residual'],
  ]);
  const cpu = fs.discoverDevices({}).find((d) => d.type === 'CPU') as fs.Device;
  const fed = new Set([x]);
  return lowerPartition({ device: cpu, stage: 0, ops: prune(outputs, [], fed) }, fed, (t) => outputs.includes(t), {
    feedName: (t) => names.get(t) as string,
    outputName: (t) => names.get(t) as string,
    declareShapes: false,
    channelsFirst,
  }).model;
}

/** Transposes of values computed at run time (those of weights, computed from constants only, fold at load). */
function activationTransposes(model: Uint8Array): number {
  const graph = onnx.ModelProto.decode(model).graph as InstanceType<typeof onnx.GraphProto>;
  const constants = new Set(graph.initializer.map((t) => t.name));
  for (const n of graph.node) {
    if ((n.input ?? []).every((i) => constants.has(i))) {
      for (const o of n.output ?? []) constants.add(o);
    }
  }
  return graph.node.filter((n) => n.opType === 'Transpose' && !constants.has(n.input?.[0] ?? '')).length;
}

async function run(model: Uint8Array, batch: number) {
  const compiled = await compileModel(model, { executionProviders: ['cpu'] });
  const input = randomNd([batch, 9, 9, 3], 7 + batch, -2, 2);
  const out = await compiled.run({ x: HostTensor.from('float32', input.data, input.shape) });
  await compiled.release();
  return out as Record<string, HostTensor>;
}

describe('channels-first lowering', () => {
  it('computes what the NHWC lowering computes, at any batch size', async () => {
    const [nhwc, nchw] = [lower(false), lower(true)];
    for (const batch of [1, 3]) {
      const [expected, actual] = [await run(nhwc, batch), await run(nchw, batch)];
      for (const name of ['mean', 'flat', 'residual']) {
        const [e, a] = [expected[name] as HostTensor, actual[name] as HostTensor];
        assert.deepEqual(a.shape, e.shape, name);
        const worst = e.toNumbers().reduce((m, v, i) => Math.max(m, Math.abs(v - (a.toNumbers()[i] as number))), 0);
        assert.ok(worst <= 1e-5, `${name} at batch ${batch}: max abs diff ${worst}`);
      }
    }
  });

  it('leaves one transpose in (the input) and one out per NHWC reader (flatten, output) instead of a pair per layer', () => {
    assert.ok(activationTransposes(lower(false)) >= 10, 'the NHWC lowering transposes around every layer');
    assert.equal(activationTransposes(lower(true)), 3);
  });

  it('lowers a per-channel PRelu on the CPU to 1×1 depthwise convolutions, not Min, Mul, Relu and Add passes', () => {
    const graph = onnx.ModelProto.decode(lower(true)).graph as InstanceType<typeof onnx.GraphProto>;
    const types = graph.node.map((n) => n.opType);
    assert.equal(types.filter((t) => t === 'Min' || t === 'Mul').length, 0);
    assert.equal(
      graph.node.filter((n) => n.opType === 'Conv' && n.attribute?.some((a) => a.name === 'group')).length,
      3,
    );
  });

  it('widens channels with a 1×1 Conv instead of a Pad, so the blocked layout of the convolutions is not left', () => {
    const graph = onnx.ModelProto.decode(lower(true)).graph as InstanceType<typeof onnx.GraphProto>;
    assert.equal(graph.node.filter((n) => n.opType === 'Pad').length, 0);
    const widen = graph.node.find((n) => n.name?.endsWith('_as_conv'));
    const weights = graph.initializer.find((t) => t.name === widen?.input?.[1]);
    assert.deepEqual(weights?.dims?.map(Number), [12, 8, 1, 1]);
  });

  it('declares the rank of an input a transpose reads, and no dims, so any batch and size still reach ONNX Runtime', () => {
    const graph = onnx.ModelProto.decode(lower(true)).graph as InstanceType<typeof onnx.GraphProto>;
    const x = graph.input.find((i) => i.name === 'x');
    assert.deepEqual(
      x?.type?.tensorType?.shape?.dim?.map((d) => d.dimValue ?? d.dimParam ?? null),
      [null, null, null, null],
    );
  });
});
