import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DTYPES, EMPTY_BYTES, type TypedArray } from '../../src/graph/dtype.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import {
  allocateForRequest,
  fillOneBuffer,
  holdsLargeTensor,
  LARGE_TENSOR_BYTES,
  LARGE_TENSOR_STRINGS,
  SLAB_TENSOR_MAX_BYTES,
  storageWith,
  TAKE_SLICE_BYTES,
  takenInSlices,
  withPackedStrings,
} from '../../src/serving/request-buffers.js';
import { turnsWhile } from '../helpers/turns.js';

describe('allocateForRequest', () => {
  it('carves small tensors from one slab: zero-filled, 8-byte aligned, never overlapping', () => {
    const views = [3, 784, 1, 10, 5].map((n, i) => {
      const view = allocateForRequest(i % 2 === 0 ? 'uint8' : 'float32', n) as TypedArray;
      assert.ok(
        view.every((v) => v === 0),
        'a fresh view is zero-filled',
      );
      assert.equal(view.byteOffset % 8, 0, `view ${i} starts at ${view.byteOffset}`);
      (view as Uint8Array).fill(i + 1);
      return view;
    });
    // Consecutive small tensors share a slab unless one of them started the next slab.
    const sharing = views.filter((v) => v.buffer === views[4]?.buffer).length;
    assert.ok(sharing >= 2, `only ${sharing} of 5 views share the last slab`);
    views.forEach((view, i) =>
      assert.ok(
        view.every((v) => v === i + 1),
        `view ${i} was written by another`,
      ),
    );
  });

  it('gives every numeric dtype its own typed array, and strings, empty and large tensors storage of their own', () => {
    for (const dtype of DTYPES) {
      const data = allocateForRequest(dtype, 4);
      if (dtype === 'string') {
        assert.ok(Array.isArray(data) && data.length === 4);
        continue;
      }
      const view = data as TypedArray;
      assert.equal(view.length, 4, dtype);
      assert.ok(view.byteLength < view.buffer.byteLength, `${dtype}: not carved from a slab`);
    }
    const large = allocateForRequest('float32', SLAB_TENSOR_MAX_BYTES / 4 + 1) as Float32Array;
    assert.equal(large.byteLength, large.buffer.byteLength, 'a tensor over the limit has a buffer of its own');
    const limit = allocateForRequest('float32', SLAB_TENSOR_MAX_BYTES / 4) as Float32Array;
    assert.ok(limit.byteLength < limit.buffer.byteLength, 'a tensor at the limit is carved');
    const empty = allocateForRequest('float32', 0) as Float32Array;
    assert.equal(empty.length, 0);
  });

  it('starts a fresh slab when the current one has no room, never handing out a byte twice', () => {
    const seen: Float32Array[] = [];
    for (let i = 0; i < 40; i++) {
      const view = allocateForRequest('float32', 784) as Float32Array;
      assert.ok(view.every((v) => v === 0));
      view.fill(i);
      seen.push(view);
    }
    assert.ok(new Set(seen.map((v) => v.buffer)).size >= 2, '40 MNIST images fit one slab');
    seen.forEach((view, i) => assert.ok(view.every((v) => v === i)));
  });
});

describe('takenInSlices and storageWith: large request storage prepared a slice a turn', () => {
  it('writes its pages a slice of TAKE_SLICE_BYTES a turn of the event loop, and is zero-filled', async () => {
    const bytes = 2 * TAKE_SLICE_BYTES + 100;
    const { turns, value: buffer } = await turnsWhile(() => takenInSlices(bytes));
    assert.equal(buffer.byteLength, bytes);
    assert.ok(new Uint8Array(buffer).every((b) => b === 0));
    // Three slices: two turns passed between them (the counter runs once in each).
    assert.ok(turns >= 2, `${turns} turns passed while 3 slices were written`);
  });

  it('gives the buffer, whole, to the first tensor that fills it exactly; any other tensor gets storage of its own', () => {
    const buffer = new ArrayBuffer(16);
    const storage = storageWith(buffer);
    const other = storage('float32', 3) as Float32Array;
    assert.notEqual(other.buffer, buffer, 'a tensor of another size');
    const exact = storage('float32', 4) as Float32Array;
    assert.equal(exact.buffer, buffer);
    assert.equal(exact.byteOffset, 0);
    assert.equal(exact.length, 4);
    assert.notEqual((storage('float32', 4) as Float32Array).buffer, buffer, 'given once only');
    const eight = new ArrayBuffer(8);
    assert.equal((storageWith(eight)('float64', 1) as Float64Array).buffer, eight, 'any numeric dtype that fills it');
  });
});

