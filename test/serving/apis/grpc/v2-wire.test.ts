/**
 * ModelInferRequest read from its wire bytes (infer-request-wire.ts, infer-inputs.ts, wire-reader.ts) against a real
 * serving core: short names come back from the recent-text table only when every byte matches, and raw inputs that
 * fit in one turn are decoded at once (a value, no promise), larger ones and typed contents over turns; a raw
 * ModelInferResponse written directly equals protobufjs's bytes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { HostTensor } from '../../../../src/graph/host-tensor.js';
import type { V2Datatype } from '../../../../src/serving/apis/v2/datatypes.js';
import type { V2InferResult } from '../../../../src/serving/apis/v2/infer.js';
import {
  encodeModelInferResponse,
  encodeModelInferResponseInTurns,
  encodeModelStreamInferResponse,
  encodeModelStreamInferResponseInTurns,
} from '../../../../src/serving/apis/grpc/v2/infer-response-wire.js';
import { rawBytes } from '../../../../src/serving/apis/v2/raw-bytes.js';
import { protobufRoot } from '../../../../src/serving/apis/shared/protos.js';
import { decodeInferRequest } from '../../../../src/serving/apis/grpc/v2/infer-inputs.js';
import { decodeModelInferRequest, readInputHeader } from '../../../../src/serving/apis/grpc/v2/infer-request-wire.js';
import { recentText, WireReader } from '../../../../src/serving/apis/grpc/v2/wire-reader.js';
import { parseModelServerConfig } from '../../../../src/serving/config/model-server-config.js';
import { createServingCore, type ServingCoreImpl } from '../../../../src/serving/core/index.js';
import { affineModel, tempRepo, type TempRepo } from '../../core/model-fixtures.js';
import { turnsWhile } from '../../../helpers/turns.js';

const quiet = () => undefined;
const ModelInferRequest = protobufRoot().lookupType('inference.ModelInferRequest');

/** A length-delimited field 1 holding `text`, as a WireReader reads it. */
function stringField(text: string | Buffer): WireReader {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const bytes = Buffer.concat([Buffer.from([0x0a, payload.length]), payload]);
  const reader = new WireReader(bytes, 'test');
  reader.tag();
  return reader;
}

describe('v2 gRPC wire: short texts', () => {
  it('the same short ASCII bytes come back as the same text, read from anywhere in a message', () => {
    const first = stringField('mnist').string();
    const again = stringField('mnist').string();
    assert.equal(first, 'mnist');
    assert.equal(again, 'mnist');
    const inside = Buffer.from('xxmnistyy');
    assert.equal(recentText(inside, 2, 7), 'mnist');
  });

  it('texts of the same length that differ in one byte are never confused, in any order', () => {
    const names = ['FP32', 'FP16', 'FP64', 'INT8', 'UINT', 'BOOL', 'fp32', 'FP3\u0000'];
    for (let round = 0; round < 3; round++) {
      for (const name of names) assert.equal(stringField(name).string(), name);
    }
    // Every 2-byte text: more texts than the table has slots, so slots are shared and overwritten.
    for (let a = 0x20; a < 0x7f; a++) {
      for (let b = 0x20; b < 0x7f; b += 7) {
        const text = String.fromCharCode(a, b);
        assert.equal(stringField(text).string(), text);
      }
    }
  });

  it('non-ASCII and long texts are decoded as UTF-8 and not kept', () => {
    assert.equal(recentText(Buffer.from('modèle'), 0, Buffer.byteLength('modèle')), undefined);
    assert.equal(stringField('modèle').string(), 'modèle');
    assert.equal(stringField('名前').string(), '名前');
    const long = 'a'.repeat(100);
    assert.equal(recentText(Buffer.from(long), 0, 100), undefined);
    assert.equal(stringField(long).string(), long);
    // Malformed UTF-8 reads as UTF-8 always did (replacement characters), not as Latin-1.
    assert.equal(stringField(Buffer.from([0x61, 0xff, 0x62])).string(), 'a\ufffdb');
    assert.equal(stringField('').string(), '');
  });
});

