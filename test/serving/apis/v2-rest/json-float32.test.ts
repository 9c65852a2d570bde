/** v2 REST JSON infer: FP32 `data` is converted while the body is scanned, and the tensor takes those values. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PackedArray } from '../../../../src/serving/apis/rest/json-packed.js';
import { readInferRequest } from '../../../../src/serving/apis/v2-rest/infer-request.js';
import { decodeInputs } from '../../../../src/serving/apis/v2-rest/input-tensors.js';
import { DEFAULT_REQUEST_LIMITS, InputAdmission } from '../../../../src/serving/core/request-limits.js';
import type { Signature } from '../../../../src/serving/core/types.js';
import type { V2InferTarget } from '../../../../src/serving/apis/v2/infer.js';

const signature: Signature = {
  method: 'tensorflow/serving/predict',
  inputs: {
    x: { name: 'x:0', dtype: 'float32', shape: [-1, 3] },
    n: { name: 'n:0', dtype: 'int32', shape: [-1] },
  },
  outputs: { y: { name: 'y:0', dtype: 'float32', shape: [-1] } },
};

function target(): V2InferTarget {
  const admission = new InputAdmission(signature, DEFAULT_REQUEST_LIMITS);
  return { modelName: 'm', selector: { name: 'm' }, signatureName: 'serving_default', signature, admission };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

test('the numbers of a JSON input are converted to float32 while the body is read', async () => {
  const body = json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1.5, 0.1, -2e-3] }] });
  const request = await readInferRequest(body, undefined, DEFAULT_REQUEST_LIMITS.maxInputBytes);
  const data = request.inputs[0]?.data;
  assert.ok(data instanceof PackedArray);
  assert.deepEqual(data.float32, new Float32Array([1.5, 0.1, -2e-3]));
});

test('an FP32 input takes the converted values as its storage; other datatypes and nesting still decode', async () => {
  const body = json({
    inputs: [
      { name: 'x', datatype: 'FP32', shape: [2, 3], data: [1.5, 0.1, 3, 4, 5, 6] },
      { name: 'n', datatype: 'INT32', shape: [2], data: [7, -8] },
    ],
  });
  const request = await readInferRequest(body, undefined, DEFAULT_REQUEST_LIMITS.maxInputBytes);
  const converted = (request.inputs[0]?.data as PackedArray).float32;
  const [x, n] = await decodeInputs(target(), request.inputs, body);
  assert.equal(x?.tensor.data, converted, 'no second pass: the values read while scanning are the tensor');
  assert.deepEqual(x?.tensor.shape, [2, 3]);
  assert.deepEqual(Array.from(n?.tensor.data as Int32Array), [7, -8]);

  const nested = json({
    inputs: [
      {
        name: 'x',
        datatype: 'FP32',
        shape: [2, 3],
        data: [
          [1.5, 0.1, 3],
          [4, 5, 6],
        ],
      },
      { name: 'n', datatype: 'INT32', shape: [1], data: [1] },
    ],
  });
  const read = await readInferRequest(nested, undefined, DEFAULT_REQUEST_LIMITS.maxInputBytes);
  const [nx] = await decodeInputs(target(), read.inputs, nested);
  assert.deepEqual(nx?.tensor.data, new Float32Array([1.5, 0.1, 3, 4, 5, 6]));
  const bad = json({
    inputs: [
      { name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2] },
      { name: 'n', datatype: 'INT32', shape: [1], data: [1] },
    ],
  });
  const badRead = await readInferRequest(bad, undefined, DEFAULT_REQUEST_LIMITS.maxInputBytes);
  await assert.rejects(
    decodeInputs(target(), badRead.inputs, bad),
    /shape \[1,3\] needs 3 elements, but its data holds 2/,
  );
});
