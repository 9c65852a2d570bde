/**
 * Issue 9, findings 1 and 2: small or hostile gRPC Predict requests that used to allocate gigabytes (or crash the
 * server with a V8 heap out of memory) are refused from their headers, with INVALID_ARGUMENT naming the input and
 * the limit, and the server keeps answering.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { defaultBatchingParameters } from '../../src/serving/config/batching-parameters.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier, writeIdentityModel } from '../serving/apis/fixtures.js';

const DT_FLOAT = 1;
const DT_STRING = 7;
const MiB = 1024 * 1024;

interface RawTensor {
  dtype: number;
  tensor_shape: { dim: { size: number | string }[] };
  float_val?: number[];
  string_val?: Buffer[];
  tensor_content?: Buffer;
}

function tensor(dtype: number, shape: (number | string)[], fill: Partial<RawTensor> = {}): RawTensor {
  return { dtype, tensor_shape: { dim: shape.map((size) => ({ size })) }, ...fill };
}

describe('gRPC Predict limits: refused from the header, before allocation', () => {
  const base = tempBase('flowserve-grpc-limits-');
  let server: RunningServer;
  let batched: RunningServer;
  let client: Client;
  let batchedClient: Client;
  const predictType = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
  const responseType = protobufRoot().lookupType('tensorflow.serving.PredictResponse');

  function predict(
    on: Client,
    model: string,
    inputs: Record<string, RawTensor>,
  ): Promise<{ err: ServiceError | null; outputs?: Record<string, unknown> }> {
    const bytes = predictType.encode(predictType.fromObject({ model_spec: { name: model }, inputs })).finish();
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
          const decoded = responseType.toObject(responseType.decode(value as Buffer), { longs: String });
          resolve({ err: null, outputs: decoded.outputs as Record<string, unknown> });
        },
      );
    });
  }

  async function refused(
    on: Client,
    model: string,
    inputs: Record<string, RawTensor>,
    code: number,
    pattern: RegExp,
  ): Promise<string> {
    const { err } = await predict(on, model, inputs);
    assert.ok(err, 'expected the request to be refused');
    assert.equal(err.code, code, err.details);
    assert.match(err.details, pattern);
    assert.ok(err.details.length <= 1100, `error message of ${err.details.length} characters`);
    return err.details;
  }

  async function stillServes(on: Client): Promise<void> {
    const { err, outputs } = await predict(on, 'anyf', { x: tensor(DT_FLOAT, [2], { float_val: [1.5, -2] }) });
    assert.equal(err, null);
    assert.deepEqual((outputs?.y as { float_val: number[] }).float_val, [1.5, -2]);
  }

  before(async () => {
    writeIdentityModel(join(base, 'anyf'), 1, 'float32', []);
    writeIdentityModel(join(base, 'str'), 1, 'string', []);
    writeClassifier(join(base, 'clf'), 1);
    const models = ['anyf', 'str', 'clf'].flatMap((name) => singleModelConfig(name, join(base, name)).models);
    const common = { fileSystemPollWaitSeconds: -1, numWorkers: 1, grpcPort: 0, log: () => {} };
    server = await startServer({ modelConfig: { models }, ...common });
    batched = await startServer({
      modelConfig: { models },
      batching: { ...defaultBatchingParameters(), maxBatchSize: 64, maxExecutionBatchSize: 64 },
      ...common,
    });
    client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    batchedClient = new Client(`127.0.0.1:${batched.grpcPort}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    batchedClient?.close();
    await server?.close();
    await batched?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('one 30 MB string repeated over [1,784] is refused, not decoded 784 times', async () => {
    const big = Buffer.alloc(30 * MiB, 0x61);
    await refused(
      client,
      'str',
      { x: tensor(DT_STRING, [1, 784], { string_val: [big] }) },
      status.INVALID_ARGUMENT,
      /input 'x'.*--max_input_bytes/,
    );
    await stillServes(client);
  });

  test('a 40-byte request asking for 130,000,000 strings is refused at once', async () => {
    await refused(
      client,
      'str',
      { x: tensor(DT_STRING, [130_000_000], { string_val: [Buffer.from('12345678')] }) },
      status.INVALID_ARGUMENT,
      /\[130000000\].*--max_input_bytes/,
    );
    await stillServes(client);
  });

  test('2^60 empty strings are refused before allocation (not UNKNOWN "Invalid array length")', async () => {
    // Found by npm run fuzz: the byte count was Infinity × 0 = NaN, which no "greater than" comparison refuses.
    await refused(
      client,
      'str',
      { x: tensor(DT_STRING, [2 ** 20, 2 ** 20, 2 ** 20], { string_val: [Buffer.alloc(0)] }) },
      status.INVALID_ARGUMENT,
      /\[1048576,1048576,1048576\].*--max_input_bytes/,
    );
    await stillServes(client);
  });

  test('float shapes of 3.2 GB and of 2^40 elements are refused before allocation (not UNKNOWN)', async () => {
    await refused(
      client,
      'anyf',
      { x: tensor(DT_FLOAT, [800_000_000], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /--max_input_bytes/,
    );
    await refused(
      client,
      'anyf',
      { x: tensor(DT_FLOAT, [2 ** 20, 2 ** 20], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /\[1048576,1048576\]/,
    );
    await refused(
      client,
      'anyf',
      { x: tensor(DT_FLOAT, ['9223372036854775807'], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /not a known size/,
    );
    await stillServes(client);
  });

  test('[100000, 784] with one value is refused: by bytes without batching, by max_batch_size with it', async () => {
    await refused(
      client,
      'anyf',
      { x: tensor(DT_FLOAT, [100_000, 784], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /--max_input_bytes/,
    );
    await refused(
      batchedClient,
      'clf',
      { inputs: tensor(DT_FLOAT, [100_000, 4], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /Task size 100000 is larger than maximum input batch size 64/,
    );
    await stillServes(batchedClient);
  });

  test('dtype and shape are checked against the signature before decoding', async () => {
    await refused(
      client,
      'clf',
      { inputs: tensor(DT_STRING, [1, 784], { string_val: [Buffer.alloc(1024)] }) },
      status.INVALID_ARGUMENT,
      /Expects arg\[0\] to be float but string is provided/,
    );
    await refused(
      client,
      'clf',
      { inputs: tensor(DT_FLOAT, [3, 5], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /'inputs' has shape \[3,5\] but the signature expects \[-1,4\]/,
    );
    await refused(
      client,
      'anyf',
      {
        x: tensor(
          DT_FLOAT,
          Array.from({ length: 300 }, () => 1),
        ),
      },
      status.INVALID_ARGUMENT,
      /rank 300/,
    );
  });

  test('a message over --max_request_bytes is refused with RESOURCE_EXHAUSTED before it is decoded', async () => {
    const content = Buffer.alloc(33 * MiB);
    const { err } = await predict(client, 'anyf', {
      x: tensor(DT_FLOAT, [content.length / 4], { tensor_content: content }),
    });
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED, String(err?.details));
    await stillServes(client);
  });

  test('an error about a 2 MB input name quotes it cut to about 1 KB', async () => {
    const alias = 'n'.repeat(2 * MiB);
    const details = await refused(
      client,
      'anyf',
      { [alias]: tensor(DT_FLOAT, [1], { float_val: [1] }) },
      status.INVALID_ARGUMENT,
      /TRUNCATED$/,
    );
    assert.match(details, /^input size does not match signature|^Signature input alias/);
  });

  test('examples are counted on the wire before any is decoded: over the limit is INVALID_ARGUMENT', async () => {
    const classifyType = protobufRoot().lookupType('tensorflow.serving.ClassificationRequest');
    const examples = (n: number) =>
      Array.from({ length: n }, () => ({ features: { feature: { x: { float_list: { value: [1, 2, 3, 4] } } } } }));
    const call = (on: Client, n: number) => {
      const bytes = classifyType
        .encode(
          classifyType.fromObject({ model_spec: { name: 'clf' }, input: { example_list: { examples: examples(n) } } }),
        )
        .finish();
      return new Promise<ServiceError | null>((resolve) =>
        on.makeUnaryRequest(
          '/tensorflow.serving.PredictionService/Classify',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from(bytes),
          new Metadata(),
          {},
          (err) => resolve(err),
        ),
      );
    };
    const tooMany = await call(client, 200_000);
    assert.equal(tooMany?.code, status.INVALID_ARGUMENT, String(tooMany?.details));
    assert.match(String(tooMany?.details), /more than 10000 examples, the most allowed per request/);
    const overBatch = await call(batchedClient, 65);
    assert.match(String(overBatch?.details), /more than 64 examples/);
    assert.equal(await call(batchedClient, 64), null);
  });

  test('a repeated string fills the shape with the same value', async () => {
    const { err, outputs } = await predict(client, 'str', {
      x: tensor(DT_STRING, [3], { string_val: [Buffer.from('héllo')] }),
    });
    assert.equal(err, null);
    const y = outputs?.y as { string_val: Buffer[] };
    assert.deepEqual(
      y.string_val.map((b) => Buffer.from(b).toString('utf8')),
      ['héllo', 'héllo', 'héllo'],
    );
  });
});
