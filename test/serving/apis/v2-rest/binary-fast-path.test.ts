/**
 * The v2 REST route's promise-free path for what Triton's binary clients send: binary numeric inputs decoded and an
 * all-binary reply encoded synchronously, giving the same tensors, errors, charges and bytes as the general path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTensor } from '../../../../src/graph/host-tensor.js';
import { DEFAULT_REQUEST_LIMITS, InputAdmission } from '../../../../src/serving/core/request-limits.js';
import type { Signature } from '../../../../src/serving/core/types.js';
import type { V2RestInput } from '../../../../src/serving/apis/v2-rest/infer-request.js';
import { encodeBinaryInferResponse, encodeInferResponse } from '../../../../src/serving/apis/v2-rest/infer-response.js';
import { decodeBinaryInputs, decodeInputs } from '../../../../src/serving/apis/v2-rest/input-tensors.js';
import type { V2InferResult, V2InferTarget } from '../../../../src/serving/apis/v2/infer.js';

const signature: Signature = {
  method: 'tensorflow/serving/predict',
  inputs: {
    x: { name: 'x:0', dtype: 'float32', shape: [-1, 2] },
    k: { name: 'k:0', dtype: 'int64', shape: [-1] },
  },
  outputs: { y: { name: 'y:0', dtype: 'float32', shape: [-1] } },
};

function target(maxInputBytes = DEFAULT_REQUEST_LIMITS.maxInputBytes): V2InferTarget {
  const admission = new InputAdmission(signature, { ...DEFAULT_REQUEST_LIMITS, maxInputBytes });
  return { modelName: 'm', selector: { name: 'm' }, signatureName: 'serving_default', signature, admission };
}

/** x: FP32 [1,2] = [1.5, -2]; k: INT64 [1] = [7]; their chunks after a 10-byte stand-in header. */
function request(): { inputs: V2RestInput[]; body: Buffer } {
  const x = Buffer.from(new Float32Array([1.5, -2]).buffer);
  const k = Buffer.from(new BigInt64Array([7n]).buffer);
  const body = Buffer.concat([Buffer.alloc(10), x, k]);
  const inputs: V2RestInput[] = [
    { name: 'x', datatype: 'FP32', shape: [1, 2], binary: { offset: 10, length: 8 } },
    { name: 'k', datatype: 'INT64', shape: [1], binary: { offset: 18, length: 8 } },
  ];
  return { inputs, body };
}

/** What a decoded input carries, as plain values that deepEqual can compare. */
function described(input: Awaited<ReturnType<typeof decodeInputs>>[number]) {
  const { name, datatype, shape, tensor } = input;
  return [name, datatype, shape, tensor.dtype, tensor.shape, Array.from(tensor.data as ArrayLike<unknown>)];
}

test('binary numeric inputs are decoded without a promise, to the tensors the general path gives', async () => {
  const { inputs, body } = request();
  const fast = decodeBinaryInputs(target(), inputs, body);
  assert.ok(Array.isArray(fast), 'an array, not a promise');
  const general = await decodeInputs(target(), inputs, body);
  assert.deepEqual(fast.map(described), general.map(described));
  // Storage of its own: the body can be reused and the tensor moved to a worker.
  assert.notEqual((fast[0]!.tensor.data as Float32Array).buffer, body.buffer);
});

test('JSON or BYTES inputs leave the fast path having charged nothing; the general path then decodes them', async () => {
  const { inputs, body } = request();
  const admitted = target(16); // x (8 bytes) + k (8 bytes) fit exactly once
  const json: V2RestInput[] = [inputs[0]!, { name: 'k', datatype: 'INT64', shape: [1], data: [7] }];
  assert.equal(decodeBinaryInputs(admitted, json, body), undefined);
  const bytes: V2RestInput[] = [inputs[0]!, { name: 'k', datatype: 'BYTES', shape: [1], binary: inputs[1]!.binary! }];
  assert.equal(decodeBinaryInputs(admitted, bytes, body), undefined);
  const decoded = await decodeInputs(admitted, json, body);
  assert.deepEqual([...(decoded[1]!.tensor.data as BigInt64Array)], [7n]);
});

