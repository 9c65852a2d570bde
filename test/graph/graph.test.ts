import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';

describe('Graph', () => {
  it('names ops uniquely the way TensorFlow does (a, a_1, a_2)', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const names = [fs.constant(1, { name: 'a' }), fs.constant(2, { name: 'a' }), fs.constant(3, { name: 'a' })].map(
        (t) => t.op.name,
      );
      assert.deepEqual(names, ['a', 'a_1', 'a_2']);
      assert.equal(fs.constant(4).op.name, 'Const');
      assert.equal(fs.constant(5).op.name, 'Const_1');
    });
  });

  it('prefixes names with nested name scopes and uniquifies the scopes', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const inner = g.nameScope('layer', () => g.nameScope('dense', () => fs.constant(1, { name: 'w' })));
      const again = g.nameScope('layer', () => fs.constant(1, { name: 'w' }));
      assert.equal(inner.op.name, 'layer/dense/w');
      assert.equal(again.op.name, 'layer_1/w');
    });
  });

  it('merges nested device scopes field by field and clears them with null', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const a = g.device('/job:worker', () => g.device('/gpu:1', () => fs.constant(1)));
      const b = g.device('/device:GPU:1', () => g.device('/device:CPU', () => fs.constant(1)));
      const c = g.device('/cpu:0', () => g.device(null, () => fs.constant(1)));
      assert.equal(a.op.requestedDevice, '/job:worker/device:GPU:1');
      assert.equal(b.op.requestedDevice, '/device:CPU:1');
      assert.equal(c.op.requestedDevice, '');
    });
  });

  it('records control dependencies of ops created inside the scope', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const first = fs.constant(1, { name: 'first' });
      const second = g.controlDependencies([first], () => fs.constant(2, { name: 'second' }));
      assert.deepEqual(
        second.op.controlInputs.map((o) => o.name),
        ['first'],
      );
    });
  });

  it('keeps symbolic dtype and shape, with -1 or null for unknown dims', () => {
    const g = new fs.Graph();
    const x = fs.withGraph(g, () => fs.placeholder('float32', { shape: [-1, 784], name: 'x' }));
    assert.equal(x.dtype, 'float32');
    assert.deepEqual(x.shape, [null, 784]);
    assert.equal(x.name, 'x:0');
    assert.equal(g.tensor('x:0'), x);
    assert.throws(() => g.tensor('nope:0'), /does not exist/);
  });

  it('rejects a matmul whose inner dimensions differ, naming the op and both shapes', () => {
    const g = new fs.Graph();
    fs.withGraph(g, () => {
      const a = fs.constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' });
      assert.throws(
        () => fs.matmul(a, a, { name: 'bad' }),
        (err: Error) => /'bad'/.test(err.message) && /\[2,3\], \[2,3\]/.test(err.message),
      );
    });
  });

  it('refuses inputs from another graph', () => {
    const a = fs.withGraph(new fs.Graph(), () => fs.constant(1));
    const b = fs.withGraph(new fs.Graph(), () => fs.constant(1));
    assert.throws(() => fs.add(a, b), /same graph/);
  });
});
