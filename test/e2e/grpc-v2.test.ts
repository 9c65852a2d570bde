/**
 * inference.GRPCInferenceService (the Open Inference Protocol over gRPC) on the same port as TF Serving's services:
 * every RPC and its errors, raw and typed tensor data for every datatype, the stream, hostile headers refused
 * before allocation, and the same answers as v1 Predict.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { float16Bits, float16Value, type DType } from '../../src/graph/dtype.js';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import type { SignatureFile } from '../../src/serving/core/types.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import {
  referenceScores,
  tempBase,
  writeClassifier,
  writeRowSumModel,
  writeIdentityModel,
} from '../serving/apis/fixtures.js';

const MiB = 1024 * 1024;

/** y = Identity(x) over `dtype`, shape not declared (only the limits bound what a client sends). */
function writeIdentity(base: string, dtype: DType): void {
  writeIdentityModel(base, 1, dtype, []);
}

/** y = Cast(x: float32) to float16: a model whose output has no typed contents field. */
function writeCastToHalf(base: string): void {
  const g = new OnnxGraphBuilder('cast');
  g.input({ name: 'x', dtype: 'float32', shape: ['n'] });
  g.op('Cast', ['x'], { to: 10 }, 'y');
  g.output({ name: 'y', dtype: 'float16', shape: ['n'] });
  const dir = join(base, '1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), g.build());
  const signatures: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: { x: { name: 'x', dtype: 'float32', shape: [-1] } },
        outputs: { y: { name: 'y', dtype: 'float16', shape: [-1] } },
      },
    },
  };
  writeFileSync(join(dir, 'signatures.json'), JSON.stringify(signatures));
}

/** Every datatype flowserve serves, a few values of it, and those values as raw little-endian bytes. */
interface DatatypeCase {
  datatype: string;
  dtype: DType;
  values: (number | bigint | boolean | string)[];
  raw: Buffer;
  /** The InferTensorContents field, and the values as protobufjs takes them; none for FP16. */
  typed?: [string, unknown[]];
}

