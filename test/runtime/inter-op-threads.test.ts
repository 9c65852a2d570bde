import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { gatherBatch, loadMnist, MNIST_CLASSES, MNIST_PIXELS, type MnistDataset } from '../../src/data/mnist.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { globalVariablesInitializer } from '../../src/ops/variables.js';
import { InvalidArgument } from '../../src/errors.js';
import { Session } from '../../src/runtime/session.js';
import { ortThreadCounts } from '../../src/runtime/thread-options.js';
import { buildModel } from '../../src/train/models.js';
import { AdamOptimizer, getOrCreateGlobalStep } from '../../src/train/optimizers.js';

/** Losses of `steps` Adam steps of the MLP (batch 50, seed 4) and the bytes of every variable afterwards. */
async function train(
  data: MnistDataset,
  options: { intraOpParallelismThreads: number; interOpParallelismThreads: number },
  steps: number,
) {
  const graph = new Graph();
  const { model, trainOp, init, all } = withGraph(graph, () => {
    const model = buildModel('mlp', { seed: 4, graph });
    const optimizer = new AdamOptimizer(1e-3);
    const trainOp = optimizer.minimize(model.loss, {
      varList: model.variables,
      globalStep: getOrCreateGlobalStep(graph),
    });
    return {
      model,
      trainOp,
      init: globalVariablesInitializer(graph),
      all: [...model.variables, ...optimizer.variables()],
    };
  });
  const session = new Session(graph, { ...options, allowSpinning: false, deviceCount: { GPU: 0 }, logger: () => {} });
  try {
    await session.run(init);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const indices = Uint32Array.from({ length: 50 }, (_, i) => s * 50 + i);
      const batch = gatherBatch(data.train.images, data.train.labels, indices, {
        oneHot: true,
        numClasses: MNIST_CLASSES,
      });
      const feeds = new Map([
        [model.x, new HostTensor('float32', [50, MNIST_PIXELS], batch.x)],
        [model.labels, new HostTensor('float32', [50, MNIST_CLASSES], batch.y)],
      ]);
      const loss = await session.run(model.loss, feeds, [trainOp]);
      losses.push(loss.get(0) as number);
    }
    const values = await session.run(all.map((v) => v.ref));
    const bytes = values.map((t) => Buffer.from((t as HostTensor).data as Float32Array).toString('base64'));
    return { losses, bytes };
  } finally {
    await session.close();
  }
}

describe('Session interOpParallelismThreads (ConfigProto.inter_op_parallelism_threads)', () => {
  let data: MnistDataset;
  before(() => {
    data = loadMnist({ trainLimit: 500, testLimit: 1 });
  });

  it("trains to the same bits on ONNX Runtime's parallel executor as one op at a time, run after run", async () => {
    const sequential = await train(data, { intraOpParallelismThreads: 1, interOpParallelismThreads: 1 }, 6);
    for (let run = 0; run < 3; run++) {
      const parallel = await train(data, { intraOpParallelismThreads: 1, interOpParallelismThreads: 2 }, 6);
      assert.deepEqual(parallel.losses, sequential.losses, `run ${run}: losses`);
      assert.deepEqual(parallel.bytes, sequential.bytes, `run ${run}: variables, m, v and the beta powers`);
    }
    assert.ok(sequential.losses.every(Number.isFinite) && sequential.losses[5]! < sequential.losses[0]!);
  });
});

describe('ortThreadCounts', () => {
  it("takes ConfigProto's names, and ONNX Runtime's name for the intra-op count", () => {
    assert.deepEqual(ortThreadCounts({ intraOpParallelismThreads: 2, interOpParallelismThreads: 3 }), {
      intraOpNumThreads: 2,
      interOpNumThreads: 3,
    });
    assert.deepEqual(ortThreadCounts({ intraOpNumThreads: 2 }), { intraOpNumThreads: 2 });
    assert.deepEqual(ortThreadCounts({ intraOpParallelismThreads: 2, intraOpNumThreads: 2 }), { intraOpNumThreads: 2 });
    // 0 is ConfigProto's "let the runtime choose".
    assert.deepEqual(ortThreadCounts({ intraOpParallelismThreads: 0, interOpParallelismThreads: 0 }), {});
  });

  it('refuses two different intra-op counts and counts that are not non-negative integers, naming the option', () => {
    assert.throws(
      () => new Session(new Graph(), { intraOpParallelismThreads: 1, intraOpNumThreads: 2, devices: [] }),
      (err: unknown) =>
        err instanceof InvalidArgument &&
        /intraOpParallelismThreads \(1\) and intraOpNumThreads \(2\)/.test(err.message),
    );
    for (const bad of [-1, 1.5, Number.NaN]) {
      assert.throws(
        () => ortThreadCounts({ interOpParallelismThreads: bad }),
        (err: unknown) =>
          err instanceof InvalidArgument &&
          /interOpParallelismThreads must be a non-negative integer/.test(err.message),
      );
    }
  });
});
