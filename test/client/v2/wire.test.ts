/**
 * The v2 client's wire encodings, checked against byte layouts written out here from the spec
 * (open-inference-protocol.md §4 datatypes, §5 binary tensor data extension, §7.3 gRPC raw contents).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { float16Bits } from '../../../src/graph/dtype.js';
import { stringTensorBytes } from '../../../src/graph/string-bytes.js';
import { ServingClientError } from '../../../src/client/types.js';
import { decodeGrpcInfer, encodeGrpcInfer, inferParameterMsg } from '../../../src/client/v2/grpc.js';
import { inferParameters } from '../../../src/client/v2/messages.js';
import { decodeRestInfer, encodeRestInfer, v2ModelPath } from '../../../src/client/v2/rest.js';
import { v2DatatypeOf } from '../../../src/serving/apis/v2/datatypes.js';
import { jsonData, stringifyWithIntegers, tensorBytes, tensorFromBytes } from '../../../src/client/v2/tensors.js';
import { FlowserveError } from '../../../src/errors.js';
import { hexElements } from '../../helpers/text-elements.js';

/** Little-endian bytes written with DataView, independently of the code under test. */
function le(width: number, values: readonly (number | bigint)[], write: (v: DataView, at: number, x: never) => void) {
  const view = new DataView(new ArrayBuffer(width * values.length));
  values.forEach((x, i) => write(view, i * width, x as never));
  return [...new Uint8Array(view.buffer)];
}

