/**
 * A request whose bytes do not parse as the method's message is the client's fault: INVALID_ARGUMENT naming the
 * message type, not grpc-js's INTERNAL "Error deserializing request" (found by `npm run fuzz`, issue 9). The
 * server keeps serving afterwards.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

/** A length-delimited field 1 claiming 2^32-1 bytes: no protobuf parser can read past it. */
const OVERLONG_FIELD = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
/** An unknown field (9) with wire type 7, which does not exist: it cannot be skipped. */
const INVALID_WIRE_TYPE = Buffer.from([0x4f, 0x00]);

describe('gRPC requests that do not parse', () => {
  const base = tempBase('flowserve-undecodable-');
  let server: RunningServer;
  let client: Client;

  function call(method: string, bytes: Buffer): Promise<{ err: ServiceError | null; value?: Buffer }> {
    return new Promise((resolve) =>
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        {},
        (err, value) => resolve({ err, value }),
      ),
    );
  }

  before(async () => {
    writeClassifier(join(base, 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
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

  const cases: [string, string, Buffer][] = [
    ['Predict', '/tensorflow.serving.PredictionService/Predict', OVERLONG_FIELD],
    ['Classify', '/tensorflow.serving.PredictionService/Classify', OVERLONG_FIELD],
    ['Regress', '/tensorflow.serving.PredictionService/Regress', INVALID_WIRE_TYPE],
    ['MultiInference', '/tensorflow.serving.PredictionService/MultiInference', OVERLONG_FIELD],
    ['GetModelMetadata', '/tensorflow.serving.PredictionService/GetModelMetadata', INVALID_WIRE_TYPE],
    ['GetModelStatus', '/tensorflow.serving.ModelService/GetModelStatus', OVERLONG_FIELD],
    ['HandleReloadConfigRequest', '/tensorflow.serving.ModelService/HandleReloadConfigRequest', OVERLONG_FIELD],
  ];
  for (const [name, method, bytes] of cases) {
    test(`an undecodable ${name} request is INVALID_ARGUMENT naming its message type`, async () => {
      const { err } = await call(method, bytes);
      assert.ok(err, 'expected an error');
      assert.equal(err.code, status.INVALID_ARGUMENT, `${status[err.code]}: ${err.details}`);
      assert.match(err.details, /^Could not parse the request as \w+Request: /);
    });
  }

  test('the server still answers a valid request after undecodable ones', async () => {
    await call('/tensorflow.serving.PredictionService/Predict', OVERLONG_FIELD);
    const type = protobufRoot().lookupType('tensorflow.serving.GetModelStatusRequest');
    const bytes = Buffer.from(type.encode(type.fromObject({ model_spec: { name: 'clf' } })).finish());
    const { err, value } = await call('/tensorflow.serving.ModelService/GetModelStatus', bytes);
    assert.equal(err, null);
    const response = protobufRoot()
      .lookupType('tensorflow.serving.GetModelStatusResponse')
      .decode(value as Buffer);
    assert.equal(
      (response.toJSON() as { model_version_status: { state: string }[] }).model_version_status[0]?.state,
      'AVAILABLE',
    );
  });
});
