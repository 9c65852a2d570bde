/**
 * Writes TF Serving warmup files for tests: an independent TFRecord encoder (bitwise CRC32C, not the table-driven
 * one under test) around PredictionLogs encoded with the project's protos.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { protobufRoot } from '../../../src/serving/apis/shared/protos.js';

/** Bitwise CRC-32C (reflected Castagnoli polynomial), the textbook definition. */
export function bitwiseCrc32c(data: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

function masked(data: Uint8Array): number {
  const crc = bitwiseCrc32c(data);
  return Number((((BigInt(crc) >> 15n) | (BigInt(crc) << 17n)) + 0xa282ead8n) & 0xffffffffn);
}

/** One TFRecord: uint64 LE length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(data.length));
  const lengthCrc = Buffer.alloc(4);
  lengthCrc.writeUInt32LE(masked(length));
  const dataCrc = Buffer.alloc(4);
  dataCrc.writeUInt32LE(masked(data));
  return Buffer.concat([length, lengthCrc, data, dataCrc]);
}

/** A serialized tensorflow.serving.PredictionLog from a plain object (snake_case field names). */
export function predictionLog(log: Record<string, unknown>): Uint8Array {
  const type = protobufRoot().lookupType('tensorflow.serving.PredictionLog');
  return type.encode(type.fromObject(log)).finish();
}

export const TF_WARMUP_PATH = join('assets.extra', 'tf_serving_warmup_requests');

/** Writes `<versionDir>/assets.extra/tf_serving_warmup_requests`; returns its path. */
export function writeTfWarmup(versionDir: string, records: readonly Uint8Array[]): string {
  mkdirSync(join(versionDir, 'assets.extra'), { recursive: true });
  const path = join(versionDir, TF_WARMUP_PATH);
  writeFileSync(path, Buffer.concat(records.map((r) => tfRecord(r))));
  return path;
}

const modelSpec = (signature_name: string) => ({ name: 'ignored', version: { value: 99 }, signature_name });

/** A PredictLog for the classifier's predict_probs signature (one row of 4 floats). */
export function predictLogRecord(x: readonly number[] = [0.5, -1, 2, 0.25]): Uint8Array {
  return predictionLog({
    log_metadata: { model_spec: modelSpec('predict_probs'), timestamp_secs: 1700000000 },
    predict_log: {
      request: {
        model_spec: modelSpec('predict_probs'),
        inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: x.length }] }, float_val: [...x] } },
      },
    },
  });
}

const examples = (rows: readonly (readonly number[])[]) => ({
  example_list: { examples: rows.map((x) => ({ features: { feature: { x: { float_list: { value: [...x] } } } } })) },
});

/** A ClassifyLog (default signature) with two tf.Examples. */
export function classifyLogRecord(signature = ''): Uint8Array {
  return predictionLog({
    log_metadata: { model_spec: modelSpec(signature) },
    classify_log: {
      request: {
        model_spec: modelSpec(signature),
        input: examples([
          [1, 2, 3, 4],
          [0, 0, 0, 1],
        ]),
      },
    },
  });
}

/** A RegressLog on regress_first with one tf.Example. */
export function regressLogRecord(): Uint8Array {
  return predictionLog({
    regress_log: { request: { model_spec: modelSpec('regress_first'), input: examples([[1, 1, 1, 1]]) } },
  });
}

/** A MultiInferenceLog: classify (default signature) and regress_first on the same example. */
export function multiInferenceLogRecord(): Uint8Array {
  return predictionLog({
    multi_inference_log: {
      request: {
        tasks: [
          { model_spec: modelSpec(''), method_name: 'tensorflow/serving/classify' },
          { model_spec: modelSpec('regress_first'), method_name: 'tensorflow/serving/regress' },
        ],
        input: examples([[2, 2, 2, 2]]),
      },
    },
  });
}

export function sessionRunLogRecord(): Uint8Array {
  return predictionLog({ session_run_log: { request: Buffer.from([0x0a, 0x00]) } });
}
