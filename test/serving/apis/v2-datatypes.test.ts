import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import { DTYPES } from '../../../src/graph/dtype.js';
import { dtypeOfV2, v2DatatypeOf } from '../../../src/serving/apis/v2/datatypes.js';
import { selectorOfV2 } from '../../../src/serving/apis/v2/infer.js';

test('every flowserve dtype has a protocol datatype that maps back to it', () => {
  for (const dtype of DTYPES) assert.equal(dtypeOfV2(v2DatatypeOf(dtype), 'input'), dtype);
  assert.equal(v2DatatypeOf('float16'), 'FP16');
  assert.equal(v2DatatypeOf('string'), 'BYTES');
});

test('STRING is read as BYTES; BF16 and unknown names are refused naming the tensor', () => {
  assert.equal(dtypeOfV2('STRING', "input 'x'"), 'string');
  assert.throws(
    () => dtypeOfV2('BF16', "input 'x'"),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgument);
      assert.match(err.message, /^input 'x': datatype BF16 is not supported/);
      return true;
    },
  );
  assert.throws(() => dtypeOfV2('fp32', "output 'y'"), /output 'y': invalid datatype 'fp32'; expected one of BOOL/);
  assert.throws(() => dtypeOfV2('__proto__', "input 'x'"), /invalid datatype '__proto__'/);
});

test('a version string selects a number, the latest when empty, else a version label', () => {
  assert.deepEqual(selectorOfV2('m'), { name: 'm' });
  assert.deepEqual(selectorOfV2('m', ''), { name: 'm' });
  assert.deepEqual(selectorOfV2('m', '3'), { name: 'm', version: 3 });
  assert.deepEqual(selectorOfV2('m', 'stable'), { name: 'm', label: 'stable' });
  assert.throws(() => selectorOfV2('m', '99999999999999999999'), /out of range/);
});
