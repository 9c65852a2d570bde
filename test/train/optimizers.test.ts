import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, withGraph, type Operation, type Tensor } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { constant } from '../../src/ops/convert.js';
import { square, sub } from '../../src/ops/math.js';
import { reduceSum } from '../../src/ops/reduce.js';
import { placeholder } from '../../src/ops/source.js';
import { globalVariablesInitializer, Variable } from '../../src/ops/variables.js';
import { Session } from '../../src/runtime/session.js';
import {
  AdamOptimizer,
  GradientDescentOptimizer,
  getOrCreateGlobalStep,
  MomentumOptimizer,
  type Optimizer,
} from '../../src/train/optimizers.js';

const W0 = [1.5, -2, 0.25];
const TARGET = [0.5, 1, -3];
/** d/dw of sum((w - target)²), in float64. */
const grad = (w: readonly number[]) => w.map((x, i) => 2 * (x - (TARGET[i] as number)));

/** A float64 quadratic loss sum((w - target)^2) minimised by `makeOptimizer`; returns w after each step. */
async function train(
  makeOptimizer: () => Optimizer,
  steps: number,
  feed?: (graph: Graph) => [Tensor, number],
): Promise<{ history: number[][]; graph: Graph; optimizer: Optimizer; session: Session; step: Variable }> {
  const graph = new Graph();
  const { trainOp, w, init, step, fed, optimizer } = withGraph(graph, () => {
    const w = new Variable(constant(W0, { dtype: 'float64' }), { name: 'w' });
    const loss = reduceSum(square(sub(w.value, constant(TARGET, { dtype: 'float64' }))));
    const step = getOrCreateGlobalStep(graph);
    const fed = feed?.(graph);
    const optimizer = makeOptimizer();
    const trainOp: Operation = optimizer.minimize(loss, { globalStep: step });
    return { trainOp, w, init: globalVariablesInitializer(graph), step, fed, optimizer };
  });
  const session = new Session(graph, { logger: () => {} });
  await session.run(init);
  const history: number[][] = [];
  for (let i = 0; i < steps; i++) {
    await session.run(trainOp, fed ? new Map([[fed[0], HostTensor.from('float64', fed[1])]]) : undefined);
    history.push((await session.readVariable(w)).toNumbers());
  }
  return { history, graph, optimizer, session, step };
}

function assertClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `element ${i}: ${a} vs expected ${e}`);
  });
}

describe('optimizers', () => {
  it('GradientDescentOptimizer: w -= lr * grad, and the global step counts steps', async () => {
    const { history, session, step, graph } = await train(() => new GradientDescentOptimizer(0.1), 2);
    let w = [...W0];
    for (let i = 0; i < 2; i++) {
      const g = grad(w);
      w = w.map((x, j) => x - 0.1 * (g[j] as number));
      assertClose(history[i] as number[], w);
    }
    assert.equal((await session.readVariable(step)).get(0), 2n);
    assert.equal(graph.operation('GradientDescent').type, 'NoOp');
    assert.ok(graph.hasOperation('GradientDescent/update_w/ApplyGradientDescent'));
    await session.close();
  });

  it('GradientDescentOptimizer takes the learning rate as a fed scalar tensor', async () => {
    const { history, session } = await train(
      () => new GradientDescentOptimizer(lrTensor as Tensor),
      1,
      (graph) => {
        lrTensor = placeholder('float64', { shape: [], name: 'lr', graph });
        return [lrTensor, 0.05];
      },
    );
    const g = grad(W0);
    assertClose(
      history[0] as number[],
      W0.map((x, j) => x - 0.05 * (g[j] as number)),
    );
    await session.close();
  });

  it('MomentumOptimizer: accum = m * accum + grad; w -= lr * accum (two steps)', async () => {
    const { history, session, optimizer, graph } = await train(() => new MomentumOptimizer(0.1, 0.9), 2);
    let w = [...W0];
    let accum = [0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const g = grad(w);
      accum = accum.map((a, j) => 0.9 * a + (g[j] as number));
      w = w.map((x, j) => x - 0.1 * (accum[j] as number));
      assertClose(history[i] as number[], w);
    }
    const slot = optimizer.getSlot(graph.getCollection<Variable>('variables')[0] as Variable, 'momentum');
    assert.equal(slot?.name, 'w/Momentum');
    assert.deepEqual(slot?.op.colocationGroups, ['w']);
    assertClose((await session.readVariable(slot as Variable)).toNumbers(), accum);
    await session.close();
  });

  it('MomentumOptimizer with Nesterov: w -= lr * grad + lr * m * accum (two steps)', async () => {
    const { history, session } = await train(() => new MomentumOptimizer(0.1, 0.9, { useNesterov: true }), 2);
    let w = [...W0];
    let accum = [0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const g = grad(w);
      accum = accum.map((a, j) => 0.9 * a + (g[j] as number));
      w = w.map((x, j) => x - 0.1 * (g[j] as number) - 0.1 * 0.9 * (accum[j] as number));
      assertClose(history[i] as number[], w);
    }
    await session.close();
  });

  it("AdamOptimizer matches TF 1.x's ApplyAdam with bias correction after two steps", async () => {
    const lr = 0.1;
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    const { history, session, optimizer, graph } = await train(() => new AdamOptimizer(lr), 2);
    let w = [...W0];
    let m = [0, 0, 0];
    let v = [0, 0, 0];
    let b1Power = b1;
    let b2Power = b2;
    for (let i = 0; i < 2; i++) {
      const g = grad(w);
      const lrT = (lr * Math.sqrt(1 - b2Power)) / (1 - b1Power);
      m = m.map((x, j) => b1 * x + (1 - b1) * (g[j] as number));
      v = v.map((x, j) => b2 * x + (1 - b2) * (g[j] as number) ** 2);
      w = w.map((x, j) => x - (lrT * (m[j] as number)) / (Math.sqrt(v[j] as number) + eps));
      b1Power *= b1;
      b2Power *= b2;
      assertClose(history[i] as number[], w);
    }
    const names = optimizer
      .variables()
      .map((x) => x.name)
      .sort();
    assert.deepEqual(names, ['beta1_power', 'beta2_power', 'w/Adam', 'w/Adam_1']);
    for (const name of names) assert.deepEqual(graph.operation(name).colocationGroups, ['w'], name);
    const powers = optimizer instanceof AdamOptimizer ? optimizer.getBetaAccumulators() : undefined;
    assertClose((await session.readVariable(powers?.beta1 as Variable)).toNumbers(), [b1Power]);
    assertClose((await session.readVariable(powers?.beta2 as Variable)).toNumbers(), [b2Power]);
    assertClose(
      (
        await session.readVariable(
          optimizer.getSlot(graph.getCollection<Variable>('variables')[0] as Variable, 'v') as Variable,
        )
      ).toNumbers(),
      v,
    );
    await session.close();
  });

  it('minimize fails clearly when the loss does not depend on any variable', () => {
    const graph = new Graph();
    withGraph(graph, () => {
      new Variable(constant([1, 2], { dtype: 'float32' }), { name: 'unused' });
      const loss = reduceSum(constant([3, 4], { dtype: 'float32' }));
      assert.throws(
        () => new GradientDescentOptimizer(0.1).minimize(loss),
        /No gradients provided for any variable.*unused/,
      );
    });
  });
});

let lrTensor: Tensor | undefined;
