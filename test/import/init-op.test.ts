/**
 * A SavedModel's init op (src/import/init-op.ts) runs at load after the checkpoint is restored, in TF's loader
 * order (`__saved_model_init_op` signature, `saved_model_main_op`, `legacy_init_op`): assignments change the
 * values the model starts from, a NoOp changes nothing, and an init op that needs ops flowserve cannot run fails
 * the load naming them. TF Serving's fixtures' own init ops (a string Assign, an asset path) run too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Unimplemented } from '../../src/errors.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { convertImportedModel, type ConvertedModel } from '../../src/import/convert.js';
import { inlineFunctionCalls } from '../../src/import/functions.js';
import { runInitOp } from '../../src/import/init-op.js';
import { readSavedModel } from '../../src/import/saved-model.js';
import { compileModel } from '../../src/runtime/ort.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';
import { tf1CounterText, writeTf1Counter } from './counter-saved-model-fixture.js';
import { textArray } from '../helpers/text-elements.js';

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-init-op-'));
let dirs = 0;

const float = 'attr { key: "T" value { type: DT_FLOAT } }';
const scalar = (name: string, v: number) =>
  `node { name: "${name}" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: ${v} } } } }`;
const mainOp = (collection: string, node: string) =>
  `collection_def { key: "${collection}" value { node_list { value: "${node}" } } }`;
const initSignature = (node: string) =>
  `signature_def { key: "__saved_model_init_op" value { outputs { key: "__saved_model_init_op" value { name: "${node}" tensor_shape { unknown_rank: true } } } } }`;

async function load(text: string, start = 5): Promise<{ dir: string; converted: ConvertedModel }> {
  const dir = join(tmp, String(dirs++));
  writeTf1Counter(dir, start, text);
  return { dir, converted: await convertImportedModel(await readSavedModel(dir)) };
}

/** The counter the converted model starts from: state.onnx's value of `var/counter`. */
async function startingCounter(converted: ConvertedModel): Promise<number> {
  const session = await compileModel(converted.stateModel as Uint8Array, { executionProviders: ['cpu'] });
  try {
    return ((await session.run({}))['var/counter'] as HostTensor).toNumbers()[0] as number;
  } finally {
    await session.release();
  }
}

describe('SavedModel init ops', () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('saved_model_main_op assigning the counter from a constant replaces the checkpoint value', async () => {
    const text = tf1CounterText(
      [
        scalar('init/value', 42),
        `node { name: "init/Assign" op: "Assign" input: ["counter", "init/value"] ${float} }`,
        'node { name: "init" op: "NoOp" input: "^init/Assign" }',
      ],
      mainOp('saved_model_main_op', 'init'),
    );
    const { converted } = await load(text, 5);
    assert.equal(await startingCounter(converted), 42);
  });

  it('legacy_init_op: AssignAdd then AssignSub ordered by a control edge, reading the restored value', async () => {
    const text = tf1CounterText(
      [
        scalar('init/ten', 10),
        scalar('init/three', 3),
        `node { name: "init/add" op: "AssignAdd" input: ["counter", "init/ten"] ${float} }`,
        `node { name: "init/sub" op: "AssignSub" input: ["counter", "init/three", "^init/add"] ${float} }`,
        'node { name: "legacy_init" op: "NoOp" input: "^init/sub" }',
      ],
      mainOp('legacy_init_op', 'legacy_init'),
    );
    const { converted } = await load(text, 5);
    assert.equal(await startingCounter(converted), 12);
  });

  it("TF2's __saved_model_init_op signature wins over the collections, as in TF's loader", async () => {
    const text = tf1CounterText(
      [
        scalar('a', 1),
        scalar('b', 2),
        `node { name: "assign_a" op: "Assign" input: ["counter", "a"] ${float} }`,
        `node { name: "assign_b" op: "Assign" input: ["counter", "b"] ${float} }`,
        'node { name: "NoOp_a" op: "NoOp" input: "^assign_a" }',
        'node { name: "NoOp_b" op: "NoOp" input: "^assign_b" }',
      ],
      `${initSignature('NoOp_b')} ${mainOp('saved_model_main_op', 'NoOp_a')}`,
    );
    const { converted } = await load(text, 5);
    assert.equal(await startingCounter(converted), 2);
  });

  it('an init op that is a bare NoOp changes nothing', async () => {
    const text = tf1CounterText(['node { name: "init" op: "NoOp" }'], initSignature('init'));
    const { converted } = await load(text, 5);
    assert.equal(await startingCounter(converted), 5);
  });

  it('an init op that needs a lookup table from an asset file fails the load, naming the op types', async () => {
    const text = tf1CounterText(
      [
        'node { name: "vocab_path" op: "Const" attr { key: "dtype" value { type: DT_STRING } } attr { key: "value" value { tensor { dtype: DT_STRING tensor_shape { } string_val: "vocab.txt" } } } }',
        'node { name: "table" op: "HashTableV2" attr { key: "key_dtype" value { type: DT_STRING } } attr { key: "value_dtype" value { type: DT_INT64 } } }',
        'node { name: "table/init" op: "InitializeTableFromTextFileV2" input: ["table", "vocab_path"] }',
        'node { name: "init_all_tables" op: "NoOp" input: "^table/init" }',
      ],
      mainOp('saved_model_main_op', 'init_all_tables'),
    );
    const dir = join(tmp, 'table');
    writeTf1Counter(dir, 5, text);
    await assert.rejects(convertImportedModel(await readSavedModel(dir)), (err: Error) => {
      assert.ok(err instanceof Unimplemented, String(err));
      assert.match(
        err.message,
        /saved_model\.pbtxt: the SavedModel's init op 'init_all_tables' needs 2 op types that flowserve cannot run at load: HashTableV2 \(node 'table'\), InitializeTableFromTextFileV2 \(node 'table\/init'\)/,
      );
      return true;
    });
  });

  it("runs TF Serving's fixtures' init ops: a string Assign (TF1) and an asset path fed to a placeholder (TF2)", async () => {
    const tf1 = await readSavedModel(join(TF_SERVING_FIXTURES, 'saved_model_half_plus_two_cpu', '00000123'));
    assert.equal(tf1.initOp?.node, 'group_deps');
    const v1 = runInitOp(tf1.nodes, tf1.initOp as NonNullable<typeof tf1.initOp>, await tf1.readVariables(), 'tf1');
    assert.deepEqual(textArray(v1.get('filename_tensor')), 'foo.txt');

    const tf2dir = join(TF_SERVING_FIXTURES, 'saved_model_half_plus_two_tf2_cpu', '00000123');
    const tf2 = await readSavedModel(tf2dir);
    assert.equal(tf2.initOp?.node, 'NoOp');
    const nodes = inlineFunctionCalls(tf2.nodes, tf2.functions, tf2.source);
    const v2 = runInitOp(nodes, tf2.initOp as NonNullable<typeof tf2.initOp>, await tf2.readVariables(), 'tf2');
    assert.deepEqual(textArray(v2.get('Variable')), join(tf2dir, 'assets', 'foo.txt'));
  });
});
