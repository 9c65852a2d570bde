/**
 * Error messages that quote client-sent text with a lone UTF-16 surrogate (or cut a surrogate pair at the 1,024
 * character limit) used to crash the server: grpc-js percent-encodes the status message with encodeURI, which
 * throws URIError outside any handler (found by `npm run soak`). Now they answer, with U+FFFD in place.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { clientMessage, InvalidArgument, MAX_ERROR_MESSAGE_CHARS } from '../../src/errors.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

describe('error messages quoting lone surrogates', () => {
  const base = tempBase('flowserve-unicode-errors-');
  let server: RunningServer;
  let client: Client;

  function call(method: string, type: string, message: object): Promise<ServiceError | null> {
    const t = protobufRoot().lookupType(type);
    const bytes = Buffer.from(t.encode(t.fromObject(message)).finish());
    return new Promise((resolve) =>
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        {},
        (err) => resolve(err),
      ),
    );
  }

  const predictOn = (model: string, outputFilter: string[] = []) =>
    call('/tensorflow.serving.PredictionService/Predict', 'tensorflow.serving.PredictRequest', {
      model_spec: { name: model, signature_name: 'predict_probs' },
      inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: 4 }] }, float_val: [1, 2, 3, 4] } },
      output_filter: outputFilter,
    });

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

  test('a model name with a lone surrogate is NOT_FOUND, and the server lives on', async () => {
    const err = await predictOn('m\ud800x');
    assert.equal(err?.code, status.NOT_FOUND, String(err?.details));
    assert.match(err?.details ?? '', /m\ufffd+x/);
    assert.equal(await predictOn('clf'), null);
  });

  test('an output_filter name with a lone surrogate is refused, and the server lives on', async () => {
    const err = await predictOn('clf', ['probabilities', 'y\udc00']);
    assert.ok(err && err.code !== status.UNKNOWN && err.code !== status.UNAVAILABLE, String(err?.details));
    assert.equal(await predictOn('clf'), null);
  });

  test('a health check for a service named with a lone surrogate is NOT_FOUND', async () => {
    const err = await call('/grpc.health.v1.Health/Check', 'grpc.health.v1.HealthCheckRequest', { service: 'a\ud800' });
    assert.equal(err?.code, status.NOT_FOUND, String(err?.details));
    assert.equal(await predictOn('clf'), null);
  });

  test('cutting a message at the limit never leaves half a surrogate pair', () => {
    const message = clientMessage(new InvalidArgument('a'.repeat(MAX_ERROR_MESSAGE_CHARS - 1) + '😀 and more'));
    assert.equal(message, 'a'.repeat(MAX_ERROR_MESSAGE_CHARS - 1) + '\ufffd...TRUNCATED');
    assert.doesNotThrow(() => encodeURI(message));
  });
});
