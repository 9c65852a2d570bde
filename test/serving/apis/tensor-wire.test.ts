/**
 * tensor-wire reads and writes TensorProto bytes itself; these tests hold it to protobufjs (the reference codec)
 * on every dtype, on packed and unpacked encodings, and on TensorFlow's fill rule.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { decodeTensorProto } from '../../../src/serving/apis/shared/tensor-proto.js';
import { protobufRoot } from '../../../src/serving/apis/shared/protos.js';
import {
  encodeStringTensorProto,
  readTensorProto,
  writeTensorProto,
} from '../../../src/serving/apis/shared/tensor-wire.js';
import { decodePredictRequest, encodePredictResponse } from '../../../src/serving/apis/grpc/predict-wire.js';
import { textArray } from '../../helpers/text-elements.js';

const tensorType = () => protobufRoot().lookupType('tensorflow.TensorProto');

function encodeReference(object: Record<string, unknown>): Uint8Array {
  const type = tensorType();
  return type.encode(type.fromObject(object)).finish();
}

function decodeWire(object: Record<string, unknown>, alias = 'x'): HostTensor {
  return decodeTensorProto(readTensorProto(encodeReference(object)), alias);
}

const shape = (...dims: number[]) => ({ dim: dims.map((size) => ({ size })) });

describe('TensorProto from wire bytes', () => {
  test('a tensor with no elements ignores the values sent with it, as TensorFlow does (found by npm run fuzz)', () => {
    // Used to grow the string array to one element and fail with UNKNOWN "needs 0 elements of string, got 1".
    const strings = decodeWire({
      dtype: 7,
      tensor_shape: shape(2, 0),
      string_val: [Buffer.from('ab'), Buffer.from('c')],
    });
    assert.deepEqual(strings.shape, [2, 0]);
    assert.deepEqual(textArray(strings), [[], []]);
    const floats = decodeWire({ dtype: 1, tensor_shape: shape(0, 4), float_val: [1, 2] });
    assert.deepEqual(floats.shape, [0, 4]);
    assert.equal(floats.data.length, 0);
  });

  test('every dtype decodes to the values protobufjs encoded', () => {
    assert.deepEqual(decodeWire({ dtype: 1, tensor_shape: shape(3), float_val: [1.5, -2, 3e38] }).toNumbers(), [
      1.5,
      -2,
      Math.fround(3e38),
    ]);
    assert.deepEqual(
      decodeWire({ dtype: 2, tensor_shape: shape(2), double_val: [0.1, -1e300] }).toNumbers(),
      [0.1, -1e300],
    );
    assert.deepEqual(
      decodeWire({ dtype: 3, tensor_shape: shape(4), int_val: [0, -1, 2147483647, -2147483648] }).toNumbers(),
      [0, -1, 2147483647, -2147483648],
    );
    assert.deepEqual(decodeWire({ dtype: 4, tensor_shape: shape(2), int_val: [0, 255] }).toNumbers(), [0, 255]);
    const int64 = decodeWire({
      dtype: 9,
      tensor_shape: shape(3),
      int64_val: ['9223372036854775807', '-9223372036854775808', '-5'],
    });
    assert.deepEqual(Array.from(int64.data as BigInt64Array), [9223372036854775807n, -9223372036854775808n, -5n]);
    assert.deepEqual(
      Array.from(decodeWire({ dtype: 10, tensor_shape: shape(3), bool_val: [true, false, true] }).data as Uint8Array),
      [1, 0, 1],
    );
    const strings = decodeWire({
      dtype: 7,
      tensor_shape: shape(2),
      string_val: [Buffer.from('héllo'), Buffer.alloc(0)],
    });
    assert.deepEqual(textArray(strings), ['héllo', '']);
  });

  test('fewer values than elements repeat the last one; none means zeros; extras are ignored', () => {
    assert.deepEqual(decodeWire({ dtype: 1, tensor_shape: shape(2, 2), float_val: [1, 7] }).toNumbers(), [1, 7, 7, 7]);
    assert.deepEqual(decodeWire({ dtype: 1, tensor_shape: shape(3) }).toNumbers(), [0, 0, 0]);
    assert.deepEqual(decodeWire({ dtype: 3, tensor_shape: shape(2), int_val: [4, 5, 6, 7] }).toNumbers(), [4, 5]);
    assert.deepEqual(textArray(decodeWire({ dtype: 7, tensor_shape: shape(3), string_val: [Buffer.from('a')] })), [
      'a',
      'a',
      'a',
    ]);
  });

  test('unpacked repeated fields (as proto2 writers send them) read the same as packed ones', () => {
    const writer = protobuf.Writer.create();
    writer.uint32((1 << 3) | 0).uint32(1);
    writer
      .uint32((2 << 3) | 2)
      .fork()
      .uint32((2 << 3) | 2)
      .fork()
      .uint32(8)
      .int64(3)
      .ldelim()
      .ldelim();
    for (const v of [0.5, 1.5]) writer.uint32((5 << 3) | 5).float(v);
    const floats = decodeTensorProto(readTensorProto(writer.finish()), 'x');
    assert.deepEqual(floats.toNumbers(), [0.5, 1.5, 1.5]);
    const ints = protobuf.Writer.create();
    ints.uint32((1 << 3) | 0).uint32(3);
    ints
      .uint32((2 << 3) | 2)
      .fork()
      .uint32((2 << 3) | 2)
      .fork()
      .uint32(8)
      .int64(2)
      .ldelim()
      .ldelim();
    ints.uint32((7 << 3) | 0).int32(-7);
    ints.uint32((7 << 3) | 0).int32(9);
    assert.deepEqual(decodeTensorProto(readTensorProto(ints.finish()), 'x').toNumbers(), [-7, 9]);
  });

  test('tensor_content is read as raw little-endian bytes', () => {
    const values = new Float32Array([1, -2, 3.25]);
    const t = decodeWire({ dtype: 1, tensor_shape: shape(3), tensor_content: Buffer.from(values.buffer) });
    assert.deepEqual(t.toNumbers(), [1, -2, 3.25]);
  });

  test('malformed bytes are INVALID_ARGUMENT, not a crash', () => {
    const truncated = encodeReference({ dtype: 1, tensor_shape: shape(2), float_val: [1, 2] }).slice(0, -3);
    assert.throws(() => decodeTensorProto(readTensorProto(truncated), 'x'), /malformed protobuf/);
    const badPacked = protobuf.Writer.create();
    badPacked.uint32((1 << 3) | 0).uint32(1);
    badPacked.uint32((5 << 3) | 2).bytes(new Uint8Array(5));
    assert.throws(() => decodeTensorProto(readTensorProto(badPacked.finish()), 'x'), /packed float32 field of 5 bytes/);
    assert.throws(() => readTensorProto(new Uint8Array([0x0b])), /wire type 3/);
  });

  test('a shape of a million dimensions is refused without building a million dims', () => {
    const writer = protobuf.Writer.create();
    writer.uint32((1 << 3) | 0).uint32(1);
    writer.uint32((2 << 3) | 2).fork();
    for (let i = 0; i < 1_000_000; i++)
      writer
        .uint32((2 << 3) | 2)
        .fork()
        .uint32(8)
        .int64(1)
        .ldelim();
    writer.ldelim();
    const proto = readTensorProto(writer.finish());
    assert.equal(proto.tensor_shape?.dim?.length, 1_000_000);
    assert.throws(() => decodeTensorProto(proto, 'x'), /rank 1000000 exceeds the maximum rank 254/);
  });
});

describe('TensorProto written from a tensor', () => {
  const cases: HostTensor[] = [
    HostTensor.from('float32', [
      [1.5, -2],
      [3, 4],
    ]),
    new HostTensor('float64', [2], new Float64Array([0.1, -1e300])),
    new HostTensor('int32', [3], new Int32Array([-1, 0, 2147483647])),
    new HostTensor('int64', [2], new BigInt64Array([-9223372036854775808n, 42n])),
    new HostTensor('bool', [2], new Uint8Array([1, 0])),
    new HostTensor('uint8', [2], new Uint8Array([0, 255])),
    HostTensor.from('string', ['héllo', '']),
    // Lengths past one varint byte, and an empty string tensor.
    HostTensor.from('string', ['x'.repeat(200), 'y'.repeat(70_000), 'z']),
    new HostTensor('string', [0], []),
    new HostTensor('float32', [0, 3], new Float32Array(0)),
    // Found by the ONNX conformance run (Max/Min/Mod/BitShift on uint64): the typed fields of these failed the
    // whole response with "Error serializing response".
    new HostTensor('uint64', [3], new BigUint64Array([0n, 2n ** 63n + 1n, 2n ** 64n - 1n])),
    new HostTensor('uint32', [2], new Uint32Array([1, 4294967295])),
    new HostTensor('int8', [2], new Int8Array([-128, 127])),
    new HostTensor('int16', [2], new Int16Array([-32768, 32767])),
    new HostTensor('uint16', [2], new Uint16Array([0, 65535])),
    new HostTensor('float16', [2], new Uint16Array([0x3c00, 0xfbff])),
  ];

  for (const tensor of cases) {
    for (const tensorContent of [false, true]) {
      test(`${tensor.dtype} [${tensor.shape.join(',')}]${tensorContent ? ' as tensor_content' : ''}: protobufjs reads it back`, () => {
        const writer = protobuf.Writer.create();
        let bytes: Uint8Array;
        if (tensor.dtype === 'string') {
          // Strings have an encoder of their own (one buffer, no writer operation per string).
          assert.throws(() => writeTensorProto(writer, tensor, tensorContent), /encodeStringTensorProto/);
          bytes = encodeStringTensorProto(tensor);
        } else {
          writeTensorProto(writer, tensor, tensorContent);
          bytes = writer.finish();
        }
        const type = tensorType();
        const generic = type.toObject(type.decode(bytes), { longs: String, arrays: true }) as Record<string, unknown>;
        const back = decodeTensorProto(generic, 'y');
        assert.deepEqual(back.shape, tensor.shape);
        assert.equal(back.dtype, tensor.dtype);
        // String elements compare as bytes (protobufjs reads them as Buffers).
        const values = (t: HostTensor) =>
          Array.from(t.data as ArrayLike<unknown>, (v) =>
            v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
          );
        assert.deepEqual(values(back), values(tensor));
      });
    }
  }
});

describe('Predict request and response bytes', () => {
  test('a PredictRequest reads as the generic decoder reads it', () => {
    const type = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
    const bytes = type
      .encode(
        type.fromObject({
          model_spec: { name: 'm', version: { value: '7' }, signature_name: 's' },
          inputs: {
            a: { dtype: 1, tensor_shape: shape(2), float_val: [1, 2] },
            b: { dtype: 7, tensor_shape: shape(1), string_val: [Buffer.from('z')] },
          },
          output_filter: ['y', 'z'],
        }),
      )
      .finish();
    const request = decodePredictRequest(Buffer.from(bytes));
    assert.equal(request.model_spec?.name, 'm');
    assert.equal(request.model_spec?.version?.value, '7');
    assert.equal(request.model_spec?.signature_name, 's');
    assert.deepEqual(request.output_filter, ['y', 'z']);
    assert.deepEqual(decodeTensorProto(request.inputs.a as never, 'a').toNumbers(), [1, 2]);
    assert.deepEqual(textArray(decodeTensorProto(request.inputs.b as never, 'b')), ['z']);
  });

  test('a PredictResponse written from tensors reads back with protobufjs', () => {
    const bytes = encodePredictResponse({
      outputs: { y: HostTensor.from('float32', [[0.25, 0.75]]) },
      model_spec: { name: 'm', version: { value: '3' }, signature_name: 'serving_default' },
      tensorContent: false,
    });
    const type = protobufRoot().lookupType('tensorflow.serving.PredictResponse');
    const response = type.toObject(type.decode(bytes), { longs: String }) as {
      outputs: Record<string, { float_val: number[]; tensor_shape: { dim: { size: string }[] } }>;
      model_spec: { name: string; version: { value: string } };
    };
    assert.deepEqual(response.outputs.y?.float_val, [0.25, 0.75]);
    assert.deepEqual(
      response.outputs.y?.tensor_shape.dim.map((d) => d.size),
      ['1', '2'],
    );
    assert.equal(response.model_spec.version.value, '3');
  });
});
