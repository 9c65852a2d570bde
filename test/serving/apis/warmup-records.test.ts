/** TFRecord reading (CRC32C, framing) and PredictionLog → warmup requests, without a running model. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataLoss, InvalidArgument, Unimplemented } from '../../../src/errors.js';
import { crc32c, maskedCrc32c, tfRecords } from '../../../src/serving/apis/shared/tfrecord.js';
import { parseTfWarmupRecords } from '../../../src/serving/apis/shared/warmup-records.js';
import type { ServableInfo } from '../../../src/serving/core/index.js';
import { classifierSignatures } from './fixtures.js';
import {
  bitwiseCrc32c,
  classifyLogRecord,
  multiInferenceLogRecord,
  predictionLog,
  predictLogRecord,
  regressLogRecord,
  sessionRunLogRecord,
  tfRecord,
} from './tfrecord-fixtures.js';

const PATH = '/models/m/1/assets.extra/tf_serving_warmup_requests';
const signatures = classifierSignatures();
const servable: ServableInfo = {
  modelName: 'm',
  version: 1,
  signatures: signatures.signatures,
  defaultSignature: signatures.default,
};

const file = (...records: Uint8Array[]) => Buffer.concat(records.map((r) => tfRecord(r)));

describe('crc32c', () => {
  it('matches the check value and the bitwise definition', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(bitwiseCrc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff);
    assert.equal(crc32c(bytes), bitwiseCrc32c(bytes));
  });

  it('masks as TFRecord does', () => {
    const crc = crc32c(Buffer.from('123456789'));
    const expected = Number((((BigInt(crc) >> 15n) | (BigInt(crc) << 17n)) + 0xa282ead8n) & 0xffffffffn);
    assert.equal(maskedCrc32c(Buffer.from('123456789')), expected);
  });
});

describe('tfRecords', () => {
  it('reads back records written by an independent encoder, empty ones included', () => {
    const records = [Buffer.from('hello'), new Uint8Array(0), Buffer.alloc(300, 7)];
    const read = [...tfRecords(file(...records), PATH)].map((r) => Buffer.from(r));
    assert.deepEqual(
      read,
      records.map((r) => Buffer.from(r)),
    );
    assert.deepEqual([...tfRecords(new Uint8Array(0), PATH)], []);
  });

  it('rejects a bad data checksum, a bad length checksum and truncation with DATA_LOSS naming the file', () => {
    const good = file(Buffer.from('first'), Buffer.from('second'));
    const badData = Buffer.from(good);
    badData.writeUInt8(badData.readUInt8(14) ^ 0xff, 14); // a byte of the first record's data
    assert.throws(
      () => [...tfRecords(badData, PATH)],
      (err: unknown) => {
        assert.ok(err instanceof DataLoss);
        assert.equal(err.message, `${PATH}: corrupted record at offset 0: data checksum mismatch`);
        return true;
      },
    );
    const badLength = Buffer.from(good);
    badLength.writeUInt8(badLength.readUInt8(8) ^ 0x01, 8); // a byte of the length CRC
    assert.throws(() => [...tfRecords(badLength, PATH)], /record at offset 0: length checksum mismatch/);
    const secondAt = 12 + 'first'.length + 4;
    assert.throws(
      () => [...tfRecords(good.subarray(0, good.length - 1), PATH)],
      (err: unknown) => {
        assert.ok(err instanceof DataLoss);
        assert.match(err.message, new RegExp(`offset ${secondAt}: truncated record`));
        return true;
      },
    );
    assert.throws(() => [...tfRecords(good.subarray(0, secondAt + 5), PATH)], /truncated record header/);
  });
});

describe('parseTfWarmupRecords', () => {
  it('turns predict, classify, regress and multi-inference logs into warmup requests', () => {
    const requests = parseTfWarmupRecords(
      file(predictLogRecord(), classifyLogRecord(), regressLogRecord(), multiInferenceLogRecord()),
      PATH,
      servable,
    );
    assert.deepEqual(
      requests.map((r) => [r.signatureName, r.origin, r.outputFilter]),
      [
        ['predict_probs', `${PATH}: record 0 (predict_log)`, undefined],
        ['serving_default', `${PATH}: record 1 (classify_log)`, ['scores']],
        ['regress_first', `${PATH}: record 2 (regress_log)`, ['outputs']],
        ['serving_default', `${PATH}: record 3 (multi_inference_log)`, ['scores']],
        ['regress_first', `${PATH}: record 3 (multi_inference_log)`, ['outputs']],
      ],
    );
    const predictX = requests[0]?.inputs.x;
    assert.deepEqual(predictX?.shape, [1, 4]);
    assert.deepEqual(predictX?.toNumbers(), [0.5, -1, 2, 0.25]);
    assert.deepEqual(requests[1]?.inputs.inputs?.shape, [2, 4]);
    assert.deepEqual(requests[1]?.inputs.inputs?.toNumbers(), [1, 2, 3, 4, 0, 0, 0, 1]);
    assert.ok(requests.every((r) => r.iterations === 1));
  });

  it('rejects session_run_log and predict_streamed_log as UNIMPLEMENTED', () => {
    assert.throws(
      () => parseTfWarmupRecords(file(predictLogRecord(), sessionRunLogRecord()), PATH, servable),
      (err) => {
        assert.ok(err instanceof Unimplemented);
        assert.equal(
          err.message,
          `${PATH}: record 1 (session_run_log): Unsupported log_type for warmup: session_run_log`,
        );
        return true;
      },
    );
    const streamed = predictionLog({ predict_streamed_log: { request: [{}] } });
    assert.throws(
      () => parseTfWarmupRecords(file(streamed), PATH, servable),
      (err) => err instanceof Unimplemented && /predict_streamed_log/.test(err.message),
    );
    assert.throws(
      () => parseTfWarmupRecords(file(predictionLog({})), PATH, servable),
      (err) => err instanceof Unimplemented && /LOG_TYPE_NOT_SET/.test(err.message),
    );
  });

  it('checks the classify signature and the examples against the version being loaded', () => {
    assert.throws(
      () => parseTfWarmupRecords(file(classifyLogRecord('predict_probs')), PATH, servable),
      (err) =>
        err instanceof InvalidArgument &&
        err.message ===
          `${PATH}: record 0 (classify_log): Expected classification signature method_name to be ` +
            'tensorflow/serving/classify. Was: tensorflow/serving/predict',
    );
    assert.throws(
      () => parseTfWarmupRecords(file(classifyLogRecord('nope')), PATH, servable),
      /record 0 \(classify_log\): No signature was found with the name: nope/,
    );
  });

  it('rejects a record that is not a PredictionLog', () => {
    assert.throws(
      () => parseTfWarmupRecords(file(Buffer.from([0x0a, 0x05, 0x01])), PATH, servable),
      /record 0: cannot parse PredictionLog/,
    );
  });

  it('accepts 1000 records and rejects 1001 with TF Serving message', () => {
    const record = predictLogRecord();
    assert.equal(parseTfWarmupRecords(file(...Array(1000).fill(record)), PATH, servable).length, 1000);
    assert.throws(
      () => parseTfWarmupRecords(file(...Array(1001).fill(record)), PATH, servable),
      (err) =>
        err instanceof InvalidArgument &&
        err.message === `Number of warmup records exceeds the maximum (1000) at ${PATH}`,
    );
  });
});
