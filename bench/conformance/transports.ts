/**
 * How the conformance harness talks to a started server: the Open Inference Protocol's two byte-exact paths, REST
 * with the binary tensor data extension and gRPC ModelInfer with raw contents (spec/open-inference-protocol.md §5,
 * §7.3), written here from the spec rather than with flowserve's own client, so that a bug shared by the server
 * and its client cannot hide. Inputs go by graph input name (the derived signature's aliases); every output comes
 * back by name; a server error rejects with its text.
 */
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import type { DType, TypedArray } from '../../src/graph/dtype.js';
import { HostTensor, shapeSize } from '../../src/graph/host-tensor.js';
import { stringTensorBytes, stringTensorFromBytes } from '../../src/graph/string-bytes.js';
import { typedArrayFromLittleEndian } from '../../src/import/little-endian-tensor.js';
import type { NamedTensor } from '../../src/onnx/tensor-proto.js';
import { loadServicePackageDefinition } from '../../src/serving/apis/shared/protos.js';
import { dtypeOfV2, v2DatatypeOf } from '../../src/serving/apis/v2/datatypes.js';

export interface Transport {
  readonly name: string;
  infer(model: string, inputs: readonly NamedTensor[]): Promise<Record<string, HostTensor>>;
  close(): void;
}

export interface ServerPorts {
  grpcPort: number;
  restPort: number;
}

export type TransportFactory = (ports: ServerPorts) => Transport;

/** A tensor's bytes as the binary extension and raw contents carry them: little-endian; BYTES length-prefixed. */
export function tensorBytes(tensor: HostTensor): Buffer {
  if (tensor.dtype === 'string') {
    return Buffer.concat(
      stringTensorBytes(tensor).flatMap((element) => {
        const length = Buffer.alloc(4);
        length.writeUInt32LE(element.length);
        return [length, Buffer.from(element)];
      }),
    );
  }
  const typed = tensor.data as TypedArray;
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** The inverse of tensorBytes for a tensor of `dtype` and `shape`. */
export function tensorFromBytes(dtype: DType, shape: readonly number[], bytes: Uint8Array, where: string): HostTensor {
  if (dtype !== 'string') return new HostTensor(dtype, shape, typedArrayFromLittleEndian(dtype, bytes.slice()));
  const elements: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new Error(`${where}: BYTES element ${elements.length} has a cut length prefix`);
    const length = Buffer.from(bytes.buffer, bytes.byteOffset + at, 4).readUInt32LE();
    elements.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (elements.length !== shapeSize(shape)) {
    throw new Error(`${where}: ${elements.length} BYTES elements for shape [${shape}]`);
  }
  return stringTensorFromBytes(shape, elements);
}

interface V2OutputHeader {
  name: string;
  datatype: string;
  shape: (number | string)[];
  parameters?: { binary_data_size?: number };
}

/** POST /v2/models/{m}/infer with every input binary and `binary_data_output`: the Triton HTTP client's way. */
export const restBinary: TransportFactory = ({ restPort }) => ({
  name: 'REST binary',
  async infer(model, inputs) {
    const blobs = inputs.map((t) => tensorBytes(t.tensor));
    const header = Buffer.from(
      JSON.stringify({
        inputs: inputs.map((t, i) => ({
          name: t.name,
          shape: t.tensor.shape,
          datatype: v2DatatypeOf(t.tensor.dtype),
          parameters: { binary_data_size: blobs[i]?.length },
        })),
        parameters: { binary_data_output: true },
      }),
    );
    const response = await fetch(`http://127.0.0.1:${restPort}/v2/models/${encodeURIComponent(model)}/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, ...blobs]),
    });
    const body = Buffer.from(await response.arrayBuffer());
    const jsonLength = Number(response.headers.get('inference-header-content-length') ?? body.length);
    const json = JSON.parse(body.subarray(0, jsonLength).toString('utf8')) as {
      error?: string;
      outputs?: (V2OutputHeader & { data?: unknown[] })[];
    };
    if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
    const outputs: Record<string, HostTensor> = {};
    let at = jsonLength;
    for (const output of json.outputs ?? []) {
      const size = output.parameters?.binary_data_size;
      if (size === undefined) throw new Error(`output '${output.name}' came back as JSON, not binary`);
      const shape = output.shape.map(Number);
      const dtype = dtypeOfV2(output.datatype, output.name);
      outputs[output.name] = tensorFromBytes(dtype, shape, body.subarray(at, at + size), output.name);
      at += size;
    }
    return outputs;
  },
  close: () => undefined,
});

type AnyMethod = {
  path: string;
  requestSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => object;
};

interface ModelInferResponse {
  outputs?: V2OutputHeader[];
  raw_output_contents?: Buffer[];
}

/** inference.GRPCInferenceService/ModelInfer with raw_input_contents: the Triton gRPC client's way. */
export const grpcRaw: TransportFactory = ({ grpcPort }) => {
  const client = new Client(`127.0.0.1:${grpcPort}`, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  const service = loadServicePackageDefinition()['inference.GRPCInferenceService'] as unknown as Record<
    string,
    AnyMethod
  >;
  const method = service.ModelInfer as AnyMethod;
  return {
    name: 'gRPC raw',
    async infer(model, inputs) {
      const request = {
        model_name: model,
        inputs: inputs.map((t) => ({ name: t.name, datatype: v2DatatypeOf(t.tensor.dtype), shape: t.tensor.shape })),
        raw_input_contents: inputs.map((t) => tensorBytes(t.tensor)),
      };
      const response = await new Promise<ModelInferResponse>((resolve, reject) => {
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          (err: ServiceError | null, value?: object) => {
            if (err) reject(new Error(err.details));
            else resolve(value as ModelInferResponse);
          },
        );
      });
      const raw = response.raw_output_contents ?? [];
      const outputs: Record<string, HostTensor> = {};
      for (const [i, output] of (response.outputs ?? []).entries()) {
        const bytes = raw[i];
        if (!bytes) throw new Error(`output '${output.name}' has no raw_output_contents`);
        const dtype = dtypeOfV2(output.datatype, output.name);
        outputs[output.name] = tensorFromBytes(dtype, output.shape.map(Number), bytes, output.name);
      }
      return outputs;
    },
    close: () => client.close(),
  };
};

export const V2_TRANSPORTS: readonly TransportFactory[] = [restBinary, grpcRaw];
