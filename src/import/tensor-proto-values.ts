/**
 * The values of a serialized TensorProto (tensor.proto), read into a flowserve tensor's storage: from
 * `tensor_content` (4, little-endian bytes) when present, else from the typed field of the dtype: float_val 5,
 * double_val 6, int_val 7 (int32, int16, int8, uint8, uint16), string_val 8, int64_val 10, bool_val 11, half_val 13
 * (float16 bit patterns), uint32_val 16, uint64_val 17, packed or not.
 * As TensorFlow's Tensor::FromProto, fewer values than elements repeat the last one; none means zeros.
 */
import type { DType, TensorData } from '../graph/dtype.js';
import { allocate, dtypeInfo } from '../graph/dtype.js';
import { MalformedProto, readFields, WIRE } from './checkpoint-protos.js';
import { typedArrayFromLittleEndian } from './little-endian-tensor.js';
import type protobuf from 'protobufjs';
import { TENSOR_PROTO_VALUE_FIELD } from '../graph/tensor-proto-fields.js';

/** `count` elements of `dtype` from the TensorProto bytes; MalformedProto when they do not fit. */
export function tensorProtoValues(bytes: Uint8Array, dtype: DType, count: number, what: string): TensorData {
  let content: Uint8Array | undefined;
  const values: (number | bigint | Uint8Array)[] = [];
  const valueField = TENSOR_PROTO_VALUE_FIELD[dtype].number;
  const readOne = scalarReader(dtype, what);
  readFields(bytes, what, {
    4: (reader, wireType) => {
      if (wireType !== WIRE.BYTES) throw new MalformedProto(`${what}: tensor_content has wire type ${wireType}`);
      content = reader.bytes();
    },
    [valueField]: (reader, wireType) => {
      if (wireType === WIRE.BYTES && dtype !== 'string') {
        const end = reader.uint32() + reader.pos;
        if (end > reader.len) throw new MalformedProto(`${what}: packed values run past the message`);
        while (reader.pos < end) values.push(readOne(reader));
        if (reader.pos !== end) throw new MalformedProto(`${what}: packed values overrun their length`);
      } else {
        values.push(readOne(reader, wireType));
      }
      if (values.length > count) throw new MalformedProto(`${what}: more than ${count} values`);
    },
  });
  if (content !== undefined && dtype !== 'string') {
    const expected = count * dtypeInfo(dtype).bytesPerElement;
    if (content.length !== expected) {
      throw new MalformedProto(
        `${what}: tensor_content has ${content.length} bytes, ${count} elements need ${expected}`,
      );
    }
    // A private, aligned copy: `content` is a view into a table block that is reused.
    return typedArrayFromLittleEndian(dtype as Exclude<DType, 'string'>, new Uint8Array(content));
  }
  const out = allocate(dtype, count);
  const last = values[values.length - 1];
  for (let i = 0; i < count && last !== undefined; i++) {
    (out as unknown as (number | bigint | Uint8Array)[])[i] = values[i] ?? last;
  }
  return out;
}

type ScalarReader = (reader: protobuf.Reader, wireType?: number) => number | bigint | Uint8Array;

function scalarReader(dtype: DType, what: string): ScalarReader {
  const expect = (wireType: number | undefined, expected: number) => {
    if (wireType !== undefined && wireType !== expected) {
      throw new MalformedProto(`${what}: ${dtype} value with wire type ${wireType}`);
    }
  };
  switch (dtype) {
    case 'float32':
      return (r, w) => (expect(w, WIRE.FIXED32), r.float());
    case 'float64':
      return (r, w) => (expect(w, WIRE.FIXED64), r.double());
    case 'int32':
      return (r, w) => (expect(w, WIRE.VARINT), r.int32());
    case 'uint8':
      return (r, w) => (expect(w, WIRE.VARINT), r.int32() & 0xff);
    case 'bool':
      return (r, w) => (expect(w, WIRE.VARINT), r.bool() ? 1 : 0);
    case 'int64':
      return (r, w) => (expect(w, WIRE.VARINT), BigInt.asIntN(64, BigInt(String(r.int64()))));
    case 'string':
      // A private copy of the bytes: the reader's view points into a table block that is reused.
      return (r, w) => (expect(w, WIRE.BYTES), new Uint8Array(r.bytes()));
    case 'int8':
      return (r, w) => (expect(w, WIRE.VARINT), (r.int32() << 24) >> 24);
    case 'int16':
      return (r, w) => (expect(w, WIRE.VARINT), (r.int32() << 16) >> 16);
    case 'uint16':
    case 'float16':
      return (r, w) => (expect(w, WIRE.VARINT), r.int32() & 0xffff);
    case 'uint32':
      return (r, w) => (expect(w, WIRE.VARINT), r.uint32());
    case 'uint64':
      return (r, w) => (expect(w, WIRE.VARINT), BigInt.asUintN(64, BigInt(String(r.uint64()))));
  }
}
