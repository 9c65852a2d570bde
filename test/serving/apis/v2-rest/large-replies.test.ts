/**
 * Large /v2 infer replies: assembled a slice at a time (rest/reply-assembler.ts) into the bytes a small reply's
 * encoder writes, JSON and binary outputs alike, and bounded by --max_response_bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTensor } from '../../../../src/graph/host-tensor.js';
import { ASSEMBLED_REPLY_BYTES } from '../../../../src/serving/apis/rest/reply-assembler.js';
import {
  encodeBinaryInferResponse,
  encodeInferResponse,
  replyBound,
} from '../../../../src/serving/apis/v2-rest/infer-response.js';
import type { V2InferResult } from '../../../../src/serving/apis/v2/infer.js';
import type { V2Datatype } from '../../../../src/serving/apis/v2/datatypes.js';

function result(outputs: V2InferResult['outputs']): V2InferResult {
  return { modelName: 'm', modelVersion: '3', id: 'req-é', outputs };
}

const output = (name: string, datatype: V2Datatype, tensor: HostTensor) => ({
  name,
  datatype,
  shape: [...tensor.shape],
  tensor,
});

/** The reply's JSON header and each binary chunk after it. */
function split(encoded: { body: string | Buffer; headerLength?: number }) {
  const body = Buffer.isBuffer(encoded.body) ? encoded.body : Buffer.from(encoded.body);
  const headerLength = encoded.headerLength ?? body.byteLength;
  return { header: JSON.parse(body.subarray(0, headerLength).toString('utf8')), rest: body.subarray(headerLength) };
}

test('a large JSON reply holds the same values as a small one, floats, long strings and binary chunks alike', async () => {
  const floats = new HostTensor(
    'float32',
    [50_000],
    Float32Array.from({ length: 50_000 }, (_, i) => (i - 25_000) / 7),
  );
  const longText = `"quoted"\n\u0001${'é'.repeat(40_000)}`;
  const strings = new HostTensor('string', [2], [Buffer.from(longText), Buffer.from('b')]);
  const ints = new HostTensor('int32', [3], Int32Array.of(1, -2, 3));
  const large = result([output('y', 'FP32', floats), output('s', 'BYTES', strings), output('k', 'INT32', ints)]);
  const binary = (name: string) => name === 'k';
  assert.ok(replyBound(large, binary) >= ASSEMBLED_REPLY_BYTES, 'assembled');
  const encoded = await encodeInferResponse(large, binary);
  assert.ok(Buffer.isBuffer(encoded.body));
  const { header, rest } = split(encoded);
  assert.equal(header.id, 'req-é');
  assert.deepEqual((header.outputs[0].data as number[]).map(Math.fround), Array.from(floats.data as Float32Array));
  assert.deepEqual(header.outputs[1].data, [longText, 'b']);
  assert.deepEqual(header.outputs[2].parameters, { binary_data_size: 12 });
  assert.deepEqual(new Int32Array(rest.buffer.slice(rest.byteOffset, rest.byteOffset + 12)), Int32Array.of(1, -2, 3));

  // The same outputs, small: the one-string encoder writes the same header text.
  const small = result([
    output('y', 'FP32', new HostTensor('float32', [2], Float32Array.of(0.5, -1))),
    output('s', 'BYTES', new HostTensor('string', [1], [Buffer.from('"q"\n\u0001é')])),
    output('k', 'INT32', ints),
  ]);
  assert.ok(replyBound(small, binary) < ASSEMBLED_REPLY_BYTES);
  const smallEncoded = await encodeInferResponse(small, binary);
  const expected =
    '{"model_name":"m","model_version":"3","id":"req-é","outputs":[' +
    '{"name":"y","datatype":"FP32","shape":[2],"data":[0.5,-1.0]},' +
    '{"name":"s","datatype":"BYTES","shape":[1],"data":["\\"q\\"\\n\\u0001é"]},' +
    '{"name":"k","datatype":"INT32","shape":[3],"parameters":{"binary_data_size":12}}]}';
  assert.equal(split(smallEncoded).rest.byteLength, 12);
  assert.equal((smallEncoded.body as Buffer).subarray(0, smallEncoded.headerLength).toString('utf8'), expected);
});

test('a large all-binary reply is the bytes the synchronous encoder writes', async () => {
  const y = new HostTensor(
    'float32',
    [100_000],
    Float32Array.from({ length: 100_000 }, (_, i) => i),
  );
  const large = result([output('y', 'FP32', y)]);
  const assembled = await encodeInferResponse(large, () => true);
  const direct = encodeBinaryInferResponse(large);
  assert.deepEqual(assembled.body, direct.body);
  assert.equal(assembled.headerLength, direct.headerLength);
});

test('a large binary reply of BYTES elements, short and long, is the bytes the synchronous encoder writes', async () => {
  const lengths = [0, 65_531, 65_532, 65_533, 100_000, 3, ...Array.from({ length: 20_000 }, (_, i) => (i * 37) % 101)];
  const elements = lengths.map((n, i) => Buffer.alloc(n, i % 251));
  const strings = new HostTensor('string', [elements.length], elements);
  const floats = new HostTensor('float32', [3], Float32Array.of(1, -2, 0.5));
  const large = result([output('s', 'BYTES', strings), output('y', 'FP32', floats)]);
  assert.ok(replyBound(large, () => true) >= ASSEMBLED_REPLY_BYTES, 'assembled');
  const assembled = await encodeInferResponse(large, () => true);
  const direct = encodeBinaryInferResponse(large);
  assert.equal(assembled.headerLength, direct.headerLength);
  assert.ok((assembled.body as Buffer).equals(direct.body as Buffer), 'the same bytes');
  // The JSON header names each output's size, prefixes included.
  const { header } = split(assembled);
  assert.deepEqual(header.outputs[0].parameters, { binary_data_size: 4 * lengths.length + strings.byteLength() });
});

test('--max_response_bytes bounds JSON, binary, small and large replies', async () => {
  const large = result([output('y', 'FP32', new HostTensor('float32', [100_000], new Float32Array(100_000)))]);
  const small = result([output('y', 'FP32', new HostTensor('float32', [4], new Float32Array(4)))]);
  const refused = /the reply takes more than --max_response_bytes=100 bytes/;
  await assert.rejects(
    encodeInferResponse(large, () => false, 100),
    refused,
  );
  await assert.rejects(
    encodeInferResponse(large, () => true, 100),
    refused,
  );
  await assert.rejects(
    encodeInferResponse(small, () => false, 100),
    refused,
  );
  assert.throws(() => encodeBinaryInferResponse(large, 100), refused);
  const fits = await encodeInferResponse(small, () => false, 1000);
  assert.equal(JSON.parse(fits.body.toString()).outputs[0].data.length, 4);
});
