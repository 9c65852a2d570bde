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

const channelPad = (t: Tensor, before: number, after: number) =>
  fs.pad(t, [
    [0, 0],
    [0, 0],
    [0, 0],
    [before, after],
  ]);

/**
 * Residual blocks that widen their channels as iris does: a pooled shortcut zero-padded on the channel axis (after,
 * then before the channels) plus a convolution with bias of the padded width; and one whose padding (8 channels) is
 * not a whole number of ONNX Runtime's channel blocks.
 */
function wideningNet() {
  const g = new fs.Graph();
  return fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, 8, 8, 16], name: 'x' });
    const c1 = fs.relu(fs.conv2d(x, weights([1, 1, 16, 16], 1), { padding: 'SAME' }));
    const pooled = fs.maxPool(c1, { ksize: 2, strides: 2, padding: 'VALID' });
    const h = fs.conv2d(c1, weights([2, 2, 16, 16], 2), { strides: 2, padding: 'VALID' });
    const widen = (before: number, after: number, seed: number) =>
      fs.add(
        channelPad(pooled, before, after),
        fs.biasAdd(
          fs.conv2d(h, weights([1, 1, 16, 16 + before + after], seed), { padding: 'VALID' }),
          weights([16 + before + after], seed + 1),
        ),
      );
    return { x, outputs: [widen(0, 16, 3), widen(16, 0, 5), widen(0, 8, 7)] };
  });
}

function lower(channelsFirst: boolean): Uint8Array {
  const { x, outputs } = wideningNet();
  const names = new Map<Tensor, string>([[x, 'x'], ...outputs.map((t, i) => [t, `y${i}`] as [Tensor, string])]);
  const cpu = fs.discoverDevices({}).find((d) => d.type === 'CPU') as fs.Device;
  const fed = new Set([x]);
  return lowerPartition({ device: cpu, stage: 0, ops: prune(outputs, [], fed) }, fed, (t) => outputs.includes(t), {
    feedName: (t) => names.get(t) as string,
    outputName: (t) => names.get(t) as string,
    declareShapes: false,
    channelsFirst,
  }).model;
}

async function run(model: Uint8Array, batch: number) {
  const compiled = await compileModel(model, { executionProviders: ['cpu'] });
  const input = randomNd([batch, 8, 8, 16], 11 + batch, -2, 2);
  const out = await compiled.run({ x: HostTensor.from('float32', input.data, input.shape) });
  await compiled.release();
  return out as Record<string, HostTensor>;
}

describe('widening residual Adds', () => {
  it('sum the shortcut into its slice of the convolution and concatenate, computing what the NHWC lowering does', async () => {
    const [nhwc, nchw] = [lower(false), lower(true)];
    for (const batch of [1, 3]) {
      const [expected, actual] = [await run(nhwc, batch), await run(nchw, batch)];
      for (const name of ['y0', 'y1', 'y2']) {
        const [e, a] = [expected[name] as HostTensor, actual[name] as HostTensor];
        assert.deepEqual(a.shape, e.shape, name);
        const worst = e.toNumbers().reduce((m, v, i) => Math.max(m, Math.abs(v - (a.toNumbers()[i] as number))), 0);
        assert.ok(worst <= 1e-5, `${name} at batch ${batch}: max abs diff ${worst}`);
      }
    }
  });

  it('copy no channels through a 1×1 Conv where the padding is whole channel blocks, and still do where it is not', () => {
    const graph = onnx.ModelProto.decode(lower(true)).graph as InstanceType<typeof onnx.GraphProto>;
    const concats = graph.node.filter((n) => n.opType === 'Concat');
    assert.equal(concats.length, 2, 'the two aligned widenings');
    assert.deepEqual(
      concats.map((n) => n.input?.length),
      [2, 2],
    );
    // Only the 8-channel padding, not a whole number of blocks, is still a copy convolution.
    assert.equal(graph.node.filter((n) => n.name?.endsWith('_as_conv')).length, 1);
  });
});
