import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument, Unimplemented } from '../../src/errors.js';
import { convertImportedModel } from '../../src/import/convert.js';
import type { ImportedModel, ImportedSignature } from '../../src/import/imported-model.js';
import { findExampleParsing } from '../../src/import/parse-example.js';
import type { NodeDefMsg } from '../../src/import/tf-messages.js';
import { parseExampleFeeds } from '../../src/serving/core/example-parsing.js';
import { textArray } from '../helpers/text-elements.js';

const DT_FLOAT = 1;
const DT_STRING = 7;
const DT_INT64 = 9;

function stringConst(name: string, values: string[], vector = true): NodeDefMsg {
  return {
    name,
    op: 'Const',
    attr: {
      dtype: { value: 'type', type: DT_STRING },
      value: {
        value: 'tensor',
        tensor: {
          dtype: DT_STRING,
          tensor_shape: { dim: vector ? [{ size: String(values.length) }] : [] },
          string_val: values.map((v) => Buffer.from(v)),
        },
      },
    },
  };
}

function numberConst(name: string, dtype: number, values: number[]): NodeDefMsg {
  const field = dtype === DT_INT64 ? { int64_val: values.map(String) } : { float_val: values };
  return {
    name,
    op: 'Const',
    attr: {
      dtype: { value: 'type', type: dtype },
      value: {
        value: 'tensor',
        tensor: { dtype, tensor_shape: { dim: [{ size: String(values.length) }] }, ...field },
      },
    },
  };
}

const shapeAttr = (shapes: number[][]) => ({
  value: 'list' as const,
  list: { shape: shapes.map((s) => ({ dim: s.map((d) => ({ size: String(d) })) })) },
});

/**
 * A TF2-style graph: serialized → ParseExampleV2(dense keys [label_id, weight, tag]) → Identity outputs. `weight`
 * has no default (required), `label_id` defaults to [7, 8], `tag` to ["none"].
 */
function v2Graph(options: { sparseKeys?: string[]; raggedKeys?: string[] } = {}): NodeDefMsg[] {
  return [
    { name: 'examples', op: 'Placeholder', attr: { dtype: { value: 'type', type: DT_STRING } } },
    stringConst('names', []),
    stringConst('sparse_keys', options.sparseKeys ?? []),
    stringConst('dense_keys', ['label_id', 'weight', 'tag']),
    stringConst('ragged_keys', options.raggedKeys ?? []),
    numberConst('label_default', DT_INT64, [7, 8]),
    numberConst('weight_default', DT_FLOAT, []),
    stringConst('tag_default', ['none']),
    { name: 'tag_default/reshaped', op: 'Reshape', input: ['tag_default', 'shape'] },
    numberConst('shape', 3, [1]),
    {
      name: 'parse',
      op: 'ParseExampleV2',
      input: [
        'examples',
        'names',
        'sparse_keys',
        'dense_keys',
        'ragged_keys',
        'label_default',
        'weight_default',
        'tag_default/reshaped',
      ],
      attr: {
        Tdense: { value: 'list', list: { type: [DT_INT64, DT_FLOAT, DT_STRING] } },
        dense_shapes: shapeAttr([[2], [1], [1]]),
        num_sparse: { value: 'i', i: String(options.sparseKeys?.length ?? 0) },
      },
    },
    { name: 'weight', op: 'Identity', input: ['parse:1'] },
    {
      name: 'two',
      op: 'Const',
      attr: {
        dtype: { value: 'type', type: DT_FLOAT },
        value: { value: 'tensor', tensor: { dtype: DT_FLOAT, tensor_shape: { dim: [] }, float_val: [2] } },
      },
    },
    { name: 'doubled', op: 'Mul', input: ['weight', 'two'] },
  ];
}

const regressSignature: ImportedSignature = {
  method: 'tensorflow/serving/regress',
  inputs: { inputs: { name: 'examples:0', dtype: 'string', shape: [null] } },
  outputs: { outputs: { name: 'doubled:0', dtype: 'float32', shape: [null, 1] } },
};

const byName = (nodes: NodeDefMsg[]) => new Map(nodes.map((n) => [n.name as string, n]));

