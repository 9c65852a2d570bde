import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tfDataTypeName } from '../../src/graph/dtype.js';

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