describe('v2 raw tensor bytes', () => {
  it('FP32, INT64, UINT16, FP64 are little-endian, row-major, native width', () => {
    const fp32 = HostTensor.from('float32', [1.5, -2, 3.25], [3]);
    assert.deepEqual(
      [...tensorBytes(fp32)],
      le(4, [1.5, -2, 3.25], (v, at, x) => v.setFloat32(at, x, true)),
    );
    const big = 2n ** 60n + 1n;
    const int64 = HostTensor.from('int64', [big, -3n], [2]);
    assert.deepEqual(
      [...tensorBytes(int64)],
      le(8, [big, -3n], (v, at, x) => v.setBigInt64(at, x, true)),
    );
    const uint16 = HostTensor.from('uint16', [65535, 258], [2]);
    assert.deepEqual([...tensorBytes(uint16)], [0xff, 0xff, 0x02, 0x01]);
    const fp64 = HostTensor.from('float64', [Math.PI], [1]);
    assert.deepEqual(
      [...tensorBytes(fp64)],
      le(8, [Math.PI], (v, at, x) => v.setFloat64(at, x, true)),
    );
  });

  it('BOOL is one byte 0/1 and FP16 its 2-byte bit pattern', () => {
    assert.deepEqual([...tensorBytes(HostTensor.from('bool', [true, false, true], [3]))], [1, 0, 1]);
    // 1.0 in binary16 is 0x3c00; -2.0 is 0xc000.
    const half = HostTensor.from('float16', [1, -2], [2]);
    assert.deepEqual([...tensorBytes(half)], [0x00, 0x3c, 0x00, 0xc0]);
  });

  it('BYTES elements are each a 4-byte little-endian length and the bytes', () => {
    const t = HostTensor.from('string', ['ab', '', 'é'], [3]);
    assert.deepEqual([...tensorBytes(t)], [2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
  });

  it('every datatype round-trips through bytes with its shape', () => {
    const cases: HostTensor[] = [
      HostTensor.from('float32', [
        [1, 2, 3],
        [4, 5, 6],
      ]),
      HostTensor.from('float64', [1e300, -0.5], [2]),
      HostTensor.from('int8', [-128, 127], [2]),
      HostTensor.from('int16', [-32768, 1], [2]),
      HostTensor.from('int32', [-(2 ** 31), 7], [2]),
      HostTensor.from('int64', [-(2n ** 63n), 9n], [2]),
      HostTensor.from('uint8', [0, 255], [2]),
      HostTensor.from('uint16', [0, 65535], [2]),
      HostTensor.from('uint32', [0, 2 ** 32 - 1], [2]),
      new HostTensor('uint64', [1], BigUint64Array.from([2n ** 64n - 1n])),
      HostTensor.from('bool', [true, false], [1, 2]),
      new HostTensor('float16', [2], Uint16Array.from([float16Bits(0.5), float16Bits(-65504)])),
      HostTensor.from('string', ['x', 'yz', ''], [3, 1]),
    ];
    for (const t of cases) {
      const back = tensorFromBytes(v2DatatypeOf(t.dtype), t.shape, tensorBytes(t), 'y');
      assert.equal(back.dtype, t.dtype);
      assert.deepEqual(back.shape, t.shape);
      if (t.dtype === 'string') assert.deepEqual(hexElements(back), hexElements(t));
      else assert.deepEqual(Array.from(back.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>));
    }
  });

  it('a byte count that does not fit the shape is refused naming the output, expected vs actual', () => {
    assert.throws(
      () => tensorFromBytes('FP32', [2, 2], new Uint8Array(12), 'scores'),
      /output scores: FP32 \[2,2\] needs 16 bytes, got 12/,
    );
    assert.throws(
      () => tensorFromBytes('BYTES', [1], Uint8Array.from([5, 0, 0, 0, 1]), 's'),
      /declares 5 bytes, 1 remain/,
    );
    assert.throws(() => tensorFromBytes('BYTES', [2], Uint8Array.from([0, 0, 0, 0]), 's'), /needs 2 elements, got 1/);
    assert.throws(() => tensorFromBytes('BYTES', [1], Uint8Array.from([0, 0]), 's'), /BYTES element 0 is cut/);
  });
});

describe('v2 JSON data', () => {
  it('is flat and row-major; BOOL true/false; 64-bit integers as exact digits', () => {
    assert.deepEqual(
      jsonData(
        HostTensor.from('float32', [
          [1, 2],
          [3, 4],
        ]),
        'x',
      ),
      [1, 2, 3, 4],
    );
    assert.deepEqual(jsonData(HostTensor.from('bool', [true, false], [2]), 'x'), [true, false]);
    const text = stringifyWithIntegers({ data: jsonData(HostTensor.from('int64', [2n ** 60n + 1n, -1n], [2]), 'x') });
    assert.equal(text, '{"data":[1152921504606846977,-1]}');
  });

  it('a BYTES element holding a NUL character stays a string', () => {
    const text = stringifyWithIntegers({ data: jsonData(HostTensor.from('string', ['\u00005\u0000'], [1]), 'x') });
    assert.deepEqual(JSON.parse(text), { data: ['\u00005\u0000'] });
  });

  it('FP16 cannot be JSON', () => {
    assert.throws(() => jsonData(HostTensor.from('float16', [1], [1]), 'h'), /input h: FP16 cannot travel as JSON/);
  });
});

describe('v2 REST infer encoding', () => {
  const x = HostTensor.from('float32', [[1, 2, 3, 4]]);

  it('binary: the JSON header, then the tensor bytes; header length in Inference-Header-Content-Length', () => {
    const { body, headers } = encodeRestInfer({ name: 'm', signatureName: 'sig' }, { x }, { binary: true, id: 'r1' });
    const headerLength = Number(headers['inference-header-content-length']);
    assert.equal(headers['content-type'], 'application/octet-stream');
    const header = JSON.parse(Buffer.from(body.subarray(0, headerLength)).toString('utf8')) as unknown;
    assert.deepEqual(header, {
      id: 'r1',
      parameters: { signature_name: 'sig', binary_data_output: true },
      inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }],
    });
    assert.deepEqual(
      [...body.subarray(headerLength)],
      le(4, [1, 2, 3, 4], (v, at, n) => v.setFloat32(at, n, true)),
    );
  });

  it('binary with named outputs asks binary_data per output instead of binary_data_output', () => {
    const { body, headers } = encodeRestInfer({ name: 'm' }, { x }, { binary: true, outputs: ['y'] });
    const header = JSON.parse(
      Buffer.from(body.subarray(0, Number(headers['inference-header-content-length']))).toString('utf8'),
    ) as { parameters?: unknown; outputs: unknown };
    assert.equal(header.parameters, undefined);
    assert.deepEqual(header.outputs, [{ name: 'y', parameters: { binary_data: true } }]);
  });

  it('JSON: data inline, no binary header; FP16 inputs still go binary', () => {
    const plain = encodeRestInfer({ name: 'm' }, { x }, {});
    assert.equal(plain.headers['inference-header-content-length'], undefined);
    assert.deepEqual(JSON.parse(Buffer.from(plain.body).toString('utf8')), {
      inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
    });
    const half = HostTensor.from('float16', [1], [1]);
    const mixed = encodeRestInfer({ name: 'm' }, { x, half }, {});
    const length = Number(mixed.headers['inference-header-content-length']);
    const header = JSON.parse(Buffer.from(mixed.body.subarray(0, length)).toString('utf8')) as {
      inputs: { parameters?: unknown; data?: unknown }[];
    };
    assert.deepEqual(header.inputs[0]?.data, [1, 2, 3, 4]);
    assert.deepEqual(header.inputs[1]?.parameters, { binary_data_size: 2 });
    assert.deepEqual([...mixed.body.subarray(length)], [0x00, 0x3c]);
  });

  it('model paths carry the version when given, names encoded', () => {
    assert.equal(v2ModelPath({ name: 'a b' }), '/v2/models/a%20b');
    assert.equal(v2ModelPath({ name: 'm', version: 3 }), '/v2/models/m/versions/3');
  });

  it('parameters the client owns, and triton_* keys, are refused by name', () => {
    assert.throws(
      () => inferParameters({ name: 'm' }, { parameters: { binary_data_output: true } }),
      /binary_data_output/,
    );
    assert.throws(() => inferParameters({ name: 'm' }, { parameters: { triton_x: 1 } }), /triton_x/);
    assert.deepEqual(inferParameters({ name: 'm', signatureName: 's' }, { parameters: { priority: 1 } }), {
      priority: 1,
      signature_name: 's',
    });
  });
});

