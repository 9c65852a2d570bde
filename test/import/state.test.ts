/**
 * What a run of an imported graph reads and updates (src/import/state.ts, convert.ts): TensorFlow's order through
 * control edges, chained updates of one variable in a run, the converted model's state inputs/outputs and its
 * state.onnx, and `inspect` marking stateful signatures. Models are run here with ONNX Runtime directly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { convertImportedModel, type ConvertedModel } from '../../src/import/convert.js';
import { inspectModel } from '../../src/import/inspect.js';
import { readSavedModel } from '../../src/import/saved-model.js';
import { compileModel } from '../../src/runtime/ort.js';
import { tf1CounterText, tf2CounterText, writeTf1Counter, writeTf2Counter } from './counter-saved-model-fixture.js';

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-state-'));
let dirs = 0;

async function converted(write: (dir: string) => void): Promise<ConvertedModel> {
  const dir = join(tmp, String(dirs++));
  write(dir);
  return convertImportedModel(await readSavedModel(dir));
}

/** Runs signature `key` once from `state` (ONNX input → value): its output `value` and the new state. */
async function runOnce(
  model: ConvertedModel,
  key: string,
  state: Record<string, HostTensor>,
  inputs: Record<string, HostTensor> = {},
): Promise<{ value: number; state: Record<string, HostTensor> }> {
  const session = await compileModel(model.model, { executionProviders: ['cpu'] });
  try {
    const sig = model.signatureFile.signatures[key];
    assert.ok(sig, key);
    const feeds: Record<string, HostTensor> = { ...state };
    for (const name of session.inputNames) feeds[name] ??= HostTensor.zeros('float32', []);
    for (const [alias, t] of Object.entries(inputs)) feeds[sig.inputs[alias]?.name as string] = t;
    const valueName = sig.outputs.value?.name as string;
    const results = await session.run(feeds, [valueName, ...(sig.state ?? []).map((s) => s.output)]);
    const next = { ...state };
    for (const s of sig.state ?? []) next[s.input] = results[s.output] as HostTensor;
    return { value: (results[valueName] as HostTensor).toNumbers()[0] as number, state: next };
  } finally {
    await session.release();
  }
}

async function initialState(model: ConvertedModel): Promise<Record<string, HostTensor>> {
  assert.ok(model.stateModel, 'a stateful model comes with state.onnx');
  const session = await compileModel(model.stateModel, { executionProviders: ['cpu'] });
  try {
    return (await session.run({})) as Record<string, HostTensor>;
  } finally {
    await session.release();
  }
}

describe('imported variable updates', () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('makes updated variables inputs with new-value outputs, and keeps read-only variables frozen', async () => {
    const model = await converted((d) => writeTf1Counter(d, 5));
    const { increment, read, increment_by } = model.signatureFile.signatures;
    assert.deepEqual(increment?.state, [{ variable: 'counter', input: 'var/counter', output: 'state/AssignAdd' }]);
    assert.deepEqual(increment_by?.state, [{ variable: 'counter', input: 'var/counter', output: 'AssignAdd_1:0' }]);
    assert.equal(read?.state, undefined);
    const state = await initialState(model);
    assert.deepEqual(Object.keys(state), ['var/counter']);
    assert.deepEqual(state['var/counter']?.toNumbers(), [5]);
  });

  it('a read ordered after the update by a control edge sees the new value; one without sees the old', async () => {
    const model = await converted((d) => writeTf1Counter(d, 5));
    const state = await initialState(model);
    const first = await runOnce(model, 'increment', state);
    assert.equal(first.value, 6);
    assert.equal((await runOnce(model, 'read', first.state)).value, 6);
    assert.equal((await runOnce(model, 'increment', first.state)).value, 7);
  });

  it('two updates of one variable in one run chain (the second adds to the first), through a NoOp group', async () => {
    const twice = tf1CounterText(
      [
        'node { name: "AssignAdd_twice_1" op: "AssignAdd" input: ["counter", "one"] attr { key: "T" value { type: DT_FLOAT } } }',
        'node { name: "group" op: "NoOp" input: "^AssignAdd_twice_1" }',
        'node { name: "AssignAdd_twice_2" op: "AssignAdd" input: ["counter", "one", "^group"] attr { key: "T" value { type: DT_FLOAT } } }',
        'node { name: "twice" op: "Identity" input: ["counter", "^AssignAdd_twice_2"] attr { key: "T" value { type: DT_FLOAT } } }',
      ],
      'signature_def { key: "twice" value { outputs { key: "value" value { name: "twice:0" dtype: DT_FLOAT tensor_shape { } } } method_name: "tensorflow/serving/predict" } }',
    );
    const model = await converted((d) => writeTf1Counter(d, 5, twice));
    assert.equal(model.signatureFile.signatures.twice?.state?.[0]?.output, 'state/AssignAdd_twice_2');
    const run = await runOnce(model, 'twice', await initialState(model));
    assert.equal(run.value, 7);
    assert.deepEqual(run.state['var/counter']?.toNumbers(), [7]);
  });

  it('resource variables inside StatefulPartitionedCall: the function read after AssignAddVariableOp sees it', async () => {
    const model = await converted((d) => writeTf2Counter(d, 10));
    const state = await initialState(model);
    assert.deepEqual(state['var/v']?.toNumbers(), [10]);
    const first = await runOnce(model, 'increment', state);
    assert.equal(first.value, 11);
    assert.equal((await runOnce(model, 'increment', first.state)).value, 12);
    assert.equal((await runOnce(model, 'read', first.state)).value, 11);
  });

  it("a TF2 function's control_ret update runs even when the returned value does not depend on it", async () => {
    const model = await converted((d) => {
      writeTf2Counter(d, 10);
      const text = tf2CounterText()
        .replace('input: ["resource", "^AssignAddVariableOp"]', 'input: "resource"')
        .replace('input: ["ReadVariableOp:value:0", "^AssignAddVariableOp"]', 'input: "ReadVariableOp:value:0"');
      writeFileSync(join(d, 'saved_model.pbtxt'), text);
    });
    const run = await runOnce(model, 'increment', await initialState(model));
    assert.deepEqual(run.state['var/v']?.toNumbers(), [11]);
  });

  it('a model that updates nothing has no state and no state.onnx', async () => {
    const model = await converted((d) =>
      writeTf1Counter(
        d,
        5,
        tf1CounterText().replace(/signature_def \{ key: "(increment|increment_by|reset|add_each)".*\n/g, ''),
      ),
    );
    assert.deepEqual(Object.keys(model.signatureFile.signatures), ['read']);
    assert.equal(model.stateModel, undefined);
    assert.equal(model.signatureFile.signatures.read?.state, undefined);
  });

  it('inspect marks the signatures that update variables', async () => {
    const dir = join(tmp, 'inspect');
    writeTf1Counter(dir, 5);
    const { text } = await inspectModel(dir);
    assert.match(text, /signature_def\['increment'\]:[\s\S]*?flowserve: servable, stateful: updates variable counter/);
    assert.match(text, /signature_def\['read'\]:[\s\S]*?flowserve: servable\n/);
  });
});
