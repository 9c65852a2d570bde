/** A tensor's raw bytes in the v2 protocol (apis/v2/raw-bytes.ts): whole, and in parts for large replies. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTensor } from '../../../../src/graph/host-tensor.js';
import { rawByteLength, rawBytes, rawBytesInParts } from '../../../../src/serving/apis/v2/raw-bytes.js';

test('BYTES elements come after their lengths; in parts, short ones are copied and long ones are the elements themselves', async () => {
  const long = Buffer.alloc(70_000, 1);
  const elements = [
    Buffer.from('ab'),
    long,
    Buffer.from('c'),
    ...Array.from({ length: 1000 }, (_, i) => Buffer.alloc(i % 97, i)),
  ];
  const tensor = new HostTensor('string', [elements.length], elements);
  const whole = rawBytes(tensor);
  assert.equal(whole.readUInt32LE(0), 2);
  assert.equal(whole.subarray(4, 6).toString(), 'ab');
  assert.equal(whole.readUInt32LE(6), 70_000);
  assert.equal(rawByteLength(tensor), whole.byteLength);
  const parts = await rawBytesInParts(tensor);
  assert.ok(Buffer.concat(parts).equals(whole), 'the same bytes');
  assert.ok(parts.includes(long), 'the long element is a part of its own, not copied');
  assert.ok(
    parts.every((part) => part === long || part.byteLength <= 64 * 1024),
    'short elements packed into small parts',
  );
});

test("a numeric tensor's raw bytes are a view of its data, whole or in parts", async () => {
  const data = Float32Array.of(1, -2, 0.5);
  const tensor = new HostTensor('float32', [3], data);
  const parts = await rawBytesInParts(tensor);
  assert.equal(parts.length, 1);
  assert.equal(parts[0]?.buffer, data.buffer);
  assert.deepEqual(new Float32Array(rawBytes(tensor).buffer, 0, 3), data);
  assert.equal(rawByteLength(tensor), 12);
});
