/**
 * Reads a serialized `onnx.TensorProto` (the golden inputs and outputs of ONNX's backend test data,
 * `test_data_set_N/input_M.pb`) into a HostTensor. Values come from `raw_data` (little-endian) or from the typed
 * fields onnx.proto assigns to each element type: int32_data carries bool, int8/16, uint8/16 and float16's bit
 * patterns; uint64_data carries uint32 and uint64.
 */
import onnxProto from 'onnx-proto';
import { InvalidArgument } from '../errors.js';
import { dtypeFromOnnx, dtypeInfo, allocate, type DType, type TypedArray } from '../graph/dtype.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { stringTensorFromBytes } from '../graph/string-bytes.js';
import { typedArrayFromLittleEndian } from '../import/little-endian-tensor.js';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType names (onnx.proto), for messages about types flowserve has no dtype for. */
const ONNX_ELEMENT_TYPE_NAMES: readonly string[] = [
  'undefined',
  'float',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'double',
  'uint32',
  'uint64',
  'complex64',
  'complex128',
  'bfloat16',
];

/** `float` for 1, `bfloat16` for 16, `DataType(n)` past the table (as ONNX's own type strings name them). */
export function onnxElementTypeName(code: number): string {
  return ONNX_ELEMENT_TYPE_NAMES[code] ?? `DataType(${code})`;
}

export interface NamedTensor {
  name: string;
  tensor: HostTensor;
}

type Long = number | { toNumber(): number; toString(): string };

function toBigInt(value: Long): bigint {
  return typeof value === 'number' ? BigInt(value) : BigInt(value.toString());
}

function toNumber(value: Long): number {
  return typeof value === 'number' ? value : value.toNumber();
}

/** Decodes one serialized TensorProto; `where` names it in errors (a file path). */
export function decodeOnnxTensor(bytes: Uint8Array, where: string): NamedTensor {
  let proto: InstanceType<typeof onnx.TensorProto>;
  try {
    proto = onnx.TensorProto.decode(bytes);
  } catch (err) {
    throw new InvalidArgument(`${where}: not a serialized onnx.TensorProto: ${(err as Error).message}`);
  }
  return onnxTensorOfProto(proto, where);
}

/** A decoded TensorProto (a model's initializer, a Constant's value) whose values it holds itself, as a HostTensor. */
export function onnxTensorOfProto(proto: InstanceType<typeof onnx.TensorProto>, where: string): NamedTensor {
  const dtype = dtypeFromOnnx(proto.dataType);
  if (!dtype) {
    throw new InvalidArgument(
      `${where}: tensor '${proto.name}' has element type ${onnxElementTypeName(proto.dataType)}, which flowserve has no dtype for`,
    );
  }
  if (proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new InvalidArgument(`${where}: tensor '${proto.name}' keeps its data in an external file`);
  }
  const shape = proto.dims.map(toNumber);
  const size = shapeSize(shape);
  const tensor = dtype === 'string' ? stringTensor(proto, shape, where) : numericTensor(proto, dtype, shape, where);
  if (tensor.size !== size) {
    throw new InvalidArgument(
      `${where}: tensor '${proto.name}' has ${tensor.size} elements, its dims [${shape}] need ${size}`,
    );
  }
  return { name: proto.name, tensor };
}

function stringTensor(proto: InstanceType<typeof onnx.TensorProto>, shape: number[], where: string): HostTensor {
  if (proto.stringData.length !== shapeSize(shape)) {
    throw new InvalidArgument(
      `${where}: string tensor '${proto.name}' has ${proto.stringData.length} elements, its dims [${shape}] need ${shapeSize(shape)}`,
    );
  }
  return stringTensorFromBytes(shape, proto.stringData);
}

function numericTensor(
  proto: InstanceType<typeof onnx.TensorProto>,
  dtype: Exclude<DType, 'string'>,
  shape: number[],
  where: string,
): HostTensor {
  const size = shapeSize(shape);
  if (proto.rawData && proto.rawData.length > 0) {
    const width = dtypeInfo(dtype).bytesPerElement;
    if (proto.rawData.length !== size * width) {
      throw new InvalidArgument(
        `${where}: tensor '${proto.name}' has ${proto.rawData.length} bytes of raw_data, its dims [${shape}] of ${dtype} need ${size * width}`,
      );
    }
    // A copy that owns its buffer: the decoded message's bytes are a view into the whole file.
    return new HostTensor(dtype, shape, typedArrayFromLittleEndian(dtype, proto.rawData.slice()));
  }
  const values = typedValues(proto, dtype);
  const out = allocate(dtype, values.length) as TypedArray;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Long;
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[i] = toBigInt(v);
    else out[i] = toNumber(v);
  }
  return new HostTensor(dtype, shape, out);
}

/** The typed field onnx.proto stores `dtype`'s values in when raw_data is empty. */
function typedValues(proto: InstanceType<typeof onnx.TensorProto>, dtype: Exclude<DType, 'string'>): Long[] {
  switch (dtype) {
    case 'float32':
      return proto.floatData;
    case 'float64':
      return proto.doubleData;
    case 'int64':
      return proto.int64Data;
    case 'uint32':
    case 'uint64':
      return proto.uint64Data;
    default:
      // int32, int16, int8, uint16, uint8, bool, float16 (its bit patterns).
      return proto.int32Data;
  }
}