describe('v2 gRPC wire: decoding a request against the core', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    core = await createServingCore({
      modelConfig: parseModelServerConfig(
        `model_config_list { config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" } }`,
      ),
      fileSystemPollWaitSeconds: 0.05,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      log: quiet,
    });
    await core.ready();
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  function inputName(): string {
    const info = core.info({ name: 'affine' });
    return Object.keys(info.signatures[info.defaultSignature]?.inputs ?? {})[0] as string;
  }

  function encode(message: Record<string, unknown>): Uint8Array {
    return ModelInferRequest.encode(ModelInferRequest.fromObject(message)).finish();
  }

  it('raw inputs that fit in one turn are decoded at once: the result is a value, copied out of the request', () => {
    const values = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    // At an odd offset inside a larger buffer, as a DATA chunk holds it.
    const encoded = encode({
      model_name: 'affine',
      inputs: [{ name: inputName(), datatype: 'FP32', shape: [2, 4] }],
      raw_input_contents: [Buffer.from(values.buffer)],
    });
    const chunk = Buffer.alloc(encoded.length + 3);
    chunk.set(encoded, 3);
    const bytes = chunk.subarray(3);
    const decoded = decodeInferRequest(core, decodeModelInferRequest(bytes), undefined);
    assert.ok(!(decoded instanceof Promise), 'a small raw request decodes without a promise');
    const tensor = decoded.request.inputs[0]?.tensor;
    assert.deepEqual(tensor?.shape, [2, 4]);
    assert.deepEqual(Array.from(tensor?.data as Float32Array), Array.from(values));
    // The tensor has storage of the request's own (a request slab, not the chunk): changing the request's bytes leaves
    // it as it was.
    assert.notEqual((tensor?.data as Float32Array).buffer, chunk.buffer);
    chunk.fill(0);
    assert.deepEqual(Array.from(tensor?.data as Float32Array), Array.from(values));
    assert.equal(decoded.inputsCameRaw, true);
  });

  it('typed contents decode over turns (a promise) to the same tensor', async () => {
    const values = [1, 2, 3, 4];
    const decoding = decodeInferRequest(
      core,
      decodeModelInferRequest(
        encode({
          model_name: 'affine',
          inputs: [{ name: inputName(), datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: values } }],
        }),
      ),
      undefined,
    );
    assert.ok(decoding instanceof Promise);
    const decoded = await decoding;
    assert.deepEqual(Array.from(decoded.request.inputs[0]?.tensor.data as Float32Array), values);
    assert.equal(decoded.inputsCameRaw, false);
  });

  it('a raw blob whose size does not match its shape is refused naming the field, before any copy', () => {
    const bytes = encode({
      model_name: 'affine',
      inputs: [{ name: inputName(), datatype: 'FP32', shape: [1, 4] }],
      raw_input_contents: [Buffer.alloc(12)],
    });
    assert.throws(
      () => decodeInferRequest(core, decodeModelInferRequest(bytes), undefined),
      /raw_input_contents\[0\] holds 12 bytes, expected 16/,
    );
  });

  it('a raw input given contents as well is refused', () => {
    const bytes = encode({
      model_name: 'affine',
      inputs: [{ name: inputName(), datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
      raw_input_contents: [Buffer.alloc(16)],
    });
    assert.throws(
      () => decodeInferRequest(core, decodeModelInferRequest(bytes), undefined),
      /contents must not be given when the request uses raw_input_contents/,
    );
  });
});

