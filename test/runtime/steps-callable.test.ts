import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';

const quiet = { logger: () => {} };

/**
 * A tiny training step: loss = Σ (v·x)², v ← v − 0.01·v·x·x (fetching the loss computed from the value before the
 * update), and a step counter; `scale` is read and never written.
 */
function stepGraph(split = false) {
  const g = new fs.Graph();
  const parts = fs.withGraph(g, () => {
    const x = fs.placeholder('float32', { shape: [null, 3], name: 'x' });
    const v = new fs.Variable([0.5, -1.25, 2], { name: 'v' });
    const scale = new fs.Variable([0.01], { name: 'scale' });
    const counter = new fs.Variable(0, { name: 'counter' });
    const vx = fs.mul(x, v.value);
    const loss = fs.reduceSum(fs.mul(vx, vx), undefined, { name: 'loss' });
    const grad = g.device(split ? '/cpu:1' : '/cpu:0', () => fs.reduceMean(fs.mul(vx, x), 0));
    const update = v.assignSub(fs.mul(grad, scale.value));
    const tick = counter.assignAdd(fs.constant(1));
    const train = fs.group([update, tick]);
    return { x, v, counter, loss, train };
  });
  return { g, ...parts };
}

function batch(k: number): fs.HostTensor {
  return fs.HostTensor.from('float32', [
    [k * 0.37 - 1, 1.5 - k * 0.11, 0.25 * k],
    [Math.sin(k), Math.cos(k), 0.5],
  ]);
}

describe('Session.makeStepsCallable', () => {
  it('runs 4 steps per execution (and a remainder one at a time) to the same bits as one step per call', async () => {
    const one = stepGraph();
    const many = stepGraph();
    const s1 = new fs.Session(one.g, { ...quiet, deviceCount: { GPU: 0 } });
    const s4 = new fs.Session(many.g, { ...quiet, deviceCount: { GPU: 0 } });
    try {
      await s1.run(fs.globalVariablesInitializer(one.g));
      await s4.run(fs.globalVariablesInitializer(many.g));
      const single = await s1.makeCallable([one.loss], [one.x], [one.train]);
      const steps = await s4.makeStepsCallable([many.loss, many.train], [many.x], [], { stepsPerExecution: 4 });
      assert.equal(steps.stepsPerExecution, 4);
      const want: number[][] = [];
      for (let k = 0; k < 10; k++) want.push(((await single(batch(k)))[0] as fs.HostTensor).toNumbers() as number[]);
      const got: number[][] = [];
      for (const ks of [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ]) {
        for (const [loss, train] of await steps(ks.map((k) => [batch(k)]))) {
          assert.equal(train, null);
          got.push((loss as fs.HostTensor).toNumbers() as number[]);
        }
      }
      assert.deepEqual(got, want);
      assert.deepEqual((await s4.readVariable(many.v)).toNumbers(), (await s1.readVariable(one.v)).toNumbers());
      assert.deepEqual((await s4.readVariable(many.counter)).toNumbers(), [10]);
      // The steps changed the variables: the check above is not of initial values.
      assert.notDeepEqual((await s4.readVariable(many.v)).toNumbers(), [0.5, -1.25, 2]);
    } finally {
      await s1.close();
      await s4.close();
    }
  });

  it('refuses a step count outside 1..100, more steps than it runs at once, and wrong feeds', async () => {
    const { g, x, loss, train } = stepGraph();
    const sess = new fs.Session(g, { ...quiet, deviceCount: { GPU: 0 } });
    try {
      await sess.run(fs.globalVariablesInitializer(g));
      for (const bad of [0, -1, 1.5, 101, Number.NaN]) {
        await assert.rejects(
          sess.makeStepsCallable([loss], [x], [train], { stepsPerExecution: bad }),
          /stepsPerExecution must be an integer from 1 to 100, got/,
        );
      }
      const steps = await sess.makeStepsCallable([loss], [x], [train], { stepsPerExecution: 2 });
      await assert.rejects(steps([[batch(0)], [batch(1)], [batch(2)]]), /runs 1 to 2 step\(s\) at a time, got 3/);
      await assert.rejects(steps([]), /runs 1 to 2 step\(s\) at a time, got 0/);
      await assert.rejects(steps([[batch(0)], []]), /The callable takes 1 feed value\(s\) \(x:0\), got 0/);
      await assert.rejects(
        steps([[batch(0)], [fs.HostTensor.from('float32', [1, 2, 3])]]),
        /Cannot feed value of shape \[3\] for Tensor 'x:0', which has shape \[\?,3\]/,
      );
      // A session closed while the unrolled model builds releases it and refuses.
      const building = sess.makeStepsCallable([loss], [x], [train], { stepsPerExecution: 3 });
      await sess.close();
      await assert.rejects(building, /closed Session/);
      await assert.rejects(steps([[batch(0)]]), /closed Session/);
    } finally {
      await sess.close();
    }
  });

  it('a step split over two devices fails to unroll, or runs one step at a time when asked to', async () => {
    const { g, x, v, loss, train } = stepGraph(true);
    const sess = new fs.Session(g, { ...quiet, deviceCount: { CPU: 2, GPU: 0 } });
    try {
      await sess.run(fs.globalVariablesInitializer(g));
      await assert.rejects(
        sess.makeStepsCallable([loss], [x], [train], { stepsPerExecution: 3 }),
        (err: unknown) =>
          err instanceof fs.Unimplemented &&
          /stepsPerExecution 3: .* the step runs as \d+ partitions/.test(err.message),
      );
      const steps = await sess.makeStepsCallable([loss], [x], [train], {
        stepsPerExecution: 3,
        whenNotUnrollable: 'one-at-a-time',
      });
      assert.equal(steps.stepsPerExecution, 1);
      await steps([[batch(0)]]);
      assert.notDeepEqual((await sess.readVariable(v)).toNumbers(), [0.5, -1.25, 2]);
    } finally {
      await sess.close();
    }
  });
});
