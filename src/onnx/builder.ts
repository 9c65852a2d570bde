import onnxProto from 'onnx-proto';
import { dtypeInfo, fromValues, type DType, type TypedArray } from '../graph/dtype.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { keepChannelsFirst } from './channels-first.js';
import { foldOutputIdentities } from './output-identities.js';

const { onnx } = onnxProto;

/** The project's one ONNX opset (spec/placement-and-lowering.md §0.2): 17, with IR version 8. */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/**
 * Attribute values: integers and integer arrays are INT/INTS, strings STRING, string arrays STRINGS,
 * `{ f }` / `{ floats }` floats, `{ tensor }` a TENSOR attribute.
 */
export type AttrValue =
  | number
  | readonly number[]
  | string
  | readonly string[]
  | { f: number }
  | { floats: readonly number[] }
  | { tensor: HostTensor };

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** null or a string for symbolic dims. */
  shape: readonly (number | null | string)[] | undefined;
}

/** External-data placement of one initializer (set by the exporter). */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

/**
 * Builds one ONNX ModelProto. The only module that knows protobuf field details; everything else adds nodes,
 * inputs, outputs and constants by name.
 */
export class OnnxGraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private counter = 0;

  constructor(private readonly graphName = 'flowserve') {}

  /** A fresh value name, unique within this model. */
  temp(hint = 't'): string {
    return `${hint}__${this.counter++}`;
  }

  /** Adds a node; returns its output names (fresh temporaries when `outputs` is a count). */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue | undefined> = {},
    outputs: readonly string[] | number = 1,
  ): string[] {
    const outNames =
      typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.temp(opType)) : [...outputs];
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: [...inputs],
        output: outNames,
        name: `${opType}_${this.nodes.length}`,
        attribute: Object.entries(attrs)
          .filter(([, v]) => v !== undefined)
          .map(([name, v]) => encodeAttribute(name, v as AttrValue)),
      }),
    );
    return outNames;
  }

  /** Convenience for single-output nodes. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue | undefined> = {},
    output?: string,
  ): string {
    return this.node(opType, inputs, attrs, output === undefined ? 1 : [output])[0] as string;
  }

  /** Adds a constant as an initializer and returns its name. */
  constant(tensor: HostTensor, hint = 'const'): string {
    const name = this.temp(hint);
    this.initializers.push(encodeTensor(name, tensor));
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, starts/ends). */
  int64s(values: readonly number[], hint = 'i64'): string {
    const name = this.temp(hint);
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: 7,
        dims: [values.length],
        rawData: rawBytes(new BigInt64Array(values.map((v) => BigInt(v)))),
      }),
    );
    return name;
  }

  /** A scalar constant of any numeric dtype. */
  scalar(value: number, dtype: DType, hint = 'scalar'): string {
    const name = this.temp(hint);
    const info = dtypeInfo(dtype);
    if (dtype === 'string') throw new TypeError(`scalar '${hint}': a string is not a numeric constant`);
    const bytes = rawBytes(fromValues(dtype, [value]) as TypedArray);
    this.initializers.push(onnx.TensorProto.create({ name, dataType: info.onnx, dims: [], rawData: bytes }));
    return name;
  }

  /** Adds a named initializer whose bytes live in an external file (the exporter's weights). */
  externalInitializer(name: string, dtype: DType, dims: readonly number[], where: ExternalLocation): void {
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: dtypeInfo(dtype).onnx,
        dims: [...dims],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: where.location },
          { key: 'offset', value: String(where.offset) },
          { key: 'length', value: String(where.length) },
        ],
      }),
    );
  }

  /** Adds a named initializer holding `tensor` inline. */
  namedConstant(name: string, tensor: HostTensor): void {
    this.initializers.push(encodeTensor(name, tensor));
  }

  input(info: ValueInfo): void {
    this.inputs.push(info);
  }

  output(info: ValueInfo): void {
    this.outputs.push(info);
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /**
   * Serialises the model (opset 17, IR 8) with optional metadata_props. `channelsFirst` keeps activations NCHW
   * between convolutions (channels-first.ts).
   */
  build(metadata: Record<string, string> = {}, options: { channelsFirst?: boolean } = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: 'flowserve',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: onnx.GraphProto.create({
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(encodeValueInfo),
        output: this.outputs.map(encodeValueInfo),
      }),
    });
    if (options.channelsFirst) keepChannelsFirst(model.graph as InstanceType<typeof onnx.GraphProto>);
    foldOutputIdentities(model.graph as InstanceType<typeof onnx.GraphProto>);
    return onnx.ModelProto.encode(model).finish();
  }
}

function rawBytes(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
}

export function encodeTensor(name: string, tensor: HostTensor): InstanceType<typeof onnx.TensorProto> {
  const dataType = dtypeInfo(tensor.dtype).onnx;
  if (tensor.dtype === 'string') {
    return onnx.TensorProto.create({
      name,
      dataType,
      dims: [...tensor.shape],
      // ONNX's string_data is `bytes`: the elements as they are.
      stringData: [...(tensor.data as Uint8Array[])],
    });
  }
  return onnx.TensorProto.create({
    name,
    dataType,
    dims: [...tensor.shape],
    rawData: rawBytes(tensor.data as ArrayBufferView),
  });
}

function encodeValueInfo(info: ValueInfo): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name: info.name,
    type: {
      tensorType: {
        elemType: dtypeInfo(info.dtype).onnx,
        ...(info.shape
          ? {
              shape: {
                dim: info.shape.map((d) =>
                  d === null ? {} : typeof d === 'string' ? { dimParam: d } : { dimValue: d },
                ),
              },
            }
          : {}),
      },
    },
  });
}

function encodeAttribute(name: string, v: AttrValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: Buffer.from(v) });
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) {
      return onnx.AttributeProto.create({ name, type: T.STRINGS, strings: (v as string[]).map((s) => Buffer.from(s)) });
    }
    return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...(v as number[])] });
  }
  if ('f' in (v as object)) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: (v as { f: number }).f });
  if ('floats' in (v as object)) {
    return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...(v as { floats: number[] }).floats] });
  }
  return onnx.AttributeProto.create({
    name,
    type: T.TENSOR,
    t: encodeTensor(name, (v as { tensor: HostTensor }).tensor),
  });
}
