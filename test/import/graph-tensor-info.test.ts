/** Dtypes and shapes read off a GraphDef, for signatures that name tensors without describing them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertImportedModel } from '../../src/import/convert.js';
import { GraphTensorInfoReader } from '../../src/import/graph-tensor-info.js';
import type { ImportedModel } from '../../src/import/imported-model.js';
import type { AttrValueMsg, NodeDefMsg } from '../../src/import/tf-messages.js';

const type = (code: number): AttrValueMsg => ({ value: 'type', type: code });
const shape = (...dims: number[]): AttrValueMsg => ({
  value: 'shape',
  shape: { dim: dims.map((d) => ({ size: String(d) })) },
});

const NODES: NodeDefMsg[] = [
  { name: 'serialized', op: 'Placeholder', attr: { dtype: type(7), shape: shape() } },
  {
    name: 'parse',
    op: 'ParseExample',
    input: ['serialized', 'names', 'key_x', 'default_x'],
    attr: {
      Nsparse: { value: 'i', i: '0' },
      Ndense: { value: 'i', i: '1' },
      Tdense: { value: 'list', list: { type: [1] } },
      dense_shapes: { value: 'list', list: { shape: [{ dim: [{ size: '3' }] }] } },
    },
  },
  { name: 'x', op: 'Identity', input: ['parse:0'], attr: { T: type(1) } },
  { name: 'w', op: 'Variable', attr: { dtype: type(1), shape: shape(1, 3) } },
  { name: 'y', op: 'Mul', input: ['x', 'w', '^serialized'], attr: { T: type(1) } },
];

describe('GraphTensorInfoReader', () => {
  it('follows Identity to ParseExample’s dense output: a batch of the dense shape', () => {
    assert.deepEqual(new GraphTensorInfoReader(NODES, 24).infoOf('x:0'), { dtype: 'float32', shape: [null, 3] });
  });

  it('broadcasts element-wise binary ops', () => {
    assert.deepEqual(new GraphTensorInfoReader(NODES, 24).infoOf('y'), { dtype: 'float32', shape: [null, 3] });
  });

  it('reads an empty Placeholder shape as a scalar, or as unknown in GraphDefs older than version 21', () => {
    assert.deepEqual(new GraphTensorInfoReader(NODES, 24).infoOf('serialized:0'), { dtype: 'string', shape: [] });
    assert.deepEqual(new GraphTensorInfoReader(NODES, 20).infoOf('serialized:0'), {
      dtype: 'string',
      shape: undefined,
    });
  });

  it('knows nothing of a node that is not there', () => {
    assert.deepEqual(new GraphTensorInfoReader(NODES).infoOf('nope:0'), { dtype: undefined, shape: undefined });
  });
});

describe('convertImportedModel errors', () => {
  it('name the model file when graph building fails on a node (a corrupt device string)', async () => {
    const model: ImportedModel = {
      format: 'frozen_graph',
      source: '/models/corrupt/graph.pb',
      tags: [],
      nodes: [
        { name: 'x', op: 'Placeholder', attr: { dtype: type(1), shape: shape(-1) } },
        { name: 'y', op: 'Identity', input: ['x'], device: '\u00ffdevice:CPU:0', attr: { T: type(1) } },
      ],
      functions: [],
      signatures: {
        serving_default: {
          method: 'tensorflow/serving/predict',
          inputs: { x: { name: 'x:0', dtype: 'float32', shape: [null] } },
          outputs: { y: { name: 'y:0', dtype: 'float32', shape: [null] } },
        },
      },
      skippedSignatures: {},
      readVariables: async () => new Map(),
    };
    await assert.rejects(convertImportedModel(model), (err: Error) => {
      assert.ok(err.message.startsWith('/models/corrupt/graph.pb: '), err.message);
      return true;
    });
  });
});
