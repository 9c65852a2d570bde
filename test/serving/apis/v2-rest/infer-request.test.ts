/** Reading v2 REST infer bodies: the fields of a repeated binary-only JSON header are read once and kept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HEADER_CACHE_ENTRIES,
  keptInferRequest,
  readInferRequest,
} from '../../../../src/serving/apis/v2-rest/infer-request.js';

const LIMIT = 1 << 20;

/** A body: the JSON header, then `chunk`; returns it with the header's length. */
function body(header: unknown, chunk: Uint8Array): { bytes: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { bytes: Buffer.concat([json, chunk]), headerLength: json.length };
}

const header = (model: string) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8, tag: model } }],
  outputs: [{ name: 'y', parameters: { binary_data: true } }],
  parameters: { binary_data_output: true },
});

test('a repeated binary-only header is read once: the next request shares its frozen fields', async () => {
  const first = body(header('repeat'), new Uint8Array(new Float32Array([1, 2]).buffer));
  const second = body(header('repeat'), new Uint8Array(new Float32Array([3, 4]).buffer));
  const a = await readInferRequest(first.bytes, first.headerLength, LIMIT);
  const b = await readInferRequest(second.bytes, second.headerLength, LIMIT);
  assert.ok(Object.isFrozen(b.inputs[0]?.parameters), 'kept fields are frozen');
  assert.equal(
    b.inputs[0]?.parameters,
    (await readInferRequest(second.bytes, second.headerLength, LIMIT)).inputs[0]?.parameters,
  );
  // Each request reads its own body, at the same place.
  assert.equal(b.body, second.bytes);
  assert.deepEqual(a.inputs[0]?.binary, { offset: first.headerLength, length: 8 });
  assert.deepEqual(b.inputs[0]?.binary, { offset: second.headerLength, length: 8 });
  const { binary: _a, ...fieldsA } = a.inputs[0]!;
  const { binary: _b, ...fieldsB } = b.inputs[0]!;
  assert.deepEqual(fieldsB, fieldsA);
  assert.deepEqual(b.outputs, a.outputs);
  assert.deepEqual(b.parameters, a.parameters);
});

test('a request cannot change a kept header for the next one: what it shares is frozen', async () => {
  const sent = body(header('mutate'), new Uint8Array(8));
  await readInferRequest(sent.bytes, sent.headerLength, LIMIT);
  const b = await readInferRequest(sent.bytes, sent.headerLength, LIMIT);
  assert.throws(() => b.inputs[0]!.shape.push(7), TypeError);
  assert.throws(() => (b.inputs[0]!.name = 'changed'), TypeError);
  assert.throws(() => b.inputs.push({ name: 'extra', datatype: 'FP32', shape: [] }), TypeError);
  assert.throws(() => (b.inputs[0]!.binary!.offset = 0), TypeError);
  assert.throws(() => ((b.parameters as Record<string, unknown>).binary_data_output = false), TypeError);
  const c = await readInferRequest(sent.bytes, sent.headerLength, LIMIT);
  assert.deepEqual(c.inputs[0]?.shape, [1, 2]);
  assert.equal(c.inputs[0]?.name, 'x');
  assert.equal(c.inputs.length, 1);
  assert.deepEqual(c.inputs[0]?.binary, { offset: sent.headerLength, length: 8 });
});

test('a body of the kept length gets the kept placed fields as they are, without reading or copying', async () => {
  const first = body(header('placed'), new Uint8Array(8));
  const a = await readInferRequest(first.bytes, first.headerLength, LIMIT);
  assert.equal(
    keptInferRequest(first.bytes, first.headerLength, LIMIT)?.inputs,
    (await readInferRequest(first.bytes, first.headerLength, LIMIT)).inputs,
  );
  const other = body(header('placed'), new Uint8Array(new Float32Array([5, 6]).buffer));
  const kept = keptInferRequest(other.bytes, other.headerLength, LIMIT);
  assert.ok(kept, 'the same header and length are found without a promise');
  assert.equal(kept.body, other.bytes);
  assert.equal(kept.raw, false);
  assert.deepEqual(kept.inputs[0]?.binary, { offset: other.headerLength, length: 8 });
  assert.deepEqual(kept.parameters, a.parameters);
  assert.deepEqual(kept.outputs, a.outputs);
  // Another length, another limit, an unknown header or a raw request: not found here (the full read decides).
  assert.equal(keptInferRequest(Buffer.concat([other.bytes, new Uint8Array(4)]), other.headerLength, LIMIT), undefined);
  assert.equal(keptInferRequest(other.bytes, other.headerLength, LIMIT - 1), undefined);
  assert.equal(
    keptInferRequest(body(header('unknown'), new Uint8Array(8)).bytes, other.headerLength, LIMIT),
    undefined,
  );
  assert.equal(keptInferRequest(other.bytes, 0, LIMIT), undefined);
  assert.equal(keptInferRequest(other.bytes, undefined, LIMIT), undefined);
});

test('a kept header is still checked against each body: sizes that do not add up are refused', async () => {
  const good = body(header('sizes'), new Uint8Array(8));
  await readInferRequest(good.bytes, good.headerLength, LIMIT);
  const short = good.bytes.subarray(0, good.bytes.length - 4);
  await assert.rejects(readInferRequest(short, good.headerLength, LIMIT), /runs past the end of the request body/);
  const long = Buffer.concat([good.bytes, new Uint8Array(4)]);
  await assert.rejects(readInferRequest(long, good.headerLength, LIMIT), /binary_data_size sum to 8/);
});

test('headers with JSON data are not kept (their values are views of that body), nor with another limit', async () => {
  const json = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2], parameters: { tag: 'json' } }],
  };
  const sent = body(json, new Uint8Array(0));
  await readInferRequest(sent.bytes, sent.headerLength, LIMIT);
  const again = await readInferRequest(sent.bytes, sent.headerLength, LIMIT);
  assert.ok(!Object.isFrozen(again.inputs[0]?.parameters));
  const binary = body(header('limit'), new Uint8Array(8));
  await readInferRequest(binary.bytes, binary.headerLength, LIMIT);
  const otherLimit = await readInferRequest(binary.bytes, binary.headerLength, LIMIT - 1);
  assert.ok(!Object.isFrozen(otherLimit.inputs[0]?.parameters));
});

test('the kept headers are bounded: a stream of distinct headers replaces them in turn', async () => {
  const first = body(header('bounded-0'), new Uint8Array(8));
  await readInferRequest(first.bytes, first.headerLength, LIMIT);
  assert.ok(Object.isFrozen((await readInferRequest(first.bytes, first.headerLength, LIMIT)).inputs[0]?.parameters));
  for (let i = 1; i <= HEADER_CACHE_ENTRIES; i++) {
    const other = body(header(`bounded-${i}`), new Uint8Array(8));
    await readInferRequest(other.bytes, other.headerLength, LIMIT);
  }
  const evicted = await readInferRequest(first.bytes, first.headerLength, LIMIT);
  assert.ok(!Object.isFrozen(evicted.inputs[0]?.parameters), 'the oldest header was replaced');
});
