import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../../src/graph/graph.js';
import {
  constant,
  fans,
  getVariable,
  glorotUniform,
  ones,
  truncatedNormal,
  zeros,
} from '../../src/train/initializers.js';

const bytes = (data: ArrayBufferView) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

describe('initializers', () => {
  it('zeros, ones and constant fill the shape with the dtype asked for', () => {
    assert.deepEqual(zeros()([2, 2], 'float32').toNumbers(), [0, 0, 0, 0]);
    assert.deepEqual(ones()([3], 'int32').toNumbers(), [1, 1, 1]);
    const c = constant(0.1)([2], 'float64');
    assert.equal(c.dtype, 'float64');
    assert.deepEqual(c.toNumbers(), [0.1, 0.1]);
    assert.deepEqual(constant(5)([], 'int64').toArray(), 5n);
  });

  it('seeded initializers are reproducible to the bit and differ across seeds', () => {
    for (const make of [
      (seed: number) => glorotUniform({ seed }),
      (seed: number) => truncatedNormal({ stddev: 0.1, seed }),
    ]) {
      const a = make(42)([784, 10], 'float32');
      const b = make(42)([784, 10], 'float32');
      const c = make(43)([784, 10], 'float32');
      assert.ok(bytes(a.data as Float32Array).equals(bytes(b.data as Float32Array)));
      assert.ok(!bytes(a.data as Float32Array).equals(bytes(c.data as Float32Array)));
    }
  });

  it('glorotUniform stays within ±sqrt(6 / (fan_in + fan_out)), with conv fans counting the receptive field', () => {
    assert.deepEqual(fans([784, 10]), { fanIn: 784, fanOut: 10 });
    assert.deepEqual(fans([5, 5, 32, 64]), { fanIn: 800, fanOut: 1600 });
    const limit = Math.sqrt(6 / (784 + 10));
    const values = glorotUniform({ seed: 1 })([784, 10], 'float64').toNumbers();
    assert.ok(values.every((v) => Math.abs(v) <= limit));
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    assert.ok(Math.abs(mean) < limit / 20, `mean ${mean}`);
    // Uniform on [-l, l] has variance l²/3.
    const variance = values.reduce((s, v) => s + v * v, 0) / values.length;
    assert.ok(Math.abs(variance - (limit * limit) / 3) < 0.1 * ((limit * limit) / 3), `variance ${variance}`);
  });

  it('truncatedNormal never draws beyond two standard deviations and has about the truncated variance', () => {
    const values = truncatedNormal({ mean: 1, stddev: 0.5, seed: 9 })([20000], 'float64').toNumbers();
    assert.ok(values.every((v) => Math.abs(v - 1) <= 1.0));
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    assert.ok(Math.abs(mean - 1) < 0.01, `mean ${mean}`);
    // A standard normal truncated to [-2, 2] has variance ≈ 0.7737.
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
    assert.ok(Math.abs(variance / 0.25 - 0.7737) < 0.03, `variance ${variance}`);
  });

  it('getVariable creates a variable whose initial value comes from the initializer', () => {
    const graph = new Graph();
    const v = getVariable('W', [3, 2], { initializer: ones(), graph, trainable: false });
    assert.equal(v.name, 'W');
    assert.deepEqual(v.shape, [3, 2]);
    assert.equal(v.trainable, false);
    assert.equal(v.initialValue.op.type, 'Const');
  });
});
