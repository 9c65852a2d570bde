/**
 * startServer with TF Serving's warmup file (assets.extra/tf_serving_warmup_requests): the records run before the
 * version is AVAILABLE, and a corrupted, unsupported or oversized file fails the version's load (and the start).
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';
import {
  classifyLogRecord,
  multiInferenceLogRecord,
  predictLogRecord,
  sessionRunLogRecord,
  tfRecord,
  writeTfWarmup,
} from '../serving/apis/tfrecord-fixtures.js';

const base = tempBase('flowserve-tf-warmup-');
after(() => rmSync(base, { recursive: true, force: true }));

function options(name: string, log: ServerOptions['log'] = () => undefined): ServerOptions {
  return {
    modelConfig: {
      models: [
        {
          name,
          basePath: join(base, name),
          modelPlatform: 'tensorflow',
          versionPolicy: { kind: 'latest', numVersions: 1 },
          versionLabels: {},
        },
      ],
    },
    fileSystemPollWaitSeconds: 0,
    maxNumLoadRetries: 0,
    numWorkers: 1,
    grpcPort: 0,
    log,
  };
}

describe('TF Serving warmup file', () => {
  it('replays predict, classify and multi-inference records before the version is AVAILABLE', async () => {
    const dir = writeClassifier(join(base, 'good'), 1);
    writeTfWarmup(dir, [predictLogRecord(), classifyLogRecord(), multiInferenceLogRecord()]);
    const server = await startServer(options('good'));
    try {
      assert.deepEqual(server.core.status('good'), [{ version: 1, state: 'AVAILABLE' }]);
      const metrics = await server.core.metrics.metrics();
      assert.match(
        metrics,
        /:tensorflow:serving:model_warmup_latency_count\{model_path="[^"]+good\/1",status="OK"\} 1/,
      );
      // No client request was made: every model run so far is a warmup record (multi-inference = classify + regress).
      const runs = (api: string) =>
        Number(metrics.match(new RegExp(`runtime_latency_count\\{model_name="good",API="${api}"[^}]*\\} (\\d+)`))?.[1]);
      assert.deepEqual([runs('Predict'), runs('Classify'), runs('Regress')], [1, 2, 1]);
    } finally {
      await server.close();
    }
  });

  it('runs warmup.json and the TF file when a version has both', async () => {
    const dir = writeClassifier(join(base, 'both'), 1);
    writeTfWarmup(dir, [predictLogRecord()]);
    const json = [{ signature_name: 'predict_probs', inputs: { x: { dtype: 'float32', values: [[1, 2, 3, 4]] } } }];
    writeFileSync(join(dir, 'assets.extra', 'warmup.json'), JSON.stringify(json));
    const server = await startServer(options('both'));
    try {
      const metrics = await server.core.metrics.metrics();
      assert.match(metrics, /runtime_latency_count\{model_name="both",API="Predict"[^}]*\} 2/);
    } finally {
      await server.close();
    }
  });

  it('fails the load when a record checksum is wrong, naming the file', async () => {
    const dir = writeClassifier(join(base, 'crc'), 1);
    const path = writeTfWarmup(dir, [predictLogRecord()]);
    const bytes = tfRecord(predictLogRecord());
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0x10, bytes.length - 1); // the data CRC
    writeFileSync(path, bytes);
    await assert.rejects(startServer(options('crc')), (err: Error) => {
      assert.match(err.message, /did not become available: \{\{name: crc version: 1\} due to error:/);
      assert.ok(err.message.includes(`${path}: corrupted record at offset 0: data checksum mismatch`), err.message);
      return true;
    });
  });

  it('fails the load on a session_run_log record, naming the type', async () => {
    const dir = writeClassifier(join(base, 'session'), 1);
    const path = writeTfWarmup(dir, [predictLogRecord(), sessionRunLogRecord()]);
    await assert.rejects(startServer(options('session')), (err: Error) => {
      assert.ok(
        err.message.includes(`${path}: record 1 (session_run_log): Unsupported log_type for warmup: session_run_log`),
        err.message,
      );
      return true;
    });
  });

  it('fails the load with more than 1000 records', async () => {
    const dir = writeClassifier(join(base, 'many'), 1);
    const path = writeTfWarmup(dir, Array(1001).fill(predictLogRecord()));
    await assert.rejects(startServer(options('many')), (err: Error) => {
      assert.ok(err.message.includes(`Number of warmup records exceeds the maximum (1000) at ${path}`), err.message);
      return true;
    });
  });

  it('fails the load when a record does not run (input shape wrong for the signature)', async () => {
    const dir = writeClassifier(join(base, 'badrun'), 1);
    const path = writeTfWarmup(dir, [predictLogRecord([1, 2, 3])]);
    await assert.rejects(startServer(options('badrun')), (err: Error) => {
      assert.ok(err.message.includes(`warmup request 0 (${path}: record 0 (predict_log)) failed:`), err.message);
      return true;
    });
  });
});
