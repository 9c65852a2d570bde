/**
 * String tensors are bytes, end to end: every byte value and invalid UTF-8 go through gRPC Predict and REST
 * ({"b64": …} in, a JSON string for text or {"b64": …} otherwise out) on an identity string model (ONNX Runtime
 * in between) and come back unchanged; and a small request cannot grow into a large reply (the fuzzer saw a 6 MB
 * request answered with 245 MB when elements were decoded as UTF-8).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeIdentityModel } from '../serving/apis/fixtures.js';

const DT_STRING = 7;
const MiB = 1024 * 1024;

/** Each byte value alone, then sequences that are not UTF-8, then text (one starting with ONNX's escape mark). */
function binaryElements(): Buffer[] {
  return [
    ...Array.from({ length: 256 }, (_, b) => Buffer.from([b])),
    Buffer.from(Array.from({ length: 256 }, (_, b) => b)),
    Buffer.from([0xc3, 0x28]), // a lead byte without its continuation
    Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate (U+D800)
    Buffer.from([0xc0, 0xaf]), // an overlong '/'
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
    Buffer.from([0xef, 0xbf, 0xbd]), // U+FFFD itself (valid text)
    Buffer.from('\uFDD0\u00ff escaped-looking text', 'utf8'),
    Buffer.from('héllo, 世界 🌍', 'utf8'),
    Buffer.alloc(0),
  ];
}

interface Reply {
  err: ServiceError | null;
  bytes?: number;
  outputs?: Record<string, { string_val?: Buffer[]; tensor_shape?: unknown }>;
}

