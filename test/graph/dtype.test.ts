import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dtypeFromOnnx,
  dtypeFromTf,
  float16Bits,
  float16Value,
  fromValues,
  tfDataTypeName,
} from '../../src/graph/dtype.js';

describe('tfDataTypeName', () => {
  it('names TensorFlow DataTypes, their reference types, and unknown codes', () => {
    assert.equal(tfDataTypeName(1), 'DT_FLOAT');
    assert.equal(tfDataTypeName(19), 'DT_HALF');
    assert.equal(tfDataTypeName(101), 'DT_FLOAT_REF');
    assert.equal(tfDataTypeName(undefined), 'DT_INVALID');
    assert.equal(tfDataTypeName(99), 'DataType(99)');
  });

  it('answers for any code a client sends, without recursing on it', () => {
    // 1048576 came from a fuzzed TensorProto; a recursive "code − 100" overflowed the stack (UNKNOWN reply).
    assert.equal(tfDataTypeName(1048576), 'DataType(1048576)');
    assert.equal(tfDataTypeName(2 ** 31), `DataType(${2 ** 31})`);
  });
});

describe('float16', () => {
  it('round-trips every finite half exactly and rounds others to nearest even', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exponent = (bits >>> 10) & 0x1f;
      if (exponent === 0x1f && bits & 0x3ff) continue; // NaN payloads collapse to one NaN
      assert.equal(float16Bits(float16Value(bits)), bits, `bits 0x${bits.toString(16)}`);
    }
    assert.equal(float16Bits(1 + 2 ** -11), 0x3c00); // halfway between 1 and the next half: ties to even
    assert.equal(float16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(float16Bits(65520), 0x7c00); // rounds past the largest half to infinity
    assert.equal(float16Bits(2 ** -25), 0); // half of the smallest subnormal: ties to even (zero)
    assert.equal(float16Bits(3 * 2 ** -26), 1);
    assert.ok(Number.isNaN(float16Value(float16Bits(NaN))));
  });

  it('is stored as bit patterns and maps to ONNX 10 and DT_HALF', () => {
    assert.deepEqual([...(fromValues('float16', [1, -2, 0.5]) as Uint16Array)], [0x3c00, 0xc000, 0x3800]);
    assert.equal(dtypeFromOnnx(10), 'float16');
    assert.equal(dtypeFromTf(19), 'float16');
    assert.equal(dtypeFromTf(23), 'uint64');
    assert.equal(dtypeFromOnnx(3), 'int8');
  });
});