describe('large tensors', () => {
  it('large string tensors are packed into one buffer of their own, in order; others stay as they are', async () => {
    const message = new Uint8Array(LARGE_TENSOR_BYTES + 100).map((_, i) => i & 0xff);
    const views = [
      message.subarray(10, 600_000),
      message.subarray(0, 0),
      message.subarray(600_000, LARGE_TENSOR_BYTES + 100),
    ];
    const packed = await withPackedStrings(new HostTensor('string', [3], views));
    const elements = packed.data as Uint8Array[];
    assert.ok(fillOneBuffer(elements), 'consecutive views filling one buffer');
    assert.notEqual(elements[0]?.buffer, message.buffer);
    for (const [i, view] of views.entries()) assert.deepEqual(elements[i], view);
    assert.deepEqual(packed.shape, [3]);
    assert.equal(await withPackedStrings(packed), packed, 'packed already: left as it is');
    const lone = new Uint8Array(LARGE_TENSOR_BYTES + 1);
    const owned = new HostTensor('string', [1], [lone]);
    assert.equal(await withPackedStrings(owned), owned, 'a lone element filling its own buffer is packed already');
    const short = new HostTensor('string', [2], [message.subarray(0, 10), message.subarray(20, 30)]);
    assert.equal(await withPackedStrings(short), short, 'small tensors are left in place');
    const floats = new HostTensor('float32', [1], new Float32Array(1));
    assert.equal(await withPackedStrings(floats), floats);
  });

  it('fillOneBuffer: consecutive views from the start to the end of one buffer, and nothing else', () => {
    const buffer = new ArrayBuffer(10);
    const at = (from: number, to: number) => new Uint8Array(buffer, from, to - from);
    assert.equal(fillOneBuffer([at(0, 4), at(4, 4), at(4, 10)]), true);
    assert.equal(fillOneBuffer([at(0, 4), at(5, 10)]), false, 'a gap');
    assert.equal(fillOneBuffer([at(0, 4), at(4, 9)]), false, 'short of the end');
    assert.equal(fillOneBuffer([at(1, 10)]), false, 'not from the start');
    assert.equal(fillOneBuffer([at(0, 4), new Uint8Array(6)]), false, 'another buffer');
    assert.equal(fillOneBuffer([]), false);
    assert.equal(fillOneBuffer([EMPTY_BYTES, EMPTY_BYTES]), false, 'an empty buffer: maybe a shared constant');
  });

  it('holdsLargeTensor: past LARGE_TENSOR_BYTES, or past LARGE_TENSOR_STRINGS strings', () => {
    const strings = (n: number, bytes: number) =>
      new HostTensor('string', [n], new Array(n).fill(new Uint8Array(bytes)));
    assert.equal(
      holdsLargeTensor([new HostTensor('float32', [LARGE_TENSOR_BYTES / 4], new Float32Array(LARGE_TENSOR_BYTES / 4))]),
      false,
    );
    assert.equal(
      holdsLargeTensor([
        new HostTensor('float32', [LARGE_TENSOR_BYTES / 4 + 1], new Float32Array(LARGE_TENSOR_BYTES / 4 + 1)),
      ]),
      true,
    );
    assert.equal(holdsLargeTensor([strings(LARGE_TENSOR_STRINGS, 1)]), false);
    assert.equal(holdsLargeTensor([strings(LARGE_TENSOR_STRINGS + 1, 0)]), true);
    assert.equal(holdsLargeTensor([strings(1, LARGE_TENSOR_BYTES + 1)]), true, 'one long string');
  });
});