describe('v2 REST infer decoding', () => {
  it("reads the spec's example framing: a JSON header, then 24 bytes of a binary FP32 [3,2] output", async () => {
    const values = [1, 2, 3, 4, 5, 6];
    const header = Buffer.from(
      JSON.stringify({
        model_name: 'm',
        model_version: '2',
        id: 'q',
        outputs: [
          { name: 'label', shape: [1], datatype: 'INT64', data: ['DIGITS'] },
          { name: 'output0', shape: [3, 2], datatype: 'FP32', parameters: { binary_data_size: 24 } },
        ],
      }).replace('"DIGITS"', '9007199254740993'),
    );
    const bytes = Buffer.from(le(4, values, (v, at, n) => v.setFloat32(at, n, true)));
    const result = await decodeRestInfer(Buffer.concat([header, bytes]), header.byteLength);
    assert.equal(result.modelName, 'm');
    assert.equal(result.modelVersion, '2');
    assert.equal(result.id, 'q');
    assert.deepEqual(result.outputs.output0?.shape, [3, 2]);
    assert.deepEqual(result.outputs.output0?.toNumbers(), values);
    // JSON numbers are read from their text: 2^53 + 1 stays exact.
    assert.deepEqual([...(result.outputs.label?.data as BigInt64Array)], [2n ** 53n + 1n]);
    assert.deepEqual(
      result.tensors.map((t) => t.datatype),
      ['INT64', 'FP32'],
    );
  });

  it('a negative binary_data_size is refused, not read as a view from the end', async () => {
    const header = Buffer.from(
      JSON.stringify({ outputs: [{ name: 'y', shape: [0], datatype: 'FP32', parameters: { binary_data_size: -4 } }] }),
    );
    await assert.rejects(
      decodeRestInfer(Buffer.concat([header, Buffer.alloc(8)]), header.byteLength),
      /output y: binary_data_size -4 is not a byte count/,
    );
  });

  it('a binary_data_size past the end of the body is an error, not a short tensor', async () => {
    const header = Buffer.from(
      JSON.stringify({ outputs: [{ name: 'y', shape: [4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }),
    );
    await assert.rejects(
      decodeRestInfer(Buffer.concat([header, Buffer.alloc(8)]), header.byteLength),
      /output y: binary_data_size 16 runs past the end of the body/,
    );
  });
});

describe('v2 gRPC infer messages', () => {
  it('inputs go in raw_input_contents, one blob per input in order; parameters as InferParameter', () => {
    const a = HostTensor.from('int32', [1, 2], [2]);
    const b = HostTensor.from('string', ['hi'], [1]);
    const request = encodeGrpcInfer({ name: 'm', version: 4, signatureName: 's' }, { a, b }, { id: 'i' }) as {
      model_version: string;
      inputs: { name: string; datatype: string; shape: string[] }[];
      raw_input_contents: Uint8Array[];
      parameters: Record<string, unknown>;
    };
    assert.equal(request.model_version, '4');
    assert.deepEqual(request.inputs, [
      { name: 'a', datatype: 'INT32', shape: ['2'] },
      { name: 'b', datatype: 'BYTES', shape: ['1'] },
    ]);
    assert.deepEqual([...(request.raw_input_contents[0] as Uint8Array)], [1, 0, 0, 0, 2, 0, 0, 0]);
    assert.deepEqual([...(request.raw_input_contents[1] as Uint8Array)], [2, 0, 0, 0, 0x68, 0x69]);
    assert.deepEqual(request.parameters, { signature_name: { string_param: 's' } });
    assert.deepEqual(inferParameterMsg(3), { int64_param: '3' });
    assert.deepEqual(inferParameterMsg(0.5), { double_param: 0.5 });
    assert.deepEqual(inferParameterMsg(true), { bool_param: true });
  });

  it('outputs are read from raw_output_contents, or from typed contents when the server sends those', () => {
    const raw = decodeGrpcInfer({
      model_name: 'm',
      model_version: '1',
      outputs: [{ name: 'y', datatype: 'FP64', shape: ['2'] }],
      raw_output_contents: [Buffer.from(le(8, [0.25, -1], (v, at, n) => v.setFloat64(at, n, true)))],
    });
    assert.deepEqual(raw.outputs.y?.toNumbers(), [0.25, -1]);
    const typed = decodeGrpcInfer({
      outputs: [
        { name: 'i', datatype: 'INT64', shape: ['1', '2'], contents: { int64_contents: ['9007199254740993', '-2'] } },
        { name: 's', datatype: 'BYTES', shape: ['1'], contents: { bytes_contents: [Buffer.from('ok')] } },
        { name: 'b', datatype: 'BOOL', shape: ['2'], contents: { bool_contents: [true, false] } },
      ],
    });
    assert.deepEqual([...(typed.outputs.i?.data as BigInt64Array)], [2n ** 53n + 1n, -2n]);
    assert.deepEqual(typed.outputs.i?.shape, [1, 2]);
    assert.deepEqual(
      stringTensorBytes(typed.outputs.s as HostTensor).map((e) => Buffer.from(e).toString()),
      ['ok'],
    );
    assert.deepEqual([...(typed.outputs.b?.data as Uint8Array)], [1, 0]);
  });
});

describe('client errors', () => {
  it('are flowserve errors carrying the server message, gRPC code and HTTP status', () => {
    const err = new ServingClientError('model m not found', 5);
    assert.ok(err instanceof FlowserveError);
    assert.equal(err.grpcCode, 5);
    assert.equal(err.httpStatus, 404);
    assert.equal(err.codeName, 'NOT_FOUND');
    assert.equal(new ServingClientError('x', 3, 422).httpStatus, 422);
  });
});
