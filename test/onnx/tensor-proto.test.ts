/** The ONNX TensorProto reader (golden data of ONNX's backend tests) on raw_data and on each typed field. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { float16Bits } from '../../src/graph/dtype.js';
import { InvalidArgument } from '../../src/errors.js';
import { stringTensorBytes } from '../../src/graph/string-bytes.js';
import { decodeOnnxTensor } from '../../src/onnx/tensor-proto.js';
import { onnxTypeString } from '../../src/onnx/value-types.js';

const { onnx } = onnxProto;
const encode = (fields: Record<string, unknown>) => onnx.TensorProto.encode(onnx.TensorProto.create(fields)).finish();

describe('ONNX TensorProto reader', () => {
  it('reads raw_data little-endian into the dtype of data_type', () => {
    const raw = new Uint8Array(new Float32Array([1.5, -2, 3, 4]).buffer);
    const { name, tensor } = decodeOnnxTensor(encode({ name: 'x', dataType: 1, dims: [2, 2], rawData: raw }), 'x.pb');
    assert.equal(name, 'x');
    assert.equal(tensor.dtype, 'float32');
    assert.deepEqual(tensor.shape, [2, 2]);
    assert.deepEqual(Array.from(tensor.data as Float32Array), [1.5, -2, 3, 4]);
  });

  it('reads the typed fields onnx.proto assigns: int32_data for float16 bits and bools, uint64_data, int64_data, string_data', () => {
    const half = decodeOnnxTensor(
      encode({ dataType: 10, dims: [2], int32Data: [float16Bits(0.5), float16Bits(-2)] }),
      'h',
    );
    assert.equal(half.tensor.dtype, 'float16');
    assert.deepEqual(Array.from(half.tensor.data as Uint16Array), [0x3800, 0xc000]);
    const bools = decodeOnnxTensor(encode({ dataType: 9, dims: [3], int32Data: [1, 0, 1] }), 'b');
    assert.deepEqual(Array.from(bools.tensor.data as Uint8Array), [1, 0, 1]);
    const u64 = decodeOnnxTensor(encode({ dataType: 13, dims: [1], uint64Data: ['18446744073709551615'] }), 'u');
    assert.deepEqual(Array.from(u64.tensor.data as BigUint64Array), [2n ** 64n - 1n]);
    const i64 = decodeOnnxTensor(encode({ dataType: 7, dims: [2], int64Data: ['-9223372036854775808', 5] }), 'i');
    assert.deepEqual(Array.from(i64.tensor.data as BigInt64Array), [-(2n ** 63n), 5n]);
    const strings = decodeOnnxTensor(
      encode({ dataType: 8, dims: [2], stringData: [Buffer.from('héllo'), Buffer.from('')] }),
      's',
    );
    assert.deepEqual(
      stringTensorBytes(strings.tensor).map((b) => Buffer.from(b).toString()),
      ['héllo', ''],
    );
  });

  it('refuses a bfloat16 tensor and one whose data does not fill its dims, naming the file', () => {
    assert.throws(
      () => decodeOnnxTensor(encode({ name: 'bf', dataType: 16, dims: [1], rawData: new Uint8Array(2) }), 'in.pb'),
      (e: unknown) => e instanceof InvalidArgument && /in\.pb: tensor 'bf' has element type bfloat16/.test(e.message),
    );
    assert.throws(
      () => decodeOnnxTensor(encode({ name: 'x', dataType: 1, dims: [3], rawData: new Uint8Array(8) }), 'in.pb'),
      (e: unknown) =>
        e instanceof InvalidArgument && /8 bytes of raw_data, its dims \[3\] of float32 need 12/.test(e.message),
    );
  });

  it('writes nested ONNX types as ONNX does', () => {
    const float = { tensorType: { elemType: 1 } };
    assert.equal(onnxTypeString({ sequenceType: { elemType: float } }), 'seq(tensor(float))');
    assert.equal(onnxTypeString({ mapType: { keyType: 8, valueType: float } }), 'map(string,tensor(float))');
    assert.equal(
      onnxTypeString({ optionalType: { elemType: { sequenceType: { elemType: float } } } }),
      'optional(seq(tensor(float)))',
    );
  });
});
