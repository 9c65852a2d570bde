import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as fs from '../../src/index.js';
import { type Tensor } from '../../src/index.js';
import { assertLayoutsAgree, lowerNet, seededWeights as weights, type NamedNet } from '../helpers/layout-lowering.js';

const { onnx } = onnxProto;

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
function wideningNet(): NamedNet {
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
    return { x, outputs: [widen(0, 16, 3), widen(16, 0, 5), widen(0, 8, 7)], outputNames: ['y0', 'y1', 'y2'] };
  });
}

function lower(channelsFirst: boolean): Uint8Array {
  return lowerNet(wideningNet(), channelsFirst);
}

describe('widening residual Adds', () => {
  it('sum the shortcut into its slice of the convolution and concatenate, computing what the NHWC lowering does', async () => {
    await assertLayoutsAgree(lower(false), lower(true), [8, 8, 16], 11, ['y0', 'y1', 'y2']);
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