test('the fast path refuses what the general path refuses, with the same messages', async () => {
  const cases: [string, (inputs: V2RestInput[]) => V2RestInput[], number?][] = [
    ['unknown name', (i) => [i[0]!, { ...i[1]!, name: 'z' }]],
    ['missing input', (i) => [i[0]!]],
    ['datatype', (i) => [{ ...i[0]!, datatype: 'FP64' }, i[1]!]],
    ['unknown datatype', (i) => [{ ...i[0]!, datatype: 'FP8' }, i[1]!]],
    ['shape', (i) => [{ ...i[0]!, shape: [1, 3] }, i[1]!]],
    ['chunk size', (i) => [{ ...i[0]!, shape: [2, 2] }, i[1]!]],
    ['budget', (i) => i, 12],
  ];
  for (const [what, change, limit] of cases) {
    const { inputs, body } = request();
    const sent = change(inputs);
    let general: Error | undefined;
    await decodeInputs(target(limit), sent, body).catch((err: Error) => (general = err));
    assert.ok(general, `${what}: the general path refuses it`);
    assert.throws(() => decodeBinaryInputs(target(limit), sent, body), { message: general.message }, what);
  }
});

test('an all-binary reply is one Buffer, byte for byte what the general encoder writes', async () => {
  const result: V2InferResult = {
    modelName: 'm',
    modelVersion: '3',
    id: 'req-é',
    outputs: [
      {
        name: 'y',
        datatype: 'FP32',
        shape: [3],
        tensor: new HostTensor('float32', [3], new Float32Array([0.25, 1, -3])),
      },
      {
        name: 'ü',
        datatype: 'BYTES',
        shape: [2],
        tensor: new HostTensor('string', [2], [Buffer.from('ab'), Buffer.from('')]),
      },
    ],
  };
  const fast = encodeBinaryInferResponse(result);
  const general = await encodeInferResponse(result, () => true);
  assert.ok(Buffer.isBuffer(fast.body));
  assert.deepEqual(fast.body, general.body);
  assert.equal(fast.headerLength, general.headerLength);
  const header = JSON.parse((fast.body as Buffer).subarray(0, fast.headerLength).toString('utf8'));
  assert.equal(header.id, 'req-é');
  assert.deepEqual(
    header.outputs.map((o: { parameters: { binary_data_size: number } }) => o.parameters.binary_data_size),
    [12, 10],
  );
  assert.deepEqual(
    new Float32Array(
      (fast.body as Buffer).buffer.slice(
        (fast.body as Buffer).byteOffset + fast.headerLength!,
        (fast.body as Buffer).byteOffset + fast.headerLength! + 12,
      ),
    ),
    new Float32Array([0.25, 1, -3]),
  );
});

test('a repeated all-binary reply reuses its header only while everything it was written from is the same', async () => {
  const result = (change: Partial<V2InferResult> = {}, shape = [2], name = 'y'): V2InferResult => ({
    modelName: 'm',
    modelVersion: '1',
    outputs: [
      {
        name,
        datatype: 'FP32',
        shape,
        tensor: new HostTensor('float32', shape, new Float32Array(shape.reduce((n, d) => n * d, 1)).fill(0.5)),
      },
    ],
    ...change,
  });
  const sequence = [
    result(),
    result(),
    result({ id: 'a' }),
    result({ id: 'b' }),
    result({ modelVersion: '2' }),
    result({ modelName: 'n' }),
    result({}, [1, 2]),
    result({}, [2, 1]),
    result({}, [3]),
    result({}, [2], 'z'),
    result(),
  ];
  for (const [i, sent] of sequence.entries()) {
    const fast = encodeBinaryInferResponse(sent);
    const general = await encodeInferResponse(sent, () => true);
    assert.deepEqual(fast.body, general.body, `reply ${i}`);
    assert.equal(fast.headerLength, general.headerLength, `reply ${i}`);
  }
  // Each reply is its own Buffer: a reply still being written is not changed by the next.
  const first = encodeBinaryInferResponse(result());
  const copy = Buffer.from(first.body as Buffer);
  encodeBinaryInferResponse(result());
  assert.deepEqual(first.body, copy);
});