describe('binary string elements round-trip unchanged', () => {
  const base = tempBase('flowserve-string-bytes-');
  let server: RunningServer;
  let bounded: RunningServer;
  let client: Client;
  let boundedClient: Client;
  let url: string;
  let boundedUrl: string;
  const predictType = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
  const responseType = protobufRoot().lookupType('tensorflow.serving.PredictResponse');

  function grpcPredict(on: Client, model: string, elements: Buffer[], shape: number[]): Promise<Reply> {
    const request = {
      model_spec: { name: model },
      inputs: { x: { dtype: DT_STRING, tensor_shape: { dim: shape.map((size) => ({ size })) }, string_val: elements } },
    };
    const bytes = predictType.encode(predictType.fromObject(request)).finish();
    return new Promise((resolve) => {
      on.makeUnaryRequest(
        '/tensorflow.serving.PredictionService/Predict',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        new Metadata(),
        {},
        (err, value) => {
          if (err || !value) return resolve({ err });
          const reply = value as Buffer;
          const decoded = responseType.toObject(responseType.decode(reply), { longs: String });
          resolve({ err: null, bytes: reply.length, outputs: decoded.outputs as Reply['outputs'] });
        },
      );
    });
  }

  async function restPredict(at: string, model: string, body: unknown): Promise<{ status: number; text: string }> {
    const res = await fetch(`${at}/v1/models/${model}:predict`, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  }

  before(async () => {
    writeIdentityModel(join(base, 'str'), 1, 'string', []);
    // The same model with its output alias ending in "_bytes" (TF Serving's cue for {"b64": …} replies).
    const dir = writeIdentityModel(join(base, 'str_b'), 1, 'string', []);
    const signatures = readFileSync(join(dir, 'signatures.json'), 'utf8').replace(
      '"outputs":{"y":',
      '"outputs":{"y_bytes":',
    );
    assert.match(signatures, /y_bytes/);
    writeFileSync(join(dir, 'signatures.json'), signatures);
    const models = ['str', 'str_b'].flatMap((name) => singleModelConfig(name, join(base, name)).models);
    const common = { fileSystemPollWaitSeconds: -1, numWorkers: 1, grpcPort: 0, restPort: 0, log: () => {} };
    server = await startServer({ modelConfig: { models }, ...common });
    bounded = await startServer({ modelConfig: { models }, ...common, limits: { maxResponseBytes: 4 * MiB } });
    // The replies here are larger than grpc-js clients accept by default (4 MiB).
    const unbounded = { 'grpc.max_receive_message_length': -1 };
    client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure(), unbounded);
    boundedClient = new Client(`127.0.0.1:${bounded.grpcPort}`, credentials.createInsecure(), unbounded);
    url = `http://127.0.0.1:${server.restPort}`;
    boundedUrl = `http://127.0.0.1:${bounded.restPort}`;
  });

  after(async () => {
    client?.close();
    boundedClient?.close();
    await server?.close();
    await bounded?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('gRPC Predict: all 256 byte values and invalid UTF-8 come back byte for byte', async () => {
    const elements = binaryElements();
    const { err, outputs } = await grpcPredict(client, 'str', elements, [elements.length]);
    assert.equal(err, null, err?.details ?? '');
    const back = outputs?.y?.string_val ?? [];
    assert.equal(back.length, elements.length);
    elements.forEach((e, i) => assert.ok(e.equals(back[i] as Buffer), `element ${i}: ${e.toString('hex')}`));
  });

  test('REST Predict: {"b64"} in; text out as JSON strings, other bytes as {"b64"}, "_bytes" outputs all b64', async () => {
    const elements = binaryElements();
    const instances = elements.map((e) => ({ b64: e.toString('base64') }));
    for (const model of ['str', 'str_b']) {
      const res = await restPredict(url, model, { instances });
      assert.equal(res.status, 200, res.text);
      const predictions = (JSON.parse(res.text) as { predictions: (string | { b64: string })[] }).predictions;
      assert.equal(predictions.length, elements.length);
      predictions.forEach((p, i) => {
        const e = elements[i] as Buffer;
        const text = e.toString('utf8');
        const isText = Buffer.from(text, 'utf8').equals(e);
        if (typeof p === 'string') {
          assert.ok(model === 'str' && isText, `element ${i} came back as a JSON string`);
          assert.equal(p, text);
        } else {
          assert.ok(model === 'str_b' || !isText, `text element ${i} came back as b64`);
          assert.ok(Buffer.from(p.b64, 'base64').equals(e), `element ${i}: ${e.toString('hex')}`);
        }
      });
    }
  });

  test('a JSON string is its UTF-8 bytes: REST text in, gRPC-identical bytes out', async () => {
    const res = await restPredict(url, 'str_b', { inputs: ['héllo', '世界'] });
    assert.equal(res.status, 200, res.text);
    const outputs = (JSON.parse(res.text) as { outputs: { b64: string }[] }).outputs;
    assert.deepEqual(
      outputs.map((o) => Buffer.from(o.b64, 'base64').toString('hex')),
      ['héllo', '世界'].map((s) => Buffer.from(s, 'utf8').toString('hex')),
    );
  });

  test('a 6 MB request of invalid UTF-8 repeated over [8] answers 48 MB of the same bytes, not 3× that', async () => {
    const element = Buffer.alloc(6 * MiB, 0xff);
    const { err, bytes, outputs } = await grpcPredict(client, 'str', [element], [8]);
    assert.equal(err, null, err?.details ?? '');
    const back = outputs?.y?.string_val ?? [];
    assert.equal(back.length, 8);
    for (const b of back) assert.ok(element.equals(b));
    // Decoded as UTF-8, each 0xff became U+FFFD (3 bytes): a 144 MiB reply. As bytes it is the input's size.
    assert.ok((bytes ?? Infinity) < 8 * element.length + 1024, `reply of ${bytes} bytes`);
  });

  test('--max_response_bytes refuses a reply larger than it, before encoding, on gRPC and REST', async () => {
    const element = Buffer.alloc(1 * MiB, 0xff);
    const { err } = await grpcPredict(boundedClient, 'str', [element], [8]);
    assert.ok(err);
    assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, /--max_response_bytes=4194304/);
    // JSON writes a control byte as \u0001: 1 MiB of them is 6 MiB of reply from a 1.4 MiB body.
    const controls = Buffer.alloc(1 * MiB, 0x01).toString('base64');
    const res = await restPredict(boundedUrl, 'str', { inputs: [{ b64: controls }] });
    assert.equal(res.status, 429, res.text);
    assert.match(res.text, /--max_response_bytes/);
    // Within the bound, the same server answers.
    const small = await grpcPredict(boundedClient, 'str', [Buffer.from([0xff, 0x00])], [2]);
    assert.equal(small.err, null);
    assert.equal(small.outputs?.y?.string_val?.length, 2);
    const ok = await restPredict(boundedUrl, 'str', { inputs: [{ b64: Buffer.alloc(1000, 1).toString('base64') }] });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((JSON.parse(ok.text) as { outputs: string[] }).outputs[0], '\u0001'.repeat(1000));
  });
});
