import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../src/errors.js';
import { decodeMessage, importMessageType } from '../../src/import/protos.js';
import { readSavedModel } from '../../src/import/saved-model.js';
import { messageFromTextFormat } from '../../src/import/text-proto.js';
import type { SavedModelMsg } from '../../src/import/tf-messages.js';
import { HALF_PLUS_TWO_PBTXT } from './text-saved-model-fixture.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';

/** A minimal text-format printer (as TF's MessageToString), driven by the same reflection, for round trips. */
function printText(message: protobuf.Message, type: protobuf.Type, indent = ''): string {
  let out = '';
  const scalar = (field: protobuf.Field, v: unknown): string => {
    if (field.resolvedType instanceof protobuf.Enum) return field.resolvedType.valuesById[v as number] ?? String(v);
    if (v instanceof Uint8Array || typeof v === 'string') {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
      return (
        '"' +
        [...bytes]
          .map((b) =>
            b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
              ? String.fromCharCode(b)
              : '\\' + b.toString(8).padStart(3, '0'),
          )
          .join('') +
        '"'
      );
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v).replace('Infinity', 'inf');
    return String(v);
  };
  const one = (field: protobuf.Field, v: unknown, name = field.name): string =>
    field.resolvedType instanceof protobuf.Type
      ? `${indent}${name} {\n${printText(v as protobuf.Message, field.resolvedType, indent + '  ')}${indent}}\n`
      : `${indent}${name}: ${scalar(field, v)}\n`;
  for (const field of type.fieldsArray) {
    field.resolve();
    // Decoding sets own properties only for the fields the bytes hold (defaults live on the prototype).
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = (message as unknown as Record<string, unknown>)[field.name];
    if (field instanceof protobuf.MapField) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out += `${indent}${field.name} {\n${indent}  key: ${field.keyType === 'string' ? scalar(field, k) : k}\n`;
        out += one(field, v, 'value').replace(/^(?=.)/gm, '  ') + `${indent}}\n`;
      }
    } else if (field.repeated) {
      for (const v of value as unknown[]) out += one(field, v);
    } else {
      out += one(field, value);
    }
  }
  return out;
}

