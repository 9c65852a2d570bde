/**
 * `flowserve inspect` and `flowserve convert` run as processes on TensorFlow's own fixtures
 * (../shared/fixtures/tensorflow-serving, read in place; a frozen GraphDef is cut out of a SavedModel into a temp
 * dir), and a converted model served without importing.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { startServer } from '../../src/serving/server.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';
import { runProcess, type ProcessResult } from '../helpers/run-process.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const FIXTURES = TF_SERVING_FIXTURES;

function runCli(args: readonly string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, [MAIN, ...args], { timeoutMs: 30_000 });
}

/** The bytes of the first length-delimited field `field` of a protobuf message. */
function subMessage(bytes: Uint8Array, field: number): Uint8Array {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) return reader.bytes();
    reader.skipType(tag & 7);
  }
  throw new Error(`no field ${field}`);
}

describe('flowserve inspect and convert', () => {
  const work = mkdtempSync(join(tmpdir(), 'flowserve-tf-cli-'));
  /** matrix_half_plus_two's graph (no variables: a frozen graph already) as a bare GraphDef file. */
  const frozen = join(work, 'matrix_frozen.pb');

  before(() => {
    const savedModel = readFileSync(join(FIXTURES, 'matrix_half_plus_two/1/saved_model.pb'));
    // SavedModel.meta_graphs = 2, MetaGraphDef.graph_def = 2.
    writeFileSync(frozen, subMessage(subMessage(savedModel, 2), 2));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('inspect shows tag sets, signatures with dtype and shape, variables and op types with unsupported ones marked', async () => {
    const res = await runCli(['inspect', join(FIXTURES, 'saved_model_half_plus_two_cpu')]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /The given SavedModel contains the following tag-sets:\n'serve'\n/);
    assert.match(
      res.stdout,
      /signature_def\['serving_default'\]:\n {2}The given SavedModel SignatureDef contains the following input\(s\):\n {4}inputs\['x'\] tensor_info:\n {8}dtype: DT_FLOAT\n {8}shape: \(-1, 1\)\n {8}name: x:0\n/,
    );
    assert.match(res.stdout, /Method name is: tensorflow\/serving\/classify\n {2}flowserve: servable\n/);
    assert.match(res.stdout, /\n {2}a: DT_FLOAT \(\)\n {2}a2: DT_FLOAT \(\)\n {2}b: DT_FLOAT \(\)\n/);
    assert.match(res.stdout, /\n {2}ParseExample ×1 {2}\[tf.Examples parsed on the host\]\n/);
    assert.match(res.stdout, /\n {2}SaveV2 ×1 {2}\[unsupported; on no signature path\]\n/);
    assert.match(res.stdout, /\n {2}Mul ×3\n/);
  });

  it('inspect reads a SessionBundle, with the signatures TF Serving up-converts', async () => {
    const res = await runCli(['inspect', join(FIXTURES, 'session_bundle_half_plus_two/00000123/export.meta')]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(
      res.stdout,
      /signature_def\['serving_default'\]:[^]*name: tf_example:0[^]*tensorflow\/serving\/regress/,
    );
    assert.match(res.stdout, /signature_def\['predict'\]:[^]*name: x:0[^]*flowserve: servable/);
  });

  it('inspect infers a frozen GraphDef’s signature: placeholders in, unconsumed nodes out', async () => {
    const res = await runCli(['inspect', frozen]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /inputs\['x'\] tensor_info:\n {8}dtype: DT_FLOAT\n {8}shape: \(-1, 3, 3\)\n {8}name: x:0/);
    assert.match(
      res.stdout,
      /outputs\['y'\] tensor_info:\n {8}dtype: DT_FLOAT\n {8}shape: \(-1, 3, 3\)\n {8}name: y:0/,
    );
    assert.match(res.stdout, /Variables: none/);
  });

  it('convert writes a servable that serve loads without importing, and answers as TensorFlow Serving', async () => {
    const base = join(work, 'bundle');
    const res = await runCli(['convert', join(FIXTURES, 'session_bundle_half_plus_two'), join(base, '7')]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /Signatures: serving_default \(default\), predict/);
    const signatures = JSON.parse(readFileSync(join(base, '7', 'signatures.json'), 'utf8')) as {
      signatures: Record<string, { inputs: Record<string, { name: string }> }>;
    };
    assert.equal(signatures.signatures.predict?.inputs.x?.name, 'x:0');
    const again = await runCli(['convert', join(FIXTURES, 'session_bundle_half_plus_two'), join(base, '7')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /model\.onnx exists; pass --overwrite/);

    const server = await startServer({
      modelConfig: {
        models: [
          {
            name: 'converted',
            basePath: base,
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
      restPort: 0,
      log: () => undefined,
    });
    try {
      const answer = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/converted:predict`, {
        method: 'POST',
        body: JSON.stringify({ signature_name: 'predict', instances: [1.0, 2.0, 5.0] }),
      });
      assert.deepEqual(await answer.json(), { predictions: [2.5, 3.0, 4.5] });
      // The default signature regresses over tf.Examples, as TF Serving up-converts the bundle's default.
      const regressed = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/converted:regress`, {
        method: 'POST',
        body: JSON.stringify({ examples: [{ x: 2.0 }] }),
      });
      assert.deepEqual(await regressed.json(), { results: [3.0] });
    } finally {
      await server.close();
    }
  });

  it('convert takes a frozen GraphDef’s signature from --inputs and --outputs', async () => {
    const out = join(work, 'frozen', '1');
    const res = await runCli(['convert', frozen, out, '--inputs', 'x:0', '--outputs', 'y']);
    assert.equal(res.code, 0, res.stderr);
    const signatures = JSON.parse(readFileSync(join(out, 'signatures.json'), 'utf8')) as {
      default: string;
      signatures: Record<string, { inputs: Record<string, { dtype: string }>; outputs: Record<string, unknown> }>;
    };
    assert.equal(signatures.default, 'serving_default');
    assert.deepEqual(Object.keys(signatures.signatures.serving_default?.outputs ?? {}), ['y']);
    const missing = await runCli(['convert', frozen, join(work, 'frozen', '2'), '--outputs', 'nope:0']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /output 'nope:0' names no node of the graph/);
    assert.ok(missing.stderr.includes(frozen));
  });

  it('inspect and convert name the file of truncated or CRC-failing input', async () => {
    const copy = join(work, 'corrupt', '00000123');
    cpSync(join(FIXTURES, 'saved_model_half_plus_two_cpu/00000123'), copy, { recursive: true });
    const index = join(copy, 'variables', 'variables.index');
    chmodSync(index, 0o644);
    const bytes = readFileSync(index);
    bytes[3] = (bytes[3] as number) ^ 0xff;
    writeFileSync(index, bytes);
    const crc = await runCli(['inspect', copy]);
    assert.equal(crc.code, 1);
    assert.match(crc.stderr, /DataLoss: .*variables\.index: CRC mismatch in data block at offset 0/);

    const truncated = join(work, 'truncated.pb');
    writeFileSync(truncated, readFileSync(frozen).subarray(0, 100));
    const cut = await runCli(['convert', truncated, join(work, 'never')]);
    assert.equal(cut.code, 1);
    assert.ok(cut.stderr.startsWith(`DataLoss: ${truncated}: not a valid tensorflow.GraphDef`), cut.stderr);
    assert.equal(existsSync(join(work, 'never')), false);
  });

  it('inspect refuses a path that holds no TensorFlow model, listing the formats it reads', async () => {
    const res = await runCli(['inspect', join(FIXTURES, 'good_model_config.txt')]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /not a TensorFlow model flowserve can read; expected one of: TensorFlow SavedModel/);
  });
});