describe('ParseExample import', () => {
  it('reads dense keys, dtypes, shapes and defaults (through Reshape), empty default = required', () => {
    const parsing = findExampleParsing(byName(v2Graph()), regressSignature, 'regress', 'model.pb');
    assert.ok(parsing);
    assert.equal(parsing.alias, 'inputs');
    assert.equal(parsing.node, 'parse');
    assert.deepEqual(
      parsing.features.map((f) => [
        f.key,
        f.output,
        f.dtype,
        f.shape,
        f.defaultValue && f.defaultValue.dtype === 'string' ? textArray(f.defaultValue) : f.defaultValue?.toArray(),
      ]),
      [
        ['label_id', 'parse:0', 'int64', [2], [7n, 8n]],
        ['weight', 'parse:1', 'float32', [1], undefined],
        ['tag', 'parse:2', 'string', [1], ['none']],
      ],
    );
  });

  it('refuses sparse and ragged features with an error naming them', () => {
    assert.throws(
      () => findExampleParsing(byName(v2Graph({ sparseKeys: ['ids'] })), regressSignature, 'regress', 'model.pb'),
      (err: Error) => err instanceof Unimplemented && /signature 'regress'.*sparse features \[ids\]/.test(err.message),
    );
    assert.throws(
      () => findExampleParsing(byName(v2Graph({ raggedKeys: ['r'] })), regressSignature, 'regress', 'model.pb'),
      (err: Error) => err instanceof Unimplemented && /ragged features \[r\]/.test(err.message),
    );
  });

  const model = (signatures: Record<string, ImportedSignature>): ImportedModel => ({
    format: 'saved_model',
    source: 'model.pb',
    tags: ['serve'],
    nodes: v2Graph(),
    functions: [],
    signatures,
    skippedSignatures: {},
    readVariables: async () => new Map(),
  });

  it('converts the signature so that the host parses the examples and the model takes the dense feature', async () => {
    const converted = await convertImportedModel(model({ regress: regressSignature }));
    const signature = converted.signatureFile.signatures.regress;
    assert.ok(signature?.parseExamples);
    // TF's view stays in the signature (metadata), the features say what the model takes.
    assert.deepEqual(signature.inputs.inputs, { name: 'examples:0', dtype: 'string', shape: [-1] });
    assert.deepEqual(signature.parseExamples, {
      input: 'inputs',
      features: {
        label_id: { dtype: 'int64', shape: [2], defaultValue: ['7', '8'], tensors: [] },
        weight: { dtype: 'float32', shape: [1], tensors: ['parse:1'] },
        tag: { dtype: 'string', shape: [1], defaultValue: ['none'], tensors: [] },
      },
    });
    const feeds = parseExampleFeeds(signature.parseExamples, [
      { weight: { kind: 'float_list', values: [1.5] } },
      { weight: { kind: 'float_list', values: [-2] }, label_id: { kind: 'int64_list', values: [1n, 2n] } },
    ]);
    assert.deepEqual(Object.keys(feeds), ['parse:1']);
    assert.deepEqual(feeds['parse:1']?.toArray(), [[1.5], [-2]]);
  });

  it('feeds a parsed feature into the copy that another signature feeds (one graph, one set of inputs)', async () => {
    const predict: ImportedSignature = {
      method: 'tensorflow/serving/predict',
      inputs: { weight: { name: 'weight:0', dtype: 'float32', shape: [null, 1] } },
      outputs: { doubled: { name: 'doubled:0', dtype: 'float32', shape: [null, 1] } },
    };
    const converted = await convertImportedModel(model({ regress: regressSignature, serving_default: predict }));
    assert.deepEqual(converted.signatureFile.signatures.regress?.parseExamples?.features.weight?.tensors, ['weight:0']);
    assert.deepEqual(converted.skipped, {});
  });
});

describe('tf.Example parsing on the host', () => {
  const spec = {
    input: 'inputs',
    features: {
      label_id: { dtype: 'int64' as const, shape: [2], defaultValue: ['7', '8'], tensors: ['l'] },
      weight: { dtype: 'float32' as const, shape: [1], tensors: ['w'] },
      tag: { dtype: 'string' as const, shape: [1], defaultValue: ['none'], tensors: ['t'] },
    },
  };

  it('fills absent features with their defaults and checks list type and value count', () => {
    const feeds = parseExampleFeeds(spec, [
      { weight: { kind: 'float_list', values: [1] } },
      { weight: { kind: 'json', values: [2] }, tag: { kind: 'bytes_list', values: [Buffer.from('cat')] } },
    ]);
    assert.deepEqual(feeds.l?.toArray(), [
      [7n, 8n],
      [7n, 8n],
    ]);
    assert.deepEqual(textArray(feeds.t), [['none'], ['cat']]);
    assert.deepEqual(feeds.w?.shape, [2, 1]);
    assert.throws(
      () => parseExampleFeeds(spec, [{ weight: { kind: 'int64_list', values: [1n] } }]),
      (err: Error) =>
        err instanceof InvalidArgument &&
        /Key: weight, Index: 0\. +Data types don't match\. Data type: int64 but expected type: float/.test(err.message),
    );
    assert.throws(
      () =>
        parseExampleFeeds(spec, [
          { weight: { kind: 'float_list', values: [1] }, label_id: { kind: 'int64_list', values: [1n] } },
        ]),
      (err: Error) =>
        /Key: label_id, Index: 0\. +Number of int64 values != expected\. +Values size: 1 but output shape: \[2\]/.test(
          err.message,
        ),
    );
    assert.throws(
      () => parseExampleFeeds(spec, [{}]),
      (err: Error) => /Feature: weight \(data type: float\) is required but could not be found/.test(err.message),
    );
  });
});
