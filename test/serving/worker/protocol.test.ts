import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { EMPTY_BYTES } from '../../../src/graph/dtype.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { toWire } from '../../../src/serving/worker/worker-pool.js';
import {
  flatRan,
  isFlatRan,
  isFlatRun,
  packStrings,
  RAN_OUTPUTS_AT,
  RAN_TIMES,
  runRequestOfFlat,
  transferablesOf,
  unpackStrings,
  type FlatRun,
  type PackedStrings,
} from '../../../src/serving/worker/protocol.js';

describe('the flat run messages between the main thread and a worker', () => {
  it('a flat run holds every field of the run request: fetches, feeds of any dtype, deadline, chunk rows, holding', () => {
    const x = new Float32Array([1, 2, 3, 4]);
    const words = packStrings([new Uint8Array([104, 105]), new Uint8Array([])]);
    const flat: FlatRun = [
      'run',
      7,
      3,
      1234.5,
      16,
      1,
      2,
      'y',
      'z',
      'x',
      'float32',
      [2, 2],
      x,
      'w',
      'string',
      [2],
      words,
    ];
    assert.ok(isFlatRun(flat));
    assert.deepEqual(runRequestOfFlat(flat), {
      type: 'run',
      id: 7,
      sessionId: 3,
      fetches: ['y', 'z'],
      feeds: {
        x: { dtype: 'float32', shape: [2, 2], data: x },
        w: { dtype: 'string', shape: [2], data: words },
      },
      deadline: 1234.5,
      chunkRows: 16,
      replyMayWait: true,
    });
  });

  it('NaN stands for no deadline and no chunking, 0 for a reply that goes back at once', () => {
    const request = runRequestOfFlat(['run', 1, 1, NaN, NaN, 0, 1, 'y', 'x', 'int32', [1], new Int32Array([5])]);
    assert.equal('deadline' in request, false);
    assert.equal('chunkRows' in request, false);
    assert.equal('replyMayWait' in request, false);
    assert.deepEqual(request.fetches, ['y']);
  });

  it('a flat reply keeps the times and outputs in order at their fixed places', () => {
    const y = new Float32Array([0.5]);
    const z = new Int32Array([1, 2]);
    const times = { receivedAt: 1, startedAt: 2, inferStartedAt: 3, inferEndedAt: 4, repliedAt: 5 };
    const flat = flatRan(9, 2, times, {
      y: { dtype: 'float32', shape: [1], data: y },
      z: { dtype: 'int32', shape: [2], data: z },
    });
    assert.ok(isFlatRan(flat));
    assert.equal(isFlatRun(flat), false);
    assert.deepEqual([flat[0], flat[1]], [9, 2]);
    for (const [name, at] of Object.entries(RAN_TIMES)) assert.equal(flat[at], times[name as keyof typeof times]);
    assert.deepEqual(flat.slice(RAN_OUTPUTS_AT), ['y', 'float32', [1], y, 'z', 'int32', [2], z]);
  });

  it('two feeds viewing one buffer transfer it once; views of part of a buffer are copied', () => {
    const whole = new Float32Array(8);
    const part = new Float32Array(whole.buffer, 4, 2);
    assert.deepEqual(transferablesOf([whole, whole, part]), [whole.buffer]);
  });

  it('unpacks strings whole, or a range at a time into one array (a reply of many strings, a slice a turn)', () => {
    const strings = ['a', '', 'bcd', 'ef', 'g'].map((t) => Buffer.from(t));
    const packed = packStrings(strings);
    const text = (views: Uint8Array[]) => views.map((v) => Buffer.from(v).toString());
    assert.deepEqual(text(unpackStrings(packed)), ['a', '', 'bcd', 'ef', 'g']);
    const out = new Array<Uint8Array>(5);
    for (const [from, to] of [
      [0, 2],
      [2, 4],
      [4, 5],
    ] as const)
      unpackStrings(packed, out, from, to);
    assert.deepEqual(text(out), ['a', '', 'bcd', 'ef', 'g']);
  });
});

test('string elements that fill one buffer go to the worker as that buffer when the caller gave them up', () => {
  const only = new Uint8Array(new ArrayBuffer(16)).fill(0x61);
  const taken = toWire(new HostTensor('string', [1], [only]), true).data as PackedStrings;
  assert.equal(taken.bytes.buffer, only.buffer);
  assert.deepEqual([...taken.ends], [16]);
  const kept = toWire(new HostTensor('string', [1], [only])).data as PackedStrings;
  assert.notEqual(kept.bytes.buffer, only.buffer, 'not given up: a copy');
  assert.deepEqual(kept.bytes, only);
  const part = only.subarray(2);
  assert.notEqual(
    (toWire(new HostTensor('string', [1], [part]), true).data as PackedStrings).bytes.buffer,
    only.buffer,
  );
  const halves = [only.subarray(0, 6), only.subarray(6)];
  const packed = toWire(new HostTensor('string', [2], halves), true).data as PackedStrings;
  assert.equal(packed.bytes.buffer, only.buffer, 'consecutive views of one buffer: that buffer');
  assert.deepEqual([...packed.ends], [6, 16]);
  // Empty elements may be one shared constant: never moved (the soak's "detached ArrayBuffer").
  const empties = toWire(new HostTensor('string', [3], [EMPTY_BYTES, EMPTY_BYTES, EMPTY_BYTES]), true);
  assert.notEqual((empties.data as PackedStrings).bytes.buffer, EMPTY_BYTES.buffer);
  assert.equal(EMPTY_BYTES.buffer.byteLength, 0);
  const twice = toWire(new HostTensor('string', [2], [only, only]), true).data as PackedStrings;
  assert.notEqual(twice.bytes.buffer, only.buffer);
  assert.deepEqual([...twice.ends], [16, 32]);
});
