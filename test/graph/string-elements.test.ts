import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { stringTensorBytes, stringTensorFromBytes } from '../../src/graph/string-bytes.js';
import { constant } from '../../src/ops/convert.js';

describe('string tensors hold bytes', () => {
  it('takes JavaScript strings as their UTF-8 bytes and Uint8Arrays as they are', () => {
    const t = HostTensor.from('string', ['é', Uint8Array.of(0xff, 0x00)]);
    assert.deepEqual(
      stringTensorBytes(t).map((b) => [...b]),
      [
        [0xc3, 0xa9],
        [0xff, 0x00],
      ],
    );
    assert.equal(t.byteLength(), 4);
  });

  it('moves between a tensor and its elements without copying', () => {
    const wire = Buffer.from('abcdef');
    const elements = [wire.subarray(0, 2), wire.subarray(2, 6)];
    const t = stringTensorFromBytes([2], elements);
    assert.equal(stringTensorBytes(t)[1], elements[1]);
    assert.equal(stringTensorBytes(t)[1]?.buffer, wire.buffer);
  });

  it("prints text as JSON strings and other bytes as b'\\xNN'", () => {
    const t = HostTensor.from('string', ['hi "x"', Uint8Array.of(0x61, 0xff, 0x27)]);
    assert.equal(t.toString(), `["hi \\"x\\"", b'a\\xff\\'']`);
  });

  it('fills a constant’s shape with one string value', () => {
    const g = new Graph();
    const c = withGraph(g, () => constant('ab', { shape: [2] }));
    const value = c.op.attrs.value as HostTensor;
    assert.equal(value.dtype, 'string');
    assert.deepEqual(
      stringTensorBytes(value).map((b) => Buffer.from(b).toString()),
      ['ab', 'ab'],
    );
  });
});
