import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { HERE_MEASURED_RUNS } from '../../../src/serving/worker/calling-thread-runs.js';
import { ClientConnection } from '../../../src/serving/worker/client-connection.js';
import {
  MANY_CONNECTIONS,
  MAX_BURST_HERE,
  repliesMayWait,
  toWire,
  WorkerPool,
  type PooledModel,
} from '../../../src/serving/worker/worker-pool.js';
import { allocateForRequest } from '../../../src/serving/request-buffers.js';
import { affineModel, rows, slowModel, softmaxRegression, tempRepo, type TempRepo } from '../core/model-fixtures.js';

/**
 * Runs `model` on two rows until `wanted` runs have computed on the calling thread (by default HERE_MEASURED_RUNS:
 * its runs here are measured then, and it gets no more probe runs), at most `limit` runs.
 */
async function runUntilOnCallingThread(
  model: PooledModel,
  limit: number,
  wanted = HERE_MEASURED_RUNS,
): Promise<number> {
  for (let i = 0; i < limit && model.runsOnCallingThread < wanted; i++) {
    await model.run({ x: rows([1, 2, 3, 4], [0, 0, 0, 0]) }, ['y']);
  }
  return model.runsOnCallingThread;
}

describe('runs of tiny models on the calling thread', () => {
  let repo: TempRepo;
  let pool: WorkerPool;
  let workersOnly: WorkerPool;
  /** No run counts as cheaper than its hand-off: the rules for dearer runs, with the same tiny model. */
  let dearRuns: WorkerPool;
  /** Calling-thread runs in ONNX Runtime only, never in JavaScript (dense-plan.ts). */
  let ortOnly: WorkerPool;
  /** What the pools logged. */
  const logged: string[] = [];

  before(async () => {
    repo = await tempRepo();
    pool = new WorkerPool({ size: 1, intraOpNumThreads: 1, log: (_, m) => logged.push(m) });
    workersOnly = new WorkerPool({ size: 1, intraOpNumThreads: 1, callingThreadRuns: false });
    dearRuns = new WorkerPool({ size: 1, intraOpNumThreads: 1, cheapRunNs: 0 });
    ortOnly = new WorkerPool({ size: 1, intraOpNumThreads: 1, jsDenseRuns: false, log: (_, m) => logged.push(m) });
  });

  after(async () => {
    await pool.close();
    await workersOnly.close();
    await dearRuns.close();
    await ortOnly.close();
    await repo.remove();
  });

  /** The affine model as version `version`, loaded in `into` and run until a run has computed on the calling thread. */
  async function tinyModelComputingHere(version: number, into = pool): Promise<PooledModel> {
    const dir = await repo.addVersion('affine', version, affineModel(2, 1));
    const model = await into.loadModel(join(dir, 'model.onnx'));
    const here = await runUntilOnCallingThread(model, 400);
    assert.ok(here >= HERE_MEASURED_RUNS, `only ${here} runs moved to the calling thread`);
    return model;
  }

  it('a tiny model, once its worker runs are measured, computes here with the same results', async () => {
    const model = await tinyModelComputingHere(1);
    // Every run keeps updating the estimate, so on a loaded machine a slow run can send the next one back to a
    // worker: run until one computes here (bounded), checking every result on the way.
    let here = false;
    for (let i = 0; i < 200 && !here; i++) {
      const before = model.runsOnCallingThread;
      const { y } = await model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y']);
      here = model.runsOnCallingThread === before + 1;
      assert.deepEqual(y?.shape, [2, 4]);
      assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
    }
    assert.ok(here, 'no run of these inputs computed on the calling thread');
    await model.unload();
  });

  it("a tiny dense model computes here in JavaScript, within float32 rounding of the workers' answers; --js_dense_runs=false keeps ONNX Runtime's", async () => {
    // The MNIST softmax's shape: 7,840 multiply-adds a row (dense-plan.ts).
    const path = join(await repo.addVersion('softmax', 1, softmaxRegression()), 'model.onnx');
    const x = () =>
      new HostTensor(
        'float32',
        [1, 784],
        new Float32Array(784).map((_, i) => (i % 17) / 17),
      );
    const inWorker = await workersOnly.loadModel(path);
    const reference = (await inWorker.run({ x: x() }, ['y'])).y?.data as Float32Array;
    try {
      for (const [into, javascript] of [
        [pool, true],
        [ortOnly, false],
      ] as const) {
        const loggedBefore = logged.length;
        const model = await into.loadModel(path);
        let here: Float32Array | undefined;
        for (let i = 0; i < 400 && !here; i++) {
          const before = model.runsOnCallingThread;
          const { y } = await model.run({ x: x() }, ['y']);
          if (model.runsOnCallingThread > before) here = y?.data as Float32Array;
        }
        assert.ok(here, 'no run computed on the calling thread');
        assert.equal(model.runsInJavaScript > 0, javascript, `runs in JavaScript: ${model.runsInJavaScript}`);
        // The server's log says so once, naming the model file and the rows a run may have.
        const said = logged.slice(loggedBefore).filter((m) => m.includes('compute in JavaScript'));
        assert.deepEqual(
          said,
          javascript
            ? [
                `${path}: its runs of up to 33 rows on the main thread compute in JavaScript, a dense plan of 7840 multiply-adds a row, its products in WebAssembly SIMD (--js_dense_runs=false keeps ONNX Runtime)`,
              ]
            : [],
        );
        if (javascript) {
          for (let i = 0; i < 10; i++) {
            const value = here[i] as number;
            const expected = reference[i] as number;
            assert.ok(
              Math.abs(value - expected) <= 1e-6 + 2e-5 * expected,
              `y[${i}]: ${value}, the worker's ${expected}`,
            );
          }
        } else assert.deepEqual([...here], [...reference]);
        await model.unload();
      }
    } finally {
      await inWorker.unload();
    }
  });

  it("a request's inputs in a slab (views at an offset) get the same answers in a worker, in ONNX Runtime here and in JavaScript here; handed over, they leave the slab's other views as they were", async () => {
    const path = join(await repo.addVersion('softmax', 2, softmaxRegression()), 'model.onnx');
    const pixels = (seed: number) => Float32Array.from({ length: 784 }, (_, i) => ((i * seed) % 17) / 17);
    // A view into a request slab, not at its start, with a neighbour in the same slab.
    const slabView = (seed: number) => {
      allocateForRequest('uint8', 3);
      const data = allocateForRequest('float32', 784) as Float32Array;
      data.set(pixels(seed));
      return data;
    };
    const inWorker = await workersOnly.loadModel(path);
    const reference = (await inWorker.run({ x: new HostTensor('float32', [1, 784], pixels(5)) }, ['y'])).y
      ?.data as Float32Array;
    try {
      const input = slabView(5);
      const neighbour = slabView(7);
      assert.equal(input.buffer, neighbour.buffer, 'the two views share a slab');
      assert.ok(input.byteOffset > 0 && input.byteLength < input.buffer.byteLength);
      const { y } = await inWorker.run({ x: new HostTensor('float32', [1, 784], input) }, ['y'], {
        transferInputs: true,
      });
      assert.deepEqual([...(y?.data as Float32Array)], [...reference], 'the worker read the view');
      assert.equal(neighbour.length, 784, "the slab was not transferred: its neighbour's view is not detached");
      assert.deepEqual([...neighbour], [...pixels(7)]);
      assert.deepEqual([...input], [...pixels(5)]);
      // Posted as a view, the whole slab would be cloned: the message carries a copy of the view's own bytes.
      const wire = toWire(new HostTensor('float32', [1, 784], input)).data as Float32Array;
      assert.notEqual(wire, input);
      assert.equal(wire.byteLength, wire.buffer.byteLength);
      assert.deepEqual([...wire], [...input]);
      const whole = pixels(5);
      assert.equal(toWire(new HostTensor('float32', [1, 784], whole)).data, whole, 'a whole buffer goes as it is');
      for (const into of [pool, ortOnly]) {
        const model = await into.loadModel(path);
        let here: Float32Array | undefined;
        for (let i = 0; i < 400 && !here; i++) {
          const before = model.runsOnCallingThread;
          const out = await model.run({ x: new HostTensor('float32', [1, 784], slabView(5)) }, ['y']);
          if (model.runsOnCallingThread > before) here = out.y?.data as Float32Array;
        }
        assert.ok(here, 'no run computed on the calling thread');
        for (let i = 0; i < 10; i++) {
          const expected = reference[i] as number;
          assert.ok(Math.abs((here[i] as number) - expected) <= 1e-6 + 2e-5 * expected, `y[${i}]: ${here[i]}`);
        }
        await model.unload();
      }
    } finally {
      await inWorker.unload();
    }
  });

  it('a request far larger than the measured runs still goes to a worker', async () => {
    const model = await tinyModelComputingHere(2);
    const before = model.runsOnCallingThread;
    // 200k rows: the per-element cost measured on 2-row runs predicts far more than a run's budget here.
    const big = HostTensor.zeros('float32', [200_000, 4]);
    const { y } = await model.run({ x: big }, ['y']);
    assert.equal(model.runsOnCallingThread, before, 'the large run computed on the calling thread');
    assert.equal(y?.toNumbers()[0], 1);
    await model.unload();
  });

  it('a slow model never computes on the calling thread', async () => {
    const dir = await repo.addVersion('slow', 1, slowModel(256, 8));
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    const x = HostTensor.zeros('float32', [64, 256]);
    for (let i = 0; i < 40; i++) await model.run({ x }, ['y']);
    assert.equal(model.runsOnCallingThread, 0);
    await model.unload();
  });

  it('runs that overlap go to the workers: at most one at a time computes on the calling thread', async () => {
    const model = await tinyModelComputingHere(4);
    for (let burst = 0; burst < 5; burst++) {
      const before = model.runsOnCallingThread;
      const results = await Promise.all(
        Array.from({ length: 8 }, () => model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'])),
      );
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      assert.ok(model.runsOnCallingThread - before <= 1, `${model.runsOnCallingThread - before} of 8 ran here`);
    }
    await model.unload();
  });

  it('a burst that arrives in one turn computes in a worker, in one message, none of it on the calling thread', async () => {
    const model = await tinyModelComputingHere(5);
    // The first run of a burst used to compute here (nothing else was in flight yet) while the rest went to a
    // worker: its reply came back alone, splitting the client's next burst. The decision now waits for the end of
    // the turn, when the whole burst is known.
    const before = model.runsOnCallingThread;
    const posted = pool.messages.posted;
    for (let burst = 0; burst < 5; burst++) {
      const results = await Promise.all(
        Array.from({ length: 4 }, () => model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'])),
      );
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
    }
    assert.equal(model.runsOnCallingThread, before, 'a run of a burst computed on the calling thread');
    // One worker here (size 1): a message per burst, none split.
    assert.equal(pool.messages.posted - posted, 5);
    // Alone again, a run computes here once more (bounded: a slow measurement on a loaded machine can send some away).
    for (let i = 0; i < 50 && model.runsOnCallingThread === before; i++) {
      await model.run({ x: rows([1, 2, 3, 4], [0, 0, 0, 0]) }, ['y']);
    }
    assert.ok(model.runsOnCallingThread > before, 'no run computed on the calling thread after the bursts');
    await model.unload();
  });

  it("a dearer run: one connection's burst computes here, back to back; two connections' runs, or a larger burst, go to a worker", async () => {
    const model = await tinyModelComputingHere(7, dearRuns);
    /** Runs computed here (since `from`) when the first caller of the burst got its answer. */
    let computedAtFirstAnswer: number | undefined;
    const burst = (connections: object[], from = model.runsOnCallingThread) => {
      computedAtFirstAnswer = undefined;
      return Promise.all(
        connections.map((connection) =>
          model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { connection }).then((outputs) => {
            computedAtFirstAnswer ??= model.runsOnCallingThread - from;
            return outputs;
          }),
        ),
      );
    };
    // Streams of one HTTP/2 session: the whole burst computes on the calling thread, every run before any caller is
    // answered (bounded: on a loaded machine a slow measurement can send a burst away, as it can a lone run).
    const session = {};
    let wholeBurstHere = false;
    for (let i = 0; i < 50 && !wholeBurstHere; i++) {
      const before = model.runsOnCallingThread;
      const results = await burst([session, session, session]);
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      wholeBurstHere = model.runsOnCallingThread - before === 3;
    }
    assert.ok(wholeBurstHere, 'no burst of one connection computed wholly on the calling thread');
    assert.equal(computedAtFirstAnswer, 3, 'a caller was answered before the rest of its burst had computed');
    // Two clients' runs in one turn, or a burst larger than MAX_BURST_HERE: none computes here (the main thread is
    // the busy one then), one message each.
    const before = model.runsOnCallingThread;
    const posted = dearRuns.messages.posted;
    for (let i = 0; i < 5; i++) {
      for (const connections of [[{}, {}, session], Array<object>(MAX_BURST_HERE + 1).fill(session)]) {
        const results = await burst(connections);
        for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      }
    }
    assert.equal(model.runsOnCallingThread, before, 'a run of a mixed or large burst computed on the calling thread');
    assert.equal(dearRuns.messages.posted - posted, 10);
    await model.unload();
  });

  it("a dearer run of the REST front's turn (MANY_CONNECTIONS): MAX_BURST_HERE compute here, whatever is in flight", async () => {
    const model = await tinyModelComputingHere(8, dearRuns);
    const x = () => ({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) });
    const many = () => model.run(x(), ['y'], { connection: MANY_CONNECTIONS });
    const check = (results: Record<string, HostTensor>[]) => {
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
    };
    // Each case is tried until it is seen (bounded): on a loaded machine a slow measurement can send a run away.
    const seen = async (attempt: () => Promise<boolean>) => {
      for (let i = 0; i < 50; i++) if (await attempt()) return true;
      return false;
    };
    const counts = async (runs: () => Promise<Record<string, HostTensor>>[]) => {
      const here = model.runsOnCallingThread;
      const posted = dearRuns.messages.posted;
      check(await Promise.all(runs()));
      return { here: model.runsOnCallingThread - here, posted: dearRuns.messages.posted - posted };
    };
    assert.ok(
      await seen(async () => (await counts(() => Array.from({ length: 4 }, many))).here === 4),
      'no burst of REST runs computed wholly on the calling thread',
    );
    // One more than MAX_BURST_HERE: that one goes to a worker, the rest compute here.
    assert.ok(
      await seen(async () => {
        const { here, posted } = await counts(() => Array.from({ length: MAX_BURST_HERE + 1 }, many));
        return here === MAX_BURST_HERE && posted === 1;
      }),
      'a burst larger than MAX_BURST_HERE did not split into MAX_BURST_HERE here and one in a worker',
    );
    // Runs of two other connections in the same turn go to a worker (the test above); the REST runs still compute
    // here meanwhile, where they used to join them in the worker.
    assert.ok(
      await seen(async () => {
        const { here } = await counts(() => [
          model.run(x(), ['y'], { connection: {} }),
          model.run(x(), ['y'], { connection: {} }),
          ...Array.from({ length: 4 }, many),
        ]);
        return here === 4;
      }),
      'REST runs did not compute here while other runs were in a worker',
    );
    await model.unload();
  });

  it('runs cheaper than their hand-off, of any connections, compute here in one burst of the turn, whatever its size', async () => {
    const model = await tinyModelComputingHere(9);
    const session = {};
    // Two other clients, a burst of REST requests and a burst of one HTTP/2 session's streams, each larger than
    // MAX_BURST_HERE, all in one turn: with runs this cheap, every one computes here, back to back, before any caller
    // is answered, and nothing is posted to a worker.
    const connections = [
      {},
      {},
      ...Array<object>(MAX_BURST_HERE + 1).fill(MANY_CONNECTIONS),
      ...Array<object>(MAX_BURST_HERE + 1).fill(session),
    ];
    let wholeTurnHere = false;
    for (let i = 0; i < 100 && !wholeTurnHere; i++) {
      const before = model.runsOnCallingThread;
      const posted = pool.messages.posted;
      let computedAtFirstAnswer: number | undefined;
      const results = await Promise.all(
        connections.map((connection) =>
          model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { connection }).then((outputs) => {
            computedAtFirstAnswer ??= model.runsOnCallingThread - before;
            return outputs;
          }),
        ),
      );
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      // On a loaded machine a slow measurement can make the model dearer for a while: tried again (bounded).
      wholeTurnHere = model.runsOnCallingThread - before === connections.length && pool.messages.posted === posted;
      if (wholeTurnHere) assert.equal(computedAtFirstAnswer, connections.length, 'a caller was answered mid-burst');
    }
    assert.ok(wholeTurnHere, 'no turn of cheap runs computed wholly on the calling thread');
    // Without a connection (node:http's, a batch) the rules for dearer runs hold: overlapping runs go to a worker.
    const posted = pool.messages.posted;
    await Promise.all(Array.from({ length: 4 }, () => model.run({ x: rows([1, 2, 3, 4], [0, 0, 0, 0]) }, ['y'])));
    assert.ok(pool.messages.posted > posted, 'overlapping runs without a connection all computed here');
    // The batch scheduler's merged batches (batched) this cheap compute here, whatever else is in flight: the same
    // four overlapping runs, as batches, all compute here (tried again, bounded: a loaded machine's slow measurement).
    let batchesHere = false;
    for (let i = 0; i < 50 && !batchesHere; i++) {
      const before = model.runsOnCallingThread;
      const postedBefore = pool.messages.posted;
      const batches = await Promise.all(
        Array.from({ length: 4 }, () =>
          model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { batched: true }),
        ),
      );
      for (const { y } of batches) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      batchesHere = model.runsOnCallingThread - before === 4 && pool.messages.posted === postedBefore;
    }
    assert.ok(batchesHere, 'overlapping cheap batches did not all compute here');
    await model.unload();
  });

  it("a lone call computes here at once; beside another call, after a busy turn, or from REST, a run waits for the turn's end", async () => {
    const model = await tinyModelComputingHere(12);
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    /**
     * One run: on `connection`, after `begun` calls began in this turn (the caller's last among them, on
     * `connection`; 0 = no call began, as for REST). Whether it computed here, and answered before the turn ended.
     */
    async function runOn(connection: object, begun = 0): Promise<{ here: boolean; beforeTurnEnd: boolean }> {
      const others = Array.from({ length: Math.max(0, begun - 1) }, () => new ClientConnection());
      for (const other of others) other.begin();
      if (begun > 0) (connection as ClientConnection).begin();
      let turnEnded = false;
      setImmediate(() => (turnEnded = true));
      const before = model.runsOnCallingThread;
      try {
        const { y } = await model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { connection });
        assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
        return { here: model.runsOnCallingThread > before, beforeTurnEnd: !turnEnded };
      } finally {
        for (const other of others) other.end();
        if (begun > 0) (connection as ClientConnection).end();
        // The next run starts in a turn of its own, after one in which these calls began.
        await nextTurn();
      }
    }
    // Tried again (bounded) where a loaded machine's slow measurement sends a run to a worker for a while.
    let lone: { here: boolean; beforeTurnEnd: boolean } | undefined;
    for (let i = 0; i < 50 && !lone?.here; i++) lone = await runOn(new ClientConnection(), 1);
    assert.deepEqual(lone, { here: true, beforeTurnEnd: true });
    const waits = async (why: string, connection: object, begun = 0) =>
      assert.equal((await runOn(connection, begun)).beforeTurnEnd, false, `${why}: the run did not wait`);
    // Beside another call of its connection (a burst on one HTTP/2 session).
    const session = new ClientConnection();
    session.begin();
    await nextTurn();
    await waits('beside a call in progress on its connection', session, 1);
    session.end();
    // After another connection's call began in this turn; the turn after, that busy turn still counts.
    await waits('second call of the turn', new ClientConnection(), 2);
    await waits('first call after a busy turn', new ClientConnection(), 1);
    // REST's runs (MANY_CONNECTIONS) and connections that count nothing wait, as every run did before.
    await waits('REST', MANY_CONNECTIONS);
    await waits('uncounted connection', {});
    // The batch scheduler's batch of one lone call, sent at once (RunOptions.lone), computes at once too; any other
    // merged batch waits for the turn's end.
    const batchRun = async (lone: boolean) => {
      let turnEnded = false;
      setImmediate(() => (turnEnded = true));
      const before = model.runsOnCallingThread;
      const { y } = await model.run({ x: rows([1, 2, 3, 4]) }, ['y'], { batched: true, lone });
      assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9]);
      const result = { here: model.runsOnCallingThread > before, beforeTurnEnd: !turnEnded };
      await nextTurn();
      return result;
    };
    let loneBatch: { here: boolean; beforeTurnEnd: boolean } | undefined;
    for (let i = 0; i < 50 && !loneBatch?.here; i++) loneBatch = await batchRun(true);
    assert.deepEqual(loneBatch, { here: true, beforeTurnEnd: true });
    assert.equal((await batchRun(false)).beforeTurnEnd, false, 'a merged batch did not wait');
    await model.unload();
  });

  it("a slow model's merged batches never compute on the calling thread", async () => {
    const dir = await repo.addVersion('slow', 21, slowModel(256, 8));
    const model = await pool.loadModel(join(dir, 'model.onnx'));
    const x = () => HostTensor.zeros('float32', [64, 256]);
    for (let i = 0; i < 10; i++) {
      await Promise.all(Array.from({ length: 2 }, () => model.run({ x: x() }, ['y'], { batched: true })));
    }
    assert.equal(model.runsOnCallingThread, 0);
    await model.unload();
  });

  it('parallelBatchRuns: a merged batch that computes here runs alone; a slow model has one a worker', async () => {
    const tiny = await tinyModelComputingHere(22);
    assert.equal(tiny.parallelBatchRuns(2 * 4), 1, 'a batch of four rows of the affine model computes here');
    const twoWorkers = new WorkerPool({ size: 2, intraOpNumThreads: 1 });
    try {
      const slow = await twoWorkers.loadModel(join(await repo.addVersion('slow', 23, slowModel(256, 8)), 'model.onnx'));
      assert.equal(slow.replicaCount, 2);
      await slow.run({ x: HostTensor.zeros('float32', [64, 256]) }, ['y'], { batched: true });
      assert.equal(slow.parallelBatchRuns(64 * 256), 2);
      await slow.unload();
    } finally {
      await twoWorkers.close();
    }
    await tiny.unload();
  });

  it("a connection's burst too large for the calling thread computes probe runs here until the model is measured here", async () => {
    const model = await dearRuns.loadModel(join(await repo.addVersion('affine', 20, affineModel(2, 1)), 'model.onnx'));
    // Measured in the worker on 1,000-row runs of two connections in one turn (such runs never compute here): a 2-row
    // run costs no more than a 1,000-row one (run-cost-estimate.ts), so it is predicted within PROBE_BUDGET_NS.
    for (let i = 0; i < 8; i++) {
      await Promise.all(
        [{}, {}].map((connection) => model.run({ x: HostTensor.zeros('float32', [1000, 4]) }, ['y'], { connection })),
      );
    }
    assert.equal(model.runsOnCallingThread, 0);
    // Time for the calling thread's session to load (and its dense plan to warm up), with nothing in flight.
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Bursts larger than MAX_BURST_HERE of one connection, with no run cheap enough (cheapRunNs 0): before probes,
    // every run went to the worker, and the model was never measured here.
    const session = {};
    let probed = 0;
    for (let i = 0; i < 50 && model.runsOnCallingThread < HERE_MEASURED_RUNS; i++) {
      const before = model.runsOnCallingThread;
      const results = await Promise.all(
        Array.from({ length: MAX_BURST_HERE + 1 }, () =>
          model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { connection: session }),
        ),
      );
      for (const { y } of results) assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      const computedHere: number = model.runsOnCallingThread - before;
      assert.ok(computedHere <= HERE_MEASURED_RUNS, `${computedHere} runs of one burst computed here`);
      probed += computedHere;
    }
    assert.ok(probed >= HERE_MEASURED_RUNS, `only ${probed} runs of the large bursts computed here`);
    // Measured here now, and still not cheap: the large bursts go to the worker again, whole.
    const before = model.runsOnCallingThread;
    for (let i = 0; i < 3; i++) {
      await Promise.all(
        Array.from({ length: MAX_BURST_HERE + 1 }, () =>
          model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y'], { connection: session }),
        ),
      );
    }
    assert.equal(model.runsOnCallingThread, before, 'a probe after the model was measured here');
    await model.unload();
  });

  it('a worker holds replies only for a multiplexed connection, never for REST (MANY_CONNECTIONS, an HTTP/1.1 connection) or none', () => {
    assert.equal(repliesMayWait({}), true);
    assert.equal(repliesMayWait(new ClientConnection()), true);
    assert.equal(repliesMayWait(new ClientConnection(false)), false);
    assert.equal(repliesMayWait(MANY_CONNECTIONS), false);
    assert.equal(repliesMayWait(undefined), false);
  });

  it('a run on the calling thread that the model refuses fails as InvalidArgument with the reason, in JavaScript or ONNX Runtime', async () => {
    for (const [version, into, reason] of [
      [6, pool, /input 'x' must have shape \[batch, 4\], got \[2, 3\]/],
      [10, ortOnly, /invalid dimensions/i],
    ] as const) {
      const model = await tinyModelComputingHere(version, into);
      const before = model.runsOnCallingThread;
      // Two rows of three columns: the model takes four.
      await assert.rejects(
        model.run({ x: new HostTensor('float32', [2, 3], new Float32Array(6)) }, ['y']),
        (err: Error) => err.name === 'InvalidArgument' && reason.test(err.message),
      );
      assert.equal(model.runsOnCallingThread, before + 1, 'the refused run did not compute on the calling thread');
      const { y } = await model.run({ x: rows([1, 2, 3, 4], [-1, 0, 0.5, 10]) }, ['y']);
      assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9, -1, 1, 2, 21]);
      await model.unload();
    }
  });

  it('callingThreadRuns: false keeps every run in the workers', async () => {
    const dir = await repo.addVersion('affine', 3, affineModel(2, 1));
    const model = await workersOnly.loadModel(join(dir, 'model.onnx'));
    assert.equal(await runUntilOnCallingThread(model, 100), 0);
    await model.unload();
  });
});
