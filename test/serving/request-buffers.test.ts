import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DTYPES, type TypedArray } from '../../src/graph/dtype.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import {
  allocateForRequest,
  holdsLargeTensor,
  LARGE_TENSOR_BYTES,
  LARGE_TENSOR_STRINGS,
  SLAB_TENSOR_MAX_BYTES,
  storageWith,
  TAKE_SLICE_BYTES,
  takenInSlices,
  withOwnedLoneString,
} from '../../src/serving/request-buffers.js';

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
    let turns = 0;
    let reading = true;
    const count = () => {
      if (!reading) return;
      turns++;
      setImmediate(count);
    };
    setImmediate(count);
    const buffer = await takenInSlices(bytes);
    reading = false;
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
  it('a lone long string element viewing a larger buffer gets a buffer of its own; other tensors stay as they are', async () => {
    const message = new Uint8Array(LARGE_TENSOR_BYTES + 100).fill(0x61);
    const view = message.subarray(10, LARGE_TENSOR_BYTES + 90);
    const owned = await withOwnedLoneString(new HostTensor('string', [1], [view]));
    const element = (owned.data as Uint8Array[])[0] as Uint8Array;
    assert.notEqual(element.buffer, message.buffer);
    assert.equal(element.byteLength, element.buffer.byteLength);
    assert.deepEqual(element, view);
    assert.deepEqual(owned.shape, [1]);
    const short = new HostTensor('string', [1], [message.subarray(0, 10)]);
    assert.equal(await withOwnedLoneString(short), short, 'a short element is left in place');
    const two = new HostTensor('string', [2], [view, view]);
    assert.equal(await withOwnedLoneString(two), two);
    const floats = new HostTensor('float32', [1], new Float32Array(1));
    assert.equal(await withOwnedLoneString(floats), floats);
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