describe('text-format protobuf messages (saved_model.pbtxt)', () => {
  it('reads a hand-written SavedModel: enums by name, maps as entries, int64 as strings, escaped bytes', () => {
    const model = messageFromTextFormat<SavedModelMsg>('tensorflow.SavedModel', HALF_PLUS_TWO_PBTXT, 'hand.pbtxt');
    const graph = model.meta_graphs?.[0];
    assert.deepEqual(graph?.meta_info_def?.tags, ['serve']);
    const nodes = graph?.graph_def?.node ?? [];
    assert.deepEqual(
      nodes.map((n) => n.op),
      ['Placeholder', 'Const', 'Const', 'Mul', 'AddV2'],
    );
    assert.deepEqual(nodes[4]?.input, ['ax', 'b']);
    assert.deepEqual(nodes[0]?.attr?.shape?.shape?.dim, [{ size: '-1' }, { size: '3' }]);
    assert.equal(nodes[0]?.attr?.dtype?.type, 1); // DT_FLOAT
    assert.deepEqual(nodes[2]?.attr?.value?.tensor?.tensor_content, Buffer.from([0, 0, 0, 0x40]));
    const sig = graph?.signature_def?.serving_default;
    assert.equal(sig?.method_name, 'tensorflow/serving/predict');
    assert.equal(sig?.inputs?.x?.name, 'x:0');
  });

  for (const dir of ['matrix_half_plus_two/1', 'saved_model_half_plus_two_tf2_cpu/00000123']) {
    it(`round-trips ${dir}/saved_model.pb printed as text to the same message as the binary`, () => {
      const path = join(TF_SERVING_FIXTURES, dir, 'saved_model.pb');
      const bytes = readFileSync(path);
      const type = importMessageType('tensorflow.SavedModel');
      const text = printText(type.decode(bytes), type);
      const fromText = messageFromTextFormat('tensorflow.SavedModel', Buffer.from(text).toString('latin1'), 'x');
      assert.deepEqual(fromText, decodeMessage('tensorflow.SavedModel', bytes));
    });
  }

  it('keeps 64-bit integers exact and reads hex, octal, inf and UTF-8 strings', () => {
    const shape = messageFromTextFormat<{ dim: { size: string; name?: string }[] }>(
      'tensorflow.TensorShapeProto',
      Buffer.from(
        'dim { size: 9223372036854775807 name: "é\\303\\251" } dim { size: 0x10 } dim { size: 010 }',
      ).toString('latin1'),
      'shape.pbtxt',
    );
    assert.deepEqual(shape.dim, [{ size: '9223372036854775807', name: 'éé' }, { size: '16' }, { size: '8' }]);
    const tensor = messageFromTextFormat<{ float_val: number[] }>(
      'tensorflow.TensorProto',
      'float_val: [1.5f, -inf, 2]',
      't.pbtxt',
    );
    assert.deepEqual(tensor.float_val, [1.5, -Infinity, 2]);
  });

  const bad: [string, string, RegExp][] = [
    [
      'an unknown field',
      'dim { size: 1 }\ndim { sise: 2 }',
      /bad\.pbtxt: line 2: unknown field 'sise' in tensorflow\.TensorShapeProto\.Dim/,
    ],
    ['an int64 out of range', 'dim {\n size: 9223372036854775808 }', /line 2: .*'size'.* out of range for int64/],
    ['a float where an integer belongs', 'dim { size: 1.5 }', /line 1: .*'size'.* expects an integer/],
    ['a missing brace', 'dim {\n size: 1\n', /bad\.pbtxt: line 3: expected '}'/],
    ['a singular field given twice', 'unknown_rank: true\nunknown_rank: false', /line 2: .*given twice/],
    ['a message where a scalar belongs', 'unknown_rank { }', /expects a bool, found a message/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the file and line`, () => {
      assert.throws(
        () => messageFromTextFormat('tensorflow.TensorShapeProto', text, 'bad.pbtxt'),
        (err) => err instanceof InvalidArgument && message.test(err.message),
      );
    });
  }

  it('refuses an unknown enum name and invalid UTF-8 in a string', () => {
    assert.throws(
      () => messageFromTextFormat('tensorflow.TensorProto', 'dtype: DT_FLOTE', 'e.pbtxt'),
      /e\.pbtxt: line 1: field 'dtype' in tensorflow\.TensorProto expects a DataType name, found 'DT_FLOTE'/,
    );
    assert.throws(
      () => messageFromTextFormat('tensorflow.TensorShapeProto', 'dim { name: "\\377" }', 'u.pbtxt'),
      /u\.pbtxt: line 1: .*valid UTF-8/,
    );
  });

  it('refuses messages nested too deeply for the stack as a bad file, not a crash', () => {
    assert.throws(
      () =>
        messageFromTextFormat('tensorflow.AttrValue', 'func { attr { key: "a" value { '.repeat(20000), 'deep.pbtxt'),
      (err) => err instanceof InvalidArgument && /deep\.pbtxt: messages nested too deeply/.test(err.message),
    );
  });

  it('readSavedModel reads saved_model.pbtxt and names file and line when it is malformed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pbtxt-'));
    try {
      await writeFile(join(dir, 'saved_model.pbtxt'), HALF_PLUS_TWO_PBTXT);
      const model = await readSavedModel(dir);
      assert.equal(model.source, join(dir, 'saved_model.pbtxt'));
      assert.deepEqual(Object.keys(model.signatures), ['serving_default']);
      const mulLine = HALF_PLUS_TWO_PBTXT.split('\n').findIndex((l) => l.includes('op: "Mul"')) + 1;
      await writeFile(join(dir, 'saved_model.pbtxt'), HALF_PLUS_TWO_PBTXT.replace('op: "Mul"', 'op: Mul"'));
      await assert.rejects(readSavedModel(dir), (err) => {
        assert.ok(err instanceof InvalidArgument, String(err));
        assert.match(
          err.message,
          new RegExp(`${join(dir, 'saved_model.pbtxt')}: line ${mulLine}: unterminated string`),
        );
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
