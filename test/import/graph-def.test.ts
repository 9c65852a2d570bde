import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Unimplemented } from '../../src/errors.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { importGraphDef } from '../../src/import/graph-def.js';
import type { NodeDefMsg } from '../../src/import/tf-messages.js';
import { Session } from '../../src/runtime/session.js';

const floatConst = (name: string, value: number): NodeDefMsg => ({
  name,
  op: 'Const',
  attr: {
    dtype: { value: 'type', type: 1 },
    value: { value: 'tensor', tensor: { dtype: 1, tensor_shape: { dim: [] }, float_val: [value] } },
  },
});

describe('GraphDef import', () => {
  it('imports only what the fetches need, so unmapped ops off that path never matter', async () => {
    const nodes: NodeDefMsg[] = [
      { name: 'x', op: 'Placeholder', attr: { dtype: { value: 'type', type: 1 } } },
      floatConst('half', 0.5),
      { name: 'y', op: 'Mul', input: ['half', 'x'] },
      { name: 'saver', op: 'SaveV2', input: ['y'] },
    ];
    const imported = importGraphDef(nodes, {
      feeds: new Map([['x:0', { dtype: 'float32', shape: [null] }]]),
      fetches: ['y:0'],
    });
    const session = new Session(imported.graph);
    try {
      const y = await session.run(imported.tensor('y'), [[imported.tensor('x:0'), HostTensor.from('float32', [4, 6])]]);
      assert.deepEqual(y.toArray(), [2, 3]);
    } finally {
      await session.close();
    }
  });

  it('fails listing every unmapped op type once, each with one node that uses it', () => {
    const nodes: NodeDefMsg[] = [
      {
        name: 'x',
        op: 'Placeholder',
        attr: { dtype: { value: 'type', type: 1 }, shape: { value: 'shape', shape: { dim: [] } } },
      },
      { name: 'a', op: 'Switch', input: ['x', 'x'] },
      { name: 'b', op: 'Switch', input: ['a', 'x'] },
      { name: 'c', op: 'Merge', input: ['b', 'a'] },
    ];
    assert.throws(
      () => importGraphDef(nodes, { feeds: new Map(), fetches: ['c:0'], source: 'model.pb' }),
      (err: Error) =>
        err instanceof Unimplemented &&
        /model\.pb: the graph uses 2 TensorFlow op types that flowserve cannot import: Switch \(node 'a'\), Merge \(node 'c'\)/.test(
          err.message,
        ),
    );
  });

  it('names the missing node when a fetch is not in the graph', () => {
    assert.throws(
      () => importGraphDef([floatConst('c', 1)], { feeds: new Map(), fetches: ['nothere:0'] }),
      /fetch 'nothere:0' names node 'nothere', which is not in the graph/,
    );
  });
});