describe('v2 gRPC wire: ModelInferResponse with raw outputs', () => {
  /** The protobufjs writer's bytes, what the direct encoding must equal. */
  function viaProtobufjs(result: V2InferResult): Buffer {
    const writer = protobuf.Writer.create();
    writeResponseWithWriter(writer, result);
    return Buffer.from(writer.finish());
  }

  /** ModelInferResponse through protobufjs's generated encoder, from the result's fields. */
  function writeResponseWithWriter(writer: protobuf.Writer, result: V2InferResult): void {
    const ModelInferResponse = protobufRoot().lookupType('inference.ModelInferResponse');
    const message = ModelInferResponse.fromObject({
      model_name: result.modelName,
      model_version: result.modelVersion,
      ...(result.id ? { id: result.id } : {}),
      outputs: result.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
      raw_output_contents: result.outputs.map((o) => rawBytes(o.tensor)),
    });
    ModelInferResponse.encode(message, writer);
  }

  function output(name: string, datatype: V2Datatype, tensor: HostTensor): V2InferResult['outputs'][number] {
    return { name, datatype, shape: [...tensor.shape], tensor };
  }

  const results: [string, V2InferResult][] = [
    [
      'one FP32 output',
      {
        modelName: 'mnist',
        modelVersion: '1',
        outputs: [output('scores', 'FP32', new HostTensor('float32', [1, 10], new Float32Array(10).fill(0.1)))],
      },
    ],
    [
      'an id, several outputs, a scalar, a large dimension and a long blob',
      {
        modelName: 'm',
        modelVersion: '12345678901',
        id: 'request-7',
        outputs: [
          output('a', 'INT64', new HostTensor('int64', [2], new BigInt64Array([1n, -2n]))),
          output('scalar', 'FP64', new HostTensor('float64', [], new Float64Array([3.5]))),
          output('wide', 'UINT8', new HostTensor('uint8', [1, 300], new Uint8Array(300).fill(7))),
          output('huge_dim', 'BOOL', new HostTensor('bool', [0, 2 ** 40], new Uint8Array(0))),
        ],
      },
    ],
    [
      'BYTES elements and non-ASCII names',
      {
        modelName: 'modèle',
        modelVersion: '',
        outputs: [
          output(
            'texte_é',
            'BYTES',
            new HostTensor('string', [2], [Buffer.from('ab'), Buffer.from('名前')] as unknown as Uint8Array[]),
          ),
        ],
      },
    ],
    ['no outputs', { modelName: 'empty', modelVersion: '3', outputs: [] }],
  ];

  for (const [what, result] of results) {
    it(`equals protobufjs's bytes: ${what}`, async () => {
      assert.deepEqual(encodeModelInferResponse(result, true), viaProtobufjs(result));
      assert.deepEqual(await encodeModelInferResponseInTurns(result, true), viaProtobufjs(result), 'in turns');
      const typed = encodeModelInferResponse(result, false);
      assert.deepEqual(await encodeModelInferResponseInTurns(result, false), typed, 'typed, in turns');
    });
  }

  it('a large raw reply, encoded in turns, equals protobufjs: BYTES elements short and long, floats, an id', async () => {
    const lengths = [
      0,
      65_531,
      65_532,
      65_533,
      200_000,
      3,
      ...Array.from({ length: 40_000 }, (_, i) => (i * 37) % 101),
    ];
    const elements = lengths.map((n, i) => Buffer.alloc(n, i % 251));
    const result: V2InferResult = {
      modelName: 'm',
      modelVersion: '2',
      id: 'large',
      outputs: [
        output('s', 'BYTES', new HostTensor('string', [elements.length], elements)),
        output(
          'y',
          'FP32',
          new HostTensor(
            'float32',
            [300_000],
            new Float32Array(300_000).map((_, i) => i / 3),
          ),
        ),
      ],
    };
    const { turns, value: encoded } = await turnsWhile(() => encodeModelInferResponseInTurns(result, true));
    assert.ok(encoded.equals(viaProtobufjs(result)), 'the same bytes');
    assert.ok(turns >= 4, `${turns} turns`);
    const typed = await turnsWhile(() => encodeModelInferResponseInTurns(result, false));
    assert.ok(typed.value.equals(encodeModelInferResponse(result, false)), "typed: the writer's bytes");
    assert.ok(typed.turns >= 4, `${typed.turns} turns, typed`);
  });

  it("a large typed reply of integers and booleans, encoded in turns, is the writer's bytes", async () => {
    const n = 600_000;
    const result: V2InferResult = {
      modelName: 'm',
      modelVersion: '2',
      outputs: [
        output(
          'i',
          'INT32',
          new HostTensor(
            'int32',
            [n],
            Int32Array.from({ length: n }, (_, i) => (i % 7) - 3 * i),
          ),
        ),
        output(
          'l',
          'INT64',
          new HostTensor(
            'int64',
            [n],
            BigInt64Array.from({ length: n }, (_, i) => BigInt(i) << 33n),
          ),
        ),
        output(
          'u',
          'UINT32',
          new HostTensor(
            'uint32',
            [n],
            Uint32Array.from({ length: n }, (_, i) => i * 7919),
          ),
        ),
        output(
          'b',
          'BOOL',
          new HostTensor(
            'bool',
            [n],
            Uint8Array.from({ length: n }, (_, i) => i % 3),
          ),
        ),
      ],
    };
    const { turns, value } = await turnsWhile(() => encodeModelInferResponseInTurns(result, false));
    assert.ok(value.equals(encodeModelInferResponse(result, false)), 'the same bytes');
    assert.ok(turns >= 8, `${turns} turns`);
  });

  it("a large reply with parameters, encoded in turns, is the writer's bytes", async () => {
    const result: V2InferResult = {
      modelName: 'm',
      modelVersion: '2',
      id: 'p',
      parameters: { sequence_end: true, count: 3, big: 2n ** 63n, ratio: 0.5, note: 'é' },
      outputs: [output('y', 'FP32', new HostTensor('float32', [1_000_000], new Float32Array(1_000_000).fill(0.25)))],
    };
    for (const raw of [true, false]) {
      const { turns, value } = await turnsWhile(() => encodeModelInferResponseInTurns(result, raw));
      assert.ok(value.equals(encodeModelInferResponse(result, raw)), `raw ${raw}: the same bytes`);
      assert.ok(turns >= 2, `raw ${raw}: ${turns} turns`);
    }
  });

  it("a ModelStreamInferResponse encoded in turns is the writer's bytes: small, large, with parameters", async () => {
    const large: V2InferResult = {
      modelName: 'm',
      modelVersion: '2',
      parameters: { sequence_end: false },
      outputs: [
        output('s', 'BYTES', new HostTensor('string', [2], [Buffer.alloc(3 * 1024 * 1024, 0x61), Buffer.from('b')])),
        output(
          'y',
          'FP32',
          new HostTensor(
            'float32',
            [500_000],
            new Float32Array(500_000).map((_, i) => i),
          ),
        ),
      ],
    };
    for (const [what, result] of [...results, ['large', large] as const]) {
      for (const raw of [true, false]) {
        const { turns, value } = await turnsWhile(() => encodeModelStreamInferResponseInTurns(result, raw));
        assert.ok(value.equals(encodeModelStreamInferResponse({ result, raw })), `${what}, raw ${raw}`);
        if (result === large) assert.ok(turns >= 4, `${what}, raw ${raw}: ${turns} turns`);
      }
    }
  });

  it('a result with parameters still carries them (the writer path)', () => {
    const result: V2InferResult = {
      modelName: 'mnist',
      modelVersion: '1',
      parameters: { sequence_end: true },
      outputs: [output('scores', 'FP32', new HostTensor('float32', [1], new Float32Array([1])))],
    };
    const ModelInferResponse = protobufRoot().lookupType('inference.ModelInferResponse');
    const decoded = ModelInferResponse.toObject(ModelInferResponse.decode(encodeModelInferResponse(result, true)));
    assert.deepEqual(decoded.parameters, { sequence_end: { bool_param: true } });
    assert.equal(decoded.raw_output_contents.length, 1);
  });
});

describe('v2 gRPC wire: input shapes', () => {
  it('dimensions read as int64, short varints and long ones alike, packed or not', () => {
    const dims = [0, 1, 127, 128, 2 ** 31, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1, -1, -(2 ** 40)];
    const InferInputTensor = protobufRoot().lookupType('inference.ModelInferRequest.InferInputTensor');
    const packed = InferInputTensor.encode(
      InferInputTensor.fromObject({ name: 'x', datatype: 'FP32', shape: dims }),
    ).finish();
    assert.deepEqual(readInputHeader(packed, [0, packed.length], 0).shape, dims);
    // The same dims unpacked: field 3 as one varint each (a writer may send either form).
    const unpacked: number[] = [];
    for (const d of dims) {
      unpacked.push(3 << 3);
      let v = BigInt.asUintN(64, BigInt(d));
      do {
        const byte = Number(v & 0x7fn);
        v >>= 7n;
        unpacked.push(v > 0n ? byte | 0x80 : byte);
      } while (v > 0n);
    }
    const bytes = Uint8Array.from(unpacked);
    assert.deepEqual(readInputHeader(bytes, [0, bytes.length], 0).shape, dims);
  });
});
