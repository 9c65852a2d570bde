import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as fs from '../../src/index.js';
import { assertLayoutsAgree, lowerNet, seededWeights as weights, type NamedNet } from '../helpers/layout-lowering.js';

const { onnx } = onnxProto;

/**
 * A small NHWC convolutional net with every pattern the pass rewrites: conv + bias + relu, depthwise conv, a
 * per-channel PRelu, max pooling, a residual add, channel padding, a channel concat, a global mean (layout-free
 * reduction), a flatten (a Reshape, which must still see NHWC) and an activation fetched as it is.
 */
function convNet(): NamedNet {
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
    return { x, outputs: [mean, flat, residual], outputNames: ['mean', 'flat', 'residual'] };
  });
  return built;
}

function lower(channelsFirst: boolean): Uint8Array {
  return lowerNet(convNet(), channelsFirst);
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

describe('channels-first lowering', () => {
  it('computes what the NHWC lowering computes, at any batch size', async () => {
    await assertLayoutsAgree(lower(false), lower(true), [9, 9, 3], 7, ['mean', 'flat', 'residual']);
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