function rawOf(dtype: DType, values: DatatypeCase['values']): Buffer {
  const width: Partial<Record<DType, number>> = {
    bool: 1,
    int8: 1,
    uint8: 1,
    int16: 2,
    uint16: 2,
    float16: 2,
    int32: 4,
    uint32: 4,
    float32: 4,
    int64: 8,
    uint64: 8,
    float64: 8,
  };
  if (dtype === 'string') {
    return Buffer.concat(
      values.map((v) => {
        const bytes = Buffer.from(String(v), 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return Buffer.concat([length, bytes]);
      }),
    );
  }
  const out = Buffer.alloc(values.length * (width[dtype] as number));
  values.forEach((v, i) => {
    const w = width[dtype] as number;
    switch (dtype) {
      case 'bool':
        return out.writeUInt8(v ? 1 : 0, i);
      case 'int8':
        return out.writeInt8(Number(v), i);
      case 'uint8':
        return out.writeUInt8(Number(v), i);
      case 'int16':
        return out.writeInt16LE(Number(v), i * w);
      case 'uint16':
        return out.writeUInt16LE(Number(v), i * w);
      case 'float16':
        return out.writeUInt16LE(float16Bits(Number(v)), i * w);
      case 'int32':
        return out.writeInt32LE(Number(v), i * w);
      case 'uint32':
        return out.writeUInt32LE(Number(v), i * w);
      case 'float32':
        return out.writeFloatLE(Number(v), i * w);
      case 'float64':
        return out.writeDoubleLE(Number(v), i * w);
      case 'int64':
        return out.writeBigInt64LE(BigInt(v), i * w);
      case 'uint64':
        return out.writeBigUInt64LE(BigInt(v), i * w);
    }
  });
  return out;
}

function datatypeCase(datatype: string, dtype: DType, values: DatatypeCase['values'], field?: string): DatatypeCase {
  const typedValues = values.map((v) =>
    typeof v === 'bigint' ? v.toString() : dtype === 'string' ? Buffer.from(String(v), 'utf8') : v,
  );
  return { datatype, dtype, values, raw: rawOf(dtype, values), ...(field ? { typed: [field, typedValues] } : {}) };
}

const CASES: DatatypeCase[] = [
  datatypeCase('BOOL', 'bool', [true, false, true, true], 'bool_contents'),
  datatypeCase('UINT8', 'uint8', [0, 1, 200, 255], 'uint_contents'),
  datatypeCase('UINT16', 'uint16', [0, 1, 40000, 65535], 'uint_contents'),
  datatypeCase('UINT32', 'uint32', [0, 1, 3_000_000_000, 4294967295], 'uint_contents'),
  datatypeCase('UINT64', 'uint64', [0n, 1n, 2n ** 63n + 5n, 2n ** 64n - 1n], 'uint64_contents'),
  datatypeCase('INT8', 'int8', [-128, -1, 0, 127], 'int_contents'),
  datatypeCase('INT16', 'int16', [-32768, -2, 3, 32767], 'int_contents'),
  datatypeCase('INT32', 'int32', [-2147483648, -7, 9, 2147483647], 'int_contents'),
  datatypeCase('INT64', 'int64', [-(2n ** 63n), -3n, 2n ** 53n + 1n, 2n ** 63n - 1n], 'int64_contents'),
  datatypeCase('FP16', 'float16', [0.5, -2, 65504, 1 / 1024]),
  datatypeCase('FP32', 'float32', [1.5, -2.25, 3e38, -0], 'fp32_contents'),
  datatypeCase('FP64', 'float64', [Math.PI, -1e300, 5e-324, 2], 'fp64_contents'),
  datatypeCase('BYTES', 'string', ['', 'héllo', 'a'.repeat(300), 'x\ty'], 'bytes_contents'),
];

const modelOf = (c: DatatypeCase) => `id_${c.datatype.toLowerCase()}`;

describe('inference.GRPCInferenceService', () => {
  const base = tempBase('flowserve-grpc-v2-');
  let server: RunningServer;
  let client: Client;
  const root = protobufRoot();
  const type = (name: string) => root.lookupType(`inference.${name}`);

  function call<T = Record<string, unknown>>(
    method: string,
    requestType: string,
    responseType: string,
    request: Record<string, unknown>,
    on = client,
  ): Promise<{ err: ServiceError | null; response?: T }> {
    const encode = (value: Record<string, unknown>) => {
      const t = type(requestType);
      return Buffer.from(t.encode(t.fromObject(value)).finish());
    };
    const decode = (bytes: Buffer) =>
      type(responseType).toObject(type(responseType).decode(bytes), {
        longs: String,
        defaults: true,
        arrays: true,
      }) as T;
    return new Promise((resolve) => {
      on.makeUnaryRequest(
        `/inference.GRPCInferenceService/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        encode(request),
        new Metadata(),
        {},
        (err, value) => resolve(err || !value ? { err } : { err: null, response: decode(value as Buffer) }),
      );
    });
  }

  interface InferResponse {
    model_name: string;
    model_version: string;
    id: string;
    outputs: { name: string; datatype: string; shape: string[]; contents?: Record<string, unknown[]> }[];
    raw_output_contents: Buffer[];
  }

  const infer = (request: Record<string, unknown>, on = client) =>
    call<InferResponse>('ModelInfer', 'ModelInferRequest', 'ModelInferResponse', request, on);

  /** Sends already encoded ModelInferRequest bytes (for requests protobufjs would not build). */
  function inferBytes(bytes: Uint8Array): Promise<{ err: ServiceError | null }> {
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelInfer',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        new Metadata(),
        {},
        (err) => resolve({ err }),
      );
    });
  }

  async function refused(request: Record<string, unknown>, code: number, pattern: RegExp): Promise<void> {
    const { err } = await infer(request);
    assert.ok(err, 'expected the request to be refused');
    assert.equal(err.code, code, err.details);
    assert.match(err.details, pattern);
  }

  before(async () => {
    for (const c of CASES) writeIdentity(join(base, modelOf(c)), c.dtype);
    writeClassifier(join(base, 'clf'), 1);
    writeRowSumModel(join(base, 'rowsum'), 1, 1024);
    writeCastToHalf(join(base, 'half'));
    const names = [...CASES.map(modelOf), 'clf', 'rowsum', 'half'];
    const models = names.flatMap((name) => singleModelConfig(name, join(base, name)).models);
    server = await startServer({
      modelConfig: { models },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      log: () => {},
    });
    client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('ServerLive, ServerReady and ServerMetadata answer', async () => {
    const live = await call('ServerLive', 'ServerLiveRequest', 'ServerLiveResponse', {});
    assert.deepEqual(live.response, { live: true });
    const ready = await call('ServerReady', 'ServerReadyRequest', 'ServerReadyResponse', {});
    assert.deepEqual(ready.response, { ready: true });
    const meta = await call<{ name: string; extensions: string[] }>(
      'ServerMetadata',
      'ServerMetadataRequest',
      'ServerMetadataResponse',
      {},
    );
    assert.equal(meta.response?.name, 'flowserve');
    assert.ok(meta.response?.extensions.includes('binary_tensor_data'));
  });

  test('ModelReady: true for a loaded model and version, false for unknown ones', async () => {
    const ready = (name: string, version = '') =>
      call<{ ready: boolean }>('ModelReady', 'ModelReadyRequest', 'ModelReadyResponse', { name, version });
    assert.equal((await ready('clf')).response?.ready, true);
    assert.equal((await ready('clf', '1')).response?.ready, true);
    assert.equal((await ready('clf', '7')).response?.ready, false);
    assert.equal((await ready('nope')).response?.ready, false);
  });

  test('ModelMetadata: the signature as protocol tensors; NOT_FOUND for an unknown model', async () => {
    const { response } = await call<{
      name: string;
      versions: string[];
      platform: string;
      inputs: { name: string; datatype: string; shape: string[] }[];
      outputs: { name: string; datatype: string; shape: string[] }[];
    }>('ModelMetadata', 'ModelMetadataRequest', 'ModelMetadataResponse', { name: 'clf' });
    assert.equal(response?.name, 'clf');
    assert.deepEqual(response?.versions, ['1']);
    assert.deepEqual(response?.inputs, [{ name: 'inputs', datatype: 'FP32', shape: ['-1', '4'] }]);
    assert.deepEqual(response?.outputs, [{ name: 'scores', datatype: 'FP32', shape: ['-1', '3'] }]);
    const missing = await call('ModelMetadata', 'ModelMetadataRequest', 'ModelMetadataResponse', { name: 'nope' });
    assert.equal(missing.err?.code, status.NOT_FOUND, String(missing.err?.details));
  });

  for (const c of CASES) {
    test(`${c.datatype} in raw_input_contents comes back in raw_output_contents, byte for byte`, async () => {
      const { err, response } = await infer({
        model_name: modelOf(c),
        id: `raw-${c.datatype}`,
        inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2] }],
        raw_input_contents: [c.raw],
      });
      assert.equal(err, null, String(err?.details));
      assert.equal(response?.id, `raw-${c.datatype}`);
      assert.equal(response?.model_version, '1');
      assert.deepEqual(
        response?.outputs.map((o) => [o.name, o.datatype, o.shape]),
        [['y', c.datatype, ['2', '2']]],
      );
      assert.equal(response?.outputs[0]?.contents, null);
      assert.deepEqual(response?.raw_output_contents, [c.raw]);
      if (c.dtype === 'float16') {
        const back = [0, 1, 2, 3].map((i) =>
          float16Value((response?.raw_output_contents[0] as Buffer).readUInt16LE(i * 2)),
        );
        assert.deepEqual(back, c.values);
      }
    });

    if (c.typed) {
      const [field, values] = c.typed;
      test(`${c.datatype} in contents.${field} comes back in the same typed field`, async () => {
        const { err, response } = await infer({
          model_name: modelOf(c),
          inputs: [{ name: 'x', datatype: c.datatype, shape: [4], contents: { [field]: values } }],
        });
        assert.equal(err, null, String(err?.details));
        assert.deepEqual(response?.raw_output_contents, []);
        const output = response?.outputs[0];
        assert.equal(output?.datatype, c.datatype);
        assert.deepEqual(output?.shape, ['4']);
        const expected =
          c.dtype === 'float32'
            ? values.map((v) => Math.fround(v as number))
            : c.dtype === 'uint64' || c.dtype === 'int64'
              ? values
              : values;
        assert.deepEqual(output?.contents?.[field], expected);
      });
    }
  }

  test('FP16 has no typed contents field: sent typed it is refused, naming raw_input_contents', async () => {
    await refused(
      {
        model_name: 'id_fp16',
        inputs: [{ name: 'x', datatype: 'FP16', shape: [1], contents: { fp32_contents: [1] } }],
      },
      status.INVALID_ARGUMENT,
      /input 'x': FP16 has no typed contents field; send it in raw_input_contents/,
    );
  });

  test('values in the wrong contents field are refused naming the right one', async () => {
    await refused(
      {
        model_name: 'id_fp32',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2], contents: { int_contents: [1, 2] } }],
      },
      status.INVALID_ARGUMENT,
      /FP32 values go in contents\.fp32_contents, not in contents\.int_contents/,
    );
  });

  test('the softmax classifier answers v2 ModelInfer (raw and typed) as v1 Predict does', async () => {
    const rows = [
      [0.5, -1, 2, 0.25],
      [3, 0, -0.5, 1],
    ];
    const flat = rows.flat();
    const raw = Buffer.alloc(flat.length * 4);
    flat.forEach((v, i) => raw.writeFloatLE(v, i * 4));
    const v2raw = await infer({
      model_name: 'clf',
      inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4] }],
      raw_input_contents: [raw],
    });
    assert.equal(v2raw.err, null, String(v2raw.err?.details));
    const rawScores = Array.from(
      new Float32Array(new Uint8Array(v2raw.response?.raw_output_contents[0] as Buffer).buffer),
    );
    const v2typed = await infer({
      model_name: 'clf',
      model_version: '1',
      parameters: { signature_name: { string_param: 'serving_default' } },
      inputs: [{ name: 'inputs', datatype: 'FP32', shape: [2, 4], contents: { fp32_contents: flat } }],
      outputs: [{ name: 'scores' }],
    });
    assert.equal(v2typed.err, null, String(v2typed.err?.details));
    const typedScores = v2typed.response?.outputs[0]?.contents?.fp32_contents as number[];

    const predictRequest = root.lookupType('tensorflow.serving.PredictRequest');
    const predictResponse = root.lookupType('tensorflow.serving.PredictResponse');
    const v1 = await new Promise<number[]>((resolve, reject) => {
      const bytes = predictRequest
        .encode(
          predictRequest.fromObject({
            model_spec: { name: 'clf' },
            inputs: { inputs: { dtype: 1, tensor_shape: { dim: [{ size: 2 }, { size: 4 }] }, float_val: flat } },
          }),
        )
        .finish();
      client.makeUnaryRequest(
        '/tensorflow.serving.PredictionService/Predict',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        new Metadata(),
        {},
        (err, value) => {
          if (err) return reject(err);
          const decoded = predictResponse.toObject(predictResponse.decode(value as Buffer)) as {
            outputs: { scores: { float_val: number[] } };
          };
          resolve(decoded.outputs.scores.float_val);
        },
      );
    });
    assert.deepEqual(rawScores, v1);
    assert.deepEqual(typedScores, v1);
    const reference = rows.flatMap((x) => referenceScores(x, 1));
    rawScores.forEach((s, i) => assert.ok(Math.abs(s - (reference[i] as number)) < 1e-5, `score ${i}`));
  });

  test('model, version, signature, input and output errors carry the spec statuses', async () => {
    const x = { name: 'inputs', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } };
    await refused({ model_name: 'nope', inputs: [x] }, status.NOT_FOUND, /nope/);
    await refused({ model_name: 'clf', model_version: '9', inputs: [x] }, status.NOT_FOUND, /9/);
    await refused({ model_name: '', inputs: [x] }, status.INVALID_ARGUMENT, /model name is required/);
    await refused(
      { model_name: 'clf', parameters: { signature_name: { string_param: 'other' } }, inputs: [x] },
      status.INVALID_ARGUMENT,
      /signature_name 'other' not found/,
    );
    await refused(
      { model_name: 'clf', inputs: [{ ...x, name: 'z' }] },
      status.INVALID_ARGUMENT,
      /unexpected inference input 'z' for model 'clf'/,
    );
    await refused(
      { model_name: 'clf', inputs: [{ ...x, datatype: 'INT32', contents: { int_contents: [1, 2, 3, 4] } }] },
      status.INVALID_ARGUMENT,
      /data-type is 'INT32', but model 'clf' expects 'FP32'/,
    );
    await refused(
      { model_name: 'clf', inputs: [{ ...x, shape: [1, 5], contents: { fp32_contents: [1, 2, 3, 4, 5] } }] },
      status.INVALID_ARGUMENT,
      /unexpected shape for input 'inputs'/,
    );
    await refused(
      { model_name: 'clf', inputs: [{ ...x, datatype: 'BF16' }] },
      status.INVALID_ARGUMENT,
      /BF16 is not supported/,
    );
    await refused(
      { model_name: 'clf', inputs: [x], outputs: [{ name: 'nope' }] },
      status.INVALID_ARGUMENT,
      /unexpected inference output 'nope'/,
    );
    await refused(
      { model_name: 'clf', inputs: [{ ...x, contents: { fp32_contents: [1, 2, 3] } }] },
      status.INVALID_ARGUMENT,
      /input 'inputs' \(FP32 \[1,4\]\): contents hold 3 elements, expected 4/,
    );
    await refused(
      { model_name: 'clf', inputs: [x], raw_input_contents: [Buffer.alloc(16)] },
      status.INVALID_ARGUMENT,
      /contents must not be given when the request uses raw_input_contents/,
    );
    await refused(
      {
        model_name: 'clf',
        inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4] }],
        raw_input_contents: [Buffer.alloc(16), Buffer.alloc(16)],
      },
      status.INVALID_ARGUMENT,
      /2 raw_input_contents for 1 inputs/,
    );
    await refused(
      { model_name: 'clf', parameters: { triton_x: { bool_param: true } }, inputs: [x] },
      status.INVALID_ARGUMENT,
      /reserved for Triton usage/,
    );
  });

  test('raw bytes shorter or longer than shape × datatype are refused before decoding', async () => {
    const request = (bytes: number) => ({
      model_name: 'id_fp32',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3] }],
      raw_input_contents: [Buffer.alloc(bytes)],
    });
    await refused(request(20), status.INVALID_ARGUMENT, /raw_input_contents\[0\] holds 20 bytes, expected 24/);
    await refused(request(28), status.INVALID_ARGUMENT, /raw_input_contents\[0\] holds 28 bytes, expected 24/);
    await refused(request(23), status.INVALID_ARGUMENT, /holds 23 bytes, expected 24/);
    const bytes = (blob: Buffer) => ({
      model_name: 'id_bytes',
      inputs: [{ name: 'x', datatype: 'BYTES', shape: [2] }],
      raw_input_contents: [blob],
    });
    await refused(bytes(rawOf('string', ['a'])), status.INVALID_ARGUMENT, /holds 1 elements, expected 2/);
    await refused(bytes(rawOf('string', ['a', 'b', 'c'])), status.INVALID_ARGUMENT, /holds more than 2 elements/);
    const cut = Buffer.from([5, 0, 0, 0, 0x61]);
    await refused(bytes(cut), status.INVALID_ARGUMENT, /declares 5 bytes but only 1 remain/);
  });

  test('a hostile header is refused before allocation: [2^31, 2^31] with 8 bytes, 10,000 inputs', async () => {
    await refused(
      {
        model_name: 'id_fp32',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2 ** 31, 2 ** 31] }],
        raw_input_contents: [Buffer.alloc(8)],
      },
      status.INVALID_ARGUMENT,
      /--max_input_bytes/,
    );
    await refused(
      {
        model_name: 'id_bytes',
        inputs: [{ name: 'x', datatype: 'BYTES', shape: [2 ** 31, 2 ** 31] }],
        raw_input_contents: [rawOf('string', [''])],
      },
      status.INVALID_ARGUMENT,
      /--max_input_bytes/,
    );
    await refused(
      {
        model_name: 'id_fp32',
        inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1'] }],
        raw_input_contents: [Buffer.alloc(4)],
      },
      status.INVALID_ARGUMENT,
      /dimension size -1 is not a known size/,
    );
    await refused(
      {
        model_name: 'id_int32',
        inputs: [
          { name: 'x', datatype: 'INT32', shape: [2], contents: { int_contents: new Array(1_000_000).fill(-1) } },
        ],
      },
      status.INVALID_ARGUMENT,
      /input 'x' \(INT32 \[2\]\): contents hold more than 2 elements, expected 2/,
    );
    await refused(
      {
        model_name: 'id_int8',
        inputs: [{ name: 'x', datatype: 'INT8', shape: [2 ** 40], contents: { int_contents: [1] } }],
      },
      status.INVALID_ARGUMENT,
      /--max_input_bytes/,
    );
    const inputs = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ name: `x${i}`, datatype: 'FP32', shape: [1] }));
    const many = inputs(1_500);
    await refused(
      { model_name: 'id_fp32', inputs: many, raw_input_contents: many.map(() => Buffer.alloc(4)) },
      status.INVALID_ARGUMENT,
      /ModelInferRequest has 1500 inputs; model 'id_fp32' \(signature 'serving_default'\) takes at most 1/,
    );
    const tooMany = inputs(10_000);
    await refused(
      { model_name: 'id_fp32', inputs: tooMany, raw_input_contents: tooMany.map(() => Buffer.alloc(4)) },
      status.INVALID_ARGUMENT,
      /ModelInferRequest holds more than 4160 fields/,
    );
    const dims = Array.from({ length: 100_000 }, () => 1);
    await refused(
      {
        model_name: 'id_fp32',
        inputs: [{ name: 'x', datatype: 'FP32', shape: dims }],
        raw_input_contents: [Buffer.alloc(4)],
      },
      status.INVALID_ARGUMENT,
      /rank 255 exceeds the maximum rank 254/,
    );
    const ok = await infer({
      model_name: 'id_fp32',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
      raw_input_contents: [Buffer.alloc(4)],
    });
    assert.equal(ok.err, null, String(ok.err?.details));
  });

  test('bytes that are not a ModelInferRequest are INVALID_ARGUMENT, not INTERNAL', async () => {
    const { err } = await inferBytes(Buffer.from([0x0a, 0x80]));
    assert.equal(err?.code, status.INVALID_ARGUMENT, String(err?.details));
    assert.match(err?.details ?? '', /ModelInferRequest/);
  });

  test('500 mutated ModelInferRequests (bit flips, cuts, inserted bytes) never answer UNKNOWN or INTERNAL', async () => {
    // A fixed xorshift sequence, so a failure replays.
    let seed = 0x9e3779b9;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const requestType = type('ModelInferRequest');
    const valid = [
      {
        model_name: 'id_fp32',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2] }],
        raw_input_contents: [Buffer.alloc(16)],
      },
      {
        model_name: 'id_bytes',
        inputs: [{ name: 'x', datatype: 'BYTES', shape: [2] }],
        raw_input_contents: [rawOf('string', ['ab', 'c'])],
      },
      {
        model_name: 'id_int64',
        inputs: [{ name: 'x', datatype: 'INT64', shape: [3], contents: { int64_contents: ['1', '-2', '3'] } }],
      },
      {
        model_name: 'clf',
        parameters: { signature_name: { string_param: 'serving_default' }, timeout: { int64_param: 5_000_000 } },
        inputs: [{ name: 'inputs', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
        outputs: [{ name: 'scores', parameters: { binary_data: { bool_param: true } } }],
      },
    ].map((r) => Buffer.from(requestType.encode(requestType.fromObject(r)).finish()));
    const codes = new Map<number, number>();
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(valid[random(valid.length)] as Buffer);
      let mutated: Buffer = bytes;
      for (let k = 1 + random(3); k > 0; k--) {
        const at = random(mutated.length);
        const kind = random(3);
        if (kind === 0) mutated[at] = (mutated[at] as number) ^ (1 << random(8));
        else if (kind === 1) mutated = mutated.subarray(0, at);
        else mutated = Buffer.concat([mutated.subarray(0, at), Buffer.from([random(256)]), mutated.subarray(at)]);
        if (mutated.length === 0) break;
      }
      const { err } = await inferBytes(mutated);
      const code = err?.code ?? status.OK;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      assert.ok(
        code !== status.UNKNOWN && code !== status.INTERNAL,
        `case ${i}: ${code} ${err?.details} for ${mutated.toString('hex')}`,
      );
    }
    assert.ok((codes.get(status.INVALID_ARGUMENT) ?? 0) > 100, `statuses: ${JSON.stringify([...codes])}`);
    const { err } = await inferBytes(valid[0] as Buffer);
    assert.equal(err, null, String(err?.details));
  });

  test('a 40 MiB raw request (over --max_request_bytes) is served: the v2 limit is INT32_MAX', async () => {
    const rows = 10;
    const blob = Buffer.alloc(rows * 1024 * 4 * 1024);
    for (let i = 0; i < blob.length / 4; i += 1024) blob.writeFloatLE(1, i * 4);
    assert.ok(blob.length > server.core.limits.maxRequestBytes);
    const { err, response } = await infer({
      model_name: 'rowsum',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [rows * 1024, 1024] }],
      raw_input_contents: [blob],
    });
    assert.equal(err, null, String(err?.details));
    assert.equal(response?.raw_output_contents[0]?.length, rows * 1024 * 4);
    assert.equal((response?.raw_output_contents[0] as Buffer).readFloatLE(0), 1);
    assert.ok(blob.length / MiB >= 40);
  });

  test('typed inputs with an FP16 output: every output comes back raw (FP16 has no typed field)', async () => {
    const { err, response } = await infer({
      model_name: 'half',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [3], contents: { fp32_contents: [0.5, -2, 1000] } }],
    });
    assert.equal(err, null, String(err?.details));
    assert.equal(response?.outputs[0]?.datatype, 'FP16');
    assert.equal(response?.outputs[0]?.contents, null);
    const raw = response?.raw_output_contents[0] as Buffer;
    assert.deepEqual(
      [0, 1, 2].map((i) => float16Value(raw.readUInt16LE(i * 2))),
      [0.5, -2, 1000],
    );
  });

  test('ModelStreamInfer: one response per request in order; a bad request answers error_message, the stream goes on', async () => {
    const requestType = type('ModelInferRequest');
    const responseType = type('ModelStreamInferResponse');
    const encode = (request: Record<string, unknown>) =>
      Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
    const good = (id: string, value: number) =>
      encode({
        model_name: 'id_fp32',
        id,
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
        raw_input_contents: [rawOf('float32', [value])],
      });
    const messages = [
      good('a', 1.5),
      encode({ model_name: 'nope', id: 'b', inputs: [] }),
      Buffer.from([0x0a, 0x80]),
      encode({
        model_name: 'id_fp32',
        id: 'd',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }],
        raw_input_contents: [Buffer.alloc(4)],
      }),
      good('e', -3),
    ];
    const stream = client.makeBidiStreamRequest(
      '/inference.GRPCInferenceService/ModelStreamInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      new Metadata(),
      {},
    );
    const responses: { error_message: string; infer_response?: InferResponse }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (bytes: Buffer) =>
        responses.push(
          responseType.toObject(responseType.decode(bytes), { defaults: true, arrays: true, longs: String }) as {
            error_message: string;
            infer_response?: InferResponse;
          },
        ),
      );
      stream.on('error', reject);
      stream.on('status', (s: { code: number }) =>
        s.code === status.OK ? resolve() : reject(new Error(String(s.code))),
      );
    });
    for (const message of messages) stream.write(message);
    stream.end();
    await done;
    assert.equal(responses.length, messages.length);
    assert.equal(responses[0]?.error_message, '');
    assert.equal(responses[0]?.infer_response?.id, 'a');
    assert.equal(responses[0]?.infer_response?.raw_output_contents[0]?.readFloatLE(0), 1.5);
    assert.match(responses[1]?.error_message ?? '', /nope/);
    assert.match(responses[2]?.error_message ?? '', /Could not parse the request as ModelInferRequest/);
    assert.match(responses[3]?.error_message ?? '', /raw_input_contents\[0\] holds 4 bytes, expected 8/);
    assert.equal(responses[4]?.error_message, '');
    assert.equal(responses[4]?.infer_response?.id, 'e');
    assert.equal(responses[4]?.infer_response?.raw_output_contents[0]?.readFloatLE(0), -3);
  });

  test('ModelStreamInfer with triton_grpc_error: true ends the stream with the first failure as its status', async () => {
    const requestType = type('ModelInferRequest');
    const encode = (request: Record<string, unknown>) =>
      Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
    const metadata = new Metadata();
    metadata.set('triton_grpc_error', 'true');
    const stream = client.makeBidiStreamRequest(
      '/inference.GRPCInferenceService/ModelStreamInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      metadata,
      {},
    );
    let answered = 0;
    stream.on('data', () => answered++);
    const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    const good = {
      model_name: 'id_fp32',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
      raw_input_contents: [rawOf('float32', [1])],
    };
    stream.write(encode(good));
    stream.write(encode({ model_name: 'nope', inputs: [] }));
    stream.write(encode(good));
    stream.end();
    const err = await ended;
    assert.equal(err.code, status.NOT_FOUND, err.details);
    assert.match(err.details, /nope/);
    assert.equal(answered, 1);
  });

  test('ModelStreamInfer: many requests written without reading are all answered, in order', async () => {
    const requestType = type('ModelInferRequest');
    const responseType = type('ModelStreamInferResponse');
    const count = 100;
    const stream = client.makeBidiStreamRequest(
      '/inference.GRPCInferenceService/ModelStreamInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      new Metadata(),
      {},
    );
    for (let i = 0; i < count; i++) {
      const request = {
        model_name: 'id_int32',
        id: String(i),
        inputs: [{ name: 'x', datatype: 'INT32', shape: [1] }],
        raw_input_contents: [rawOf('int32', [i])],
      };
      stream.write(Buffer.from(requestType.encode(requestType.fromObject(request)).finish()));
    }
    stream.end();
    const ids: string[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (bytes: Buffer) => {
        const r = responseType.toObject(responseType.decode(bytes)) as { infer_response?: { id: string } };
        ids.push(r.infer_response?.id ?? 'error');
      });
      stream.on('error', reject);
      stream.on('status', () => resolve());
    });
    assert.deepEqual(
      ids,
      Array.from({ length: count }, (_, i) => String(i)),
    );
  });
});

describe('--max_v2_grpc_message_bytes', () => {
  const base = tempBase('flowserve-grpc-v2-limit-');
  const LIMIT = 4096;
  let server: RunningServer;
  let client: Client;
  const requestType = protobufRoot().lookupType('inference.ModelInferRequest');

  before(async () => {
    writeIdentity(join(base, 'str'), 'string');
    writeIdentity(join(base, 'f'), 'float32');
    const models = ['str', 'f'].flatMap((name) => singleModelConfig(name, join(base, name)).models);
    server = await startServer({
      modelConfig: { models },
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      maxV2GrpcMessageBytes: LIMIT,
      log: () => {},
    });
    client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  /** A ModelInferRequest of one BYTES element, grown until its encoding is exactly `size` bytes. */
  function requestOfSize(size: number): Buffer {
    for (let n = size - 64; ; n++) {
      const request = {
        model_name: 'str',
        inputs: [{ name: 'x', datatype: 'BYTES', shape: [1] }],
        raw_input_contents: [rawOf('string', ['a'.repeat(n)])],
      };
      const bytes = Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
      if (bytes.length === size) return bytes;
      assert.ok(bytes.length < size, 'no request of exactly that size');
    }
  }

  function send(method: string, bytes: Buffer): Promise<ServiceError | null> {
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        {},
        (err) => resolve(err),
      );
    });
  }

  test('a v2 request over the limit is RESOURCE_EXHAUSTED naming the flag, one at the limit is served', async () => {
    const over = await send('/inference.GRPCInferenceService/ModelInfer', requestOfSize(LIMIT + 1));
    assert.equal(over?.code, status.RESOURCE_EXHAUSTED, String(over?.details));
    assert.match(over?.details ?? '', /\(4097 vs 4096\).*--max_v2_grpc_message_bytes/);
    const at = await send('/inference.GRPCInferenceService/ModelInfer', requestOfSize(LIMIT - 16));
    assert.equal(at, null, String(at?.details));
  });

  test('a response over the limit is RESOURCE_EXHAUSTED naming the flag', async () => {
    // The response carries model_version besides what the request held: a request at the limit answers past it.
    const err = await send('/inference.GRPCInferenceService/ModelInfer', requestOfSize(LIMIT));
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED, String(err?.details));
    assert.match(
      err?.details ?? '',
      /response to model 'str' is \d+ bytes, more than --max_v2_grpc_message_bytes=4096/,
    );
  });

  test("TF Serving's Predict keeps --max_request_bytes: a 64 KiB Predict is served past the v2 limit", async () => {
    const predictType = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
    const content = Buffer.alloc(64 * 1024);
    const bytes = predictType
      .encode(
        predictType.fromObject({
          model_spec: { name: 'f' },
          inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: content.length / 4 }] }, tensor_content: content } },
        }),
      )
      .finish();
    const err = await send('/tensorflow.serving.PredictionService/Predict', Buffer.from(bytes));
    assert.equal(err, null, String(err?.details));
  });
});
