import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineExceeded, InvalidArgument, Unavailable } from '../../../src/errors.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import {
  BatchScheduler,
  type BatchSchedulerOptions,
  type TensorMap,
} from '../../../src/serving/batching/batch-scheduler.js';
import type { StageTimes } from '../../../src/serving/run-timing.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { defaultBatchingParameters, type BatchPadding } from '../../../src/serving/config/batching-parameters.js';
import { createServingCore } from '../../../src/serving/core/index.js';
import { ClientConnection } from '../../../src/serving/worker/client-connection.js';
import { MANY_CONNECTIONS } from '../../../src/serving/worker/worker-pool.js';
import { affineModel, eventually, rows, tempRepo } from '../core/model-fixtures.js';

const OPTIONS: BatchSchedulerOptions = {
  maxBatchSize: 8,
  batchTimeoutMicros: 0,
  maxEnqueuedBatches: 10,
  numBatchThreads: 1,
  allowedBatchSizes: [],
  enableLargeBatchSplitting: false,
  maxExecutionBatchSize: 8,
};

/**
 * A runner computing y = x + 100 row-wise (reference values are computed by the tests) that records batch sizes.
 * `delayMs` < 0: each run waits for `release()`, which lets the oldest waiting run finish.
 */
function recordingRunner(delayMs = 0) {
  const batchSizes: number[] = [];
  const waiting: (() => void)[] = [];
  const runner = async (inputs: TensorMap): Promise<TensorMap> => {
    const x = inputs.x as HostTensor;
    batchSizes.push(x.shape[0] as number);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (delayMs < 0) await new Promise<void>((r) => waiting.push(r));
    return {
      y: new HostTensor(
        'float32',
        x.shape,
        (x.data as Float32Array).map((v) => v + 100),
      ),
    };
  };
  return { runner, batchSizes, release: () => waiting.shift()?.() };
}

/** n rows of width 2 holding [i, -i]. */
const task = (start: number, n = 1) =>
  ({
    x: HostTensor.from(
      'float32',
      Array.from({ length: n }, (_, i) => [start + i, -(start + i)]),
    ),
  }) as TensorMap;
const expected = (start: number, n = 1) =>
  Array.from({ length: n }, (_, i) => [start + i + 100, -(start + i) + 100]).flat();

describe('BatchScheduler', () => {
  it('merges concurrent single-example requests into one run and splits the results back', async () => {
    const { runner, batchSizes } = recordingRunner();
    const scheduler = new BatchScheduler(OPTIONS, runner);
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => scheduler.schedule(task(i))));
    assert.deepEqual(batchSizes, [5]);
    results.forEach((r, i) => {
      assert.deepEqual(r.y?.shape, [1, 2]);
      assert.deepEqual(r.y?.toNumbers(), expected(i));
    });
    await scheduler.close();
  });

  it('with --batch_dispatch=timeout, waits up to batch_timeout_micros for more tasks, then runs a partial batch', async () => {
    const { runner, batchSizes } = recordingRunner();
    const scheduler = new BatchScheduler({ ...OPTIONS, batchTimeoutMicros: 60_000, dispatch: 'timeout' }, runner);
    const started = performance.now();
    const first = scheduler.schedule(task(0));
    await new Promise((r) => setTimeout(r, 20));
    const second = scheduler.schedule(task(1));
    await Promise.all([first, second]);
    const waited = performance.now() - started;
    assert.deepEqual(batchSizes, [2]);
    assert.ok(waited >= 55, `ran after ${waited.toFixed(1)} ms; the timeout is 60 ms`);
    assert.ok(waited < 500, `ran after ${waited.toFixed(1)} ms`);
    // A full batch does not wait for the timeout.
    const t = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => scheduler.schedule(task(i))));
    assert.ok(performance.now() - t < 50);
    assert.deepEqual(batchSizes, [2, 8]);
    await scheduler.close();
  });

  it(
    'by default runs a partial batch as soon as a batch thread is free, without waiting for batch_timeout_micros',
    { timeout: 20_000 },
    async () => {
      const { runner, batchSizes } = recordingRunner();
      // An hour's timeout: the task can only finish if it is dispatched without waiting for it.
      const scheduler = new BatchScheduler({ ...OPTIONS, batchTimeoutMicros: 3_600_000_000 }, runner);
      const outcome = await Promise.race([
        scheduler.schedule(task(0)).then((r) => r.y?.toNumbers()),
        new Promise((resolve) => setTimeout(() => resolve('still queued after 5 s'), 5000).unref()),
      ]);
      assert.deepEqual(outcome, expected(0));
      assert.deepEqual(batchSizes, [1]);
      await scheduler.close();
    },
  );

  it("sends a lone task at once, telling its run, when nothing is queued and a batch thread is free; else it waits for the turn's end", async () => {
    const runs: { rows: number; lone: boolean | undefined }[] = [];
    let hold: Promise<void> | undefined;
    const runner = async (
      inputs: TensorMap,
      _deadline: unknown,
      _timing: unknown,
      _owned: unknown,
      lone?: boolean,
    ): Promise<TensorMap> => {
      const x = inputs.x as HostTensor;
      runs.push({ rows: x.shape[0] as number, lone });
      if (hold) await hold;
      return {
        y: new HostTensor(
          'float32',
          x.shape,
          (x.data as Float32Array).map((v) => v + 100),
        ),
      };
    };
    const lone = (scheduler: BatchScheduler, start: number) =>
      scheduler.schedule(task(start), undefined, undefined, false, true);

    const scheduler = new BatchScheduler(OPTIONS, runner);
    const first = lone(scheduler, 0);
    assert.deepEqual(runs, [{ rows: 1, lone: true }], 'the lone task ran before schedule() returned');
    assert.deepEqual((await first).y?.toNumbers(), expected(0));

    // Beside a task already queued in this turn, a lone task joins its batch.
    runs.length = 0;
    const together = [scheduler.schedule(task(1)), lone(scheduler, 2)];
    assert.deepEqual(runs, []);
    assert.deepEqual(
      (await Promise.all(together)).map((r) => r.y?.toNumbers()),
      [expected(1), expected(2)],
    );
    assert.deepEqual(runs, [{ rows: 2, lone: false }]);

    // With the only batch thread busy, it waits for the thread like any task.
    runs.length = 0;
    let release = () => {};
    hold = new Promise<void>((r) => (release = r));
    const busy = lone(scheduler, 3);
    const behind = lone(scheduler, 4);
    assert.deepEqual(runs, [{ rows: 1, lone: true }]);
    hold = undefined;
    release();
    assert.deepEqual(
      (await Promise.all([busy, behind])).map((r) => r.y?.toNumbers()),
      [expected(3), expected(4)],
    );
    assert.deepEqual(runs, [
      { rows: 1, lone: true },
      { rows: 1, lone: false },
    ]);
    await scheduler.close();

    // TF Serving's dispatch (timeout) keeps its meaning: a lone task waits for batch_timeout_micros too.
    runs.length = 0;
    const waiting = new BatchScheduler({ ...OPTIONS, batchTimeoutMicros: 20_000, dispatch: 'timeout' }, runner);
    const started = performance.now();
    const waited = lone(waiting, 5);
    assert.deepEqual(runs, []);
    assert.deepEqual((await waited).y?.toNumbers(), expected(5));
    assert.ok(performance.now() - started >= 15, 'the lone task did not wait for the timeout');
    assert.deepEqual(runs, [{ rows: 1, lone: false }]);
    await waiting.close();
  });

  it(
    'by default fills the open batch while every batch thread is busy, and runs it when a thread frees',
    { timeout: 20_000 },
    async () => {
      const blocked = recordingRunner(-1);
      const scheduler = new BatchScheduler({ ...OPTIONS, batchTimeoutMicros: 3_600_000_000 }, blocked.runner);
      const first = scheduler.schedule(task(0));
      await new Promise((r) => setImmediate(r));
      // The only batch thread runs `first`; these arrive over several turns and wait together.
      const waiting: Promise<TensorMap>[] = [];
      for (let i = 1; i <= 3; i++) {
        waiting.push(scheduler.schedule(task(i)));
        await new Promise((r) => setImmediate(r));
      }
      assert.deepEqual(blocked.batchSizes, [1]);
      blocked.release();
      await first;
      await eventually(() => blocked.batchSizes.length === 2);
      blocked.release();
      const results = await Promise.all(waiting);
      assert.deepEqual(blocked.batchSizes, [1, 3]);
      results.forEach((r, i) => assert.deepEqual(r.y?.toNumbers(), expected(i + 1)));
      await scheduler.close();
    },
  );

  it('by default a batch leaves with its share of the rows queued and running, over the batches that compute at once', async () => {
    const blocked = recordingRunner(-1);
    const asked: number[] = [];
    const scheduler = new BatchScheduler(
      {
        ...OPTIONS,
        numBatchThreads: 2,
        parallelRuns: (elements) => {
          asked.push(elements);
          return 2;
        },
      },
      blocked.runner,
    );
    // Eight tasks in one turn, two batch threads: two batches of four, the second with the last four tasks.
    const first = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => scheduler.schedule(task(i)));
    await eventually(() => blocked.batchSizes.length === 2);
    assert.deepEqual(blocked.batchSizes, [4, 4]);
    assert.deepEqual(asked, [2 * 4], 'asked about a batch of four rows of two elements');
    // Four more arrive while both threads run: when one frees, 4 running + 4 queued over 2 = 4 leave whole.
    const second = [8, 9, 10, 11].map((i) => scheduler.schedule(task(i)));
    await new Promise((r) => setImmediate(r));
    blocked.release();
    await eventually(() => blocked.batchSizes.length === 3);
    assert.deepEqual(blocked.batchSizes, [4, 4, 4]);
    // Six more while both run: when one frees, 4 running + 6 queued over 2 = 5 leave, one stays for the next thread.
    const third = [12, 13, 14, 15, 16, 17].map((i) => scheduler.schedule(task(i)));
    await new Promise((r) => setImmediate(r));
    blocked.release();
    await eventually(() => blocked.batchSizes.length === 4);
    assert.deepEqual(blocked.batchSizes, [4, 4, 4, 5]);
    blocked.release();
    await eventually(() => blocked.batchSizes.length === 5);
    blocked.release();
    blocked.release();
    const results = await Promise.all([...first, ...second, ...third]);
    assert.deepEqual(blocked.batchSizes, [4, 4, 4, 5, 1]);
    results.forEach((r, i) => assert.deepEqual(r.y?.toNumbers(), expected(i)));
    await scheduler.close();
  });

  for (const { name, options } of [
    { name: 'whose batches compute one after another (parallelRuns 1)', options: { parallelRuns: () => 1 } },
    { name: 'with --batch_dispatch=timeout', options: { dispatch: 'timeout' as const } },
  ]) {
    it(`a scheduler ${name} runs what is queued as one batch`, async () => {
      const { runner, batchSizes } = recordingRunner();
      const scheduler = new BatchScheduler({ ...OPTIONS, numBatchThreads: 2, ...options }, runner);
      const results = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => scheduler.schedule(task(i))));
      assert.deepEqual(batchSizes, [8]);
      results.forEach((r, i) => assert.deepEqual(r.y?.toNumbers(), expected(i)));
      await scheduler.close();
    });
  }

  it('reports the queue depth once per turn, also while every batch thread is busy', async () => {
    const blocked = recordingRunner(-1);
    const depths: number[] = [];
    const scheduler = new BatchScheduler(OPTIONS, blocked.runner, { onQueueDepth: (d) => depths.push(d) });
    const first = scheduler.schedule(task(0));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(depths, [0], 'the first task left at once');
    const waiting = [1, 2, 3].map((i) => scheduler.schedule(task(i)));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(depths, [0, 3], 'three tasks arriving in one turn: one report');
    blocked.release();
    await first;
    await eventually(() => blocked.batchSizes.length === 2);
    blocked.release();
    await Promise.all(waiting);
    assert.equal(depths[depths.length - 1], 0);
    await scheduler.close();
  });

  it('pads a batch up to the next allowed size and slices the padding off', async () => {
    const { runner, batchSizes } = recordingRunner();
    const scheduler = new BatchScheduler({ ...OPTIONS, allowedBatchSizes: [2, 4, 8] }, runner);
    const stats: number[][] = [];
    const withHooks = new BatchScheduler({ ...OPTIONS, allowedBatchSizes: [2, 4, 8] }, runner, {
      onBatch: (s) => stats.push([s.inputSize, s.processedSize]),
    });
    const results = await Promise.all([0, 1, 2].map((i) => withHooks.schedule(task(i))));
    assert.deepEqual(batchSizes, [4]);
    assert.deepEqual(stats, [[3, 4]]);
    results.forEach((r, i) => assert.deepEqual(r.y?.toNumbers(), expected(i)));
    await Promise.all([scheduler.close(), withHooks.close()]);
  });

  it('a lone task padded up to an allowed size gets only its own rows back', async () => {
    const { runner, batchSizes } = recordingRunner();
    const scheduler = new BatchScheduler({ ...OPTIONS, allowedBatchSizes: [4, 8] }, runner);
    const result = await scheduler.schedule(task(5, 3));
    assert.deepEqual(batchSizes, [4]);
    assert.deepEqual(result.y?.shape, [3, 2]);
    assert.deepEqual(result.y?.toNumbers(), expected(5, 3));
    await scheduler.close();
  });

  it('with padToAllowedSizes: false, a batch runs at its own size', async () => {
    const { runner, batchSizes } = recordingRunner();
    const stats: number[][] = [];
    const scheduler = new BatchScheduler({ ...OPTIONS, allowedBatchSizes: [4, 8], padToAllowedSizes: false }, runner, {
      onBatch: (s) => stats.push([s.inputSize, s.processedSize]),
    });
    const results = await Promise.all([0, 1, 2].map((i) => scheduler.schedule(task(i))));
    assert.deepEqual(batchSizes, [3]);
    assert.deepEqual(stats, [[3, 3]]);
    results.forEach((r, i) => assert.deepEqual(r.y?.toNumbers(), expected(i)));
    await scheduler.close();
  });

  it('a batch of one task runs on its own tensors, which the runner may move only when the caller gave them up', async () => {
    const seen: { x: HostTensor | undefined; owned: boolean | undefined }[] = [];
    const runner = async (inputs: TensorMap, _d: unknown, _t: unknown, owned?: boolean): Promise<TensorMap> => {
      seen.push({ x: inputs.x, owned });
      return { y: inputs.x as HostTensor };
    };
    const scheduler = new BatchScheduler(OPTIONS, runner);
    const kept = task(0, 2);
    const given = task(10, 2);
    await scheduler.schedule(kept);
    await scheduler.schedule(given, undefined, undefined, true);
    assert.equal(seen[0]?.x, kept.x, 'a lone task was copied');
    assert.equal(seen[0]?.owned, false, 'the runner may move tensors the caller still holds');
    assert.equal(seen[1]?.x, given.x);
    assert.equal(seen[1]?.owned, true);
    // Merged tasks are a fresh buffer: the runner owns it whatever the callers said.
    await Promise.all([scheduler.schedule(task(0)), scheduler.schedule(task(1))]);
    assert.deepEqual(seen[2]?.x?.shape, [2, 2]);
    assert.equal(seen[2]?.owned, true);
    await scheduler.close();
  });

  it("splits a merged batch's outputs as views of the run's output buffer, each with its own rows", async () => {
    const outputs: HostTensor[] = [];
    const { runner } = recordingRunner();
    const keeping = async (inputs: TensorMap): Promise<TensorMap> => {
      const out = await runner(inputs);
      outputs.push(out.y as HostTensor);
      return out;
    };
    const scheduler = new BatchScheduler(OPTIONS, keeping);
    const results = await Promise.all([0, 1, 2].map((i) => scheduler.schedule(task(i))));
    const buffer = (outputs[0]?.data as Float32Array).buffer;
    results.forEach((r, i) => {
      assert.deepEqual(r.y?.toNumbers(), expected(i));
      assert.equal((r.y?.data as Float32Array).buffer, buffer, `task ${i}'s output was copied`);
    });
    await scheduler.close();
  });

  it('runs a batch of large rows that compute little apart, each task on its own tensors (merge-costs.ts)', async () => {
    const width = 16_384; // 64 KiB a row: its copy into new memory costs more than a run's hand-off
    const calls: { rows: number; owned: boolean | undefined; apart: boolean | undefined; data: Float32Array }[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runner = async (
      inputs: TensorMap,
      _deadline: unknown,
      timing?: StageTimes,
      owned?: boolean,
      _lone?: boolean,
      apart?: boolean,
    ): Promise<TensorMap> => {
      const x = inputs.x as HostTensor;
      calls.push({ rows: x.shape[0] as number, owned, apart, data: x.data as Float32Array });
      if (timing) timing.computeInferNs = 0.1 * x.size; // a sum: far cheaper than the copy
      if (calls.length === 1) await gate;
      return {
        y: new HostTensor('float32', [x.shape[0] as number], new Float32Array(x.shape[0] as number).fill(calls.length)),
      };
    };
    const wide = (value: number) => ({ x: new HostTensor('float32', [1, width], new Float32Array(width).fill(value)) });
    const scheduler = new BatchScheduler(OPTIONS, runner);
    // The first task runs alone and is measured; three more queue behind it and leave as one batch.
    const first = scheduler.schedule(wide(0), undefined, undefined, true);
    await new Promise((r) => setImmediate(r));
    const tasks = [wide(1), wide(2), wide(3)];
    const rest = tasks.map((t) => scheduler.schedule(t, undefined, undefined, true));
    release();
    const results = await Promise.all([first, ...rest]);
    assert.deepEqual(
      calls.map((c) => [c.rows, c.apart ?? false, c.owned]),
      [
        [1, false, true],
        [1, true, true],
        [1, true, true],
        [1, true, true],
      ],
    );
    calls.slice(1).forEach((c, i) => assert.equal(c.data, tasks[i]?.x.data, "the task's own tensor, not a copy"));
    assert.deepEqual(
      results.map((r) => r.y?.shape),
      [[1], [1], [1], [1]],
    );
    await scheduler.close();
    // The same rows of a model whose compute dwarfs the copy are merged.
    const merged: number[] = [];
    let open = () => {};
    const held = new Promise<void>((resolve) => (open = resolve));
    const heavy = new BatchScheduler(OPTIONS, async (inputs, _d, timing) => {
      const x = inputs.x as HostTensor;
      merged.push(x.shape[0] as number);
      if (timing) timing.computeInferNs = 1000 * x.size;
      if (merged.length === 1) await held;
      return { y: new HostTensor('float32', [x.shape[0] as number], new Float32Array(x.shape[0] as number)) };
    });
    const firstHeavy = heavy.schedule(wide(0));
    await new Promise((r) => setImmediate(r));
    const restHeavy = [1, 2, 3].map((v) => heavy.schedule(wide(v)));
    open();
    await Promise.all([firstHeavy, ...restHeavy]);
    assert.deepEqual(merged, [1, 3]);
    await heavy.close();
  });

  it('rejects a task larger than max_batch_size, or splits it when large batch splitting is on', async () => {
    const { runner, batchSizes } = recordingRunner();
    const strict = new BatchScheduler(OPTIONS, runner);
    await assert.rejects(
      strict.schedule(task(0, 9)),
      (e: unknown) =>
        e instanceof InvalidArgument && e.message === 'Task size 9 is larger than maximum input batch size 8',
    );
    const splitting = new BatchScheduler(
      { ...OPTIONS, enableLargeBatchSplitting: true, maxExecutionBatchSize: 4 },
      runner,
    );
    const [big, small] = await Promise.all([splitting.schedule(task(0, 10)), splitting.schedule(task(50, 1))]);
    assert.deepEqual(big?.y?.shape, [10, 2]);
    assert.deepEqual(big?.y?.toNumbers(), expected(0, 10));
    assert.deepEqual(small?.y?.toNumbers(), expected(50));
    assert.deepEqual(batchSizes, [4, 4, 3]);
    await Promise.all([strict.close(), splitting.close()]);
  });

  it('refuses tasks with Unavailable when max_enqueued_batches batches are waiting', async () => {
    const blocked = recordingRunner(-1);
    const scheduler = new BatchScheduler(
      { ...OPTIONS, maxBatchSize: 2, maxExecutionBatchSize: 2, maxEnqueuedBatches: 2 },
      blocked.runner,
    );
    const running = scheduler.schedule(task(0, 2));
    await new Promise((r) => setImmediate(r));
    // The running batch left the queue; two more full batches fill it.
    const queued = [scheduler.schedule(task(2, 2)), scheduler.schedule(task(4, 2))];
    await assert.rejects(
      scheduler.schedule(task(6, 1)),
      (e: unknown) =>
        e instanceof Unavailable && e.message === 'The batch scheduling queue to which this task was submitted is full',
    );
    while (blocked.batchSizes.length < 3) {
      blocked.release();
      await new Promise((r) => setImmediate(r));
    }
    blocked.release();
    await Promise.all([running, ...queued]);
    await scheduler.close();
  });

  it('never mixes tasks whose inner shapes differ', async () => {
    const { runner, batchSizes } = recordingRunner();
    const scheduler = new BatchScheduler(OPTIONS, runner);
    const wide = { x: HostTensor.zeros('float32', [1, 3]) };
    const results = await Promise.all([
      scheduler.schedule(task(0)),
      scheduler.schedule(wide),
      scheduler.schedule(task(1)),
    ]);
    assert.deepEqual(batchSizes, [1, 1, 1]);
    assert.deepEqual(results[1]?.y?.shape, [1, 3]);
    await scheduler.close();
  });

  it('merges tasks whose inputs come in another order, never tasks whose dtypes differ', async () => {
    const seen: string[][] = [];
    const scheduler = new BatchScheduler(OPTIONS, async (inputs) => {
      seen.push(Object.keys(inputs).map((k) => `${k}:${inputs[k]?.dtype}[${inputs[k]?.shape.join(',')}]`));
      return { y: inputs.a as HostTensor };
    });
    const a = (dtype: 'float32' | 'int32') => HostTensor.zeros(dtype, [1, 2]);
    const b = HostTensor.zeros('float32', [1, 3]);
    await Promise.all([
      scheduler.schedule({ a: a('float32'), b }),
      scheduler.schedule({ b, a: a('float32') }),
      scheduler.schedule({ a: a('int32'), b }),
    ]);
    assert.deepEqual(seen, [
      ['a:float32[2,2]', 'b:float32[2,3]'],
      ['a:int32[1,2]', 'b:float32[1,3]'],
    ]);
    await scheduler.close();
  });
});

describe('BatchScheduler deadlines', () => {
  it('drops a queued task whose deadline passed before its batch was cut, and runs the others', async () => {
    const { runner, batchSizes, release } = recordingRunner(-1);
    const scheduler = new BatchScheduler(OPTIONS, runner);
    const first = scheduler.schedule(task(0));
    await new Promise((r) => setImmediate(r));
    // The only batch thread is busy with `first`: these two wait in the queue, in one batch.
    const late = scheduler.schedule(task(1), Date.now() + 30);
    const patient = scheduler.schedule(task(2), Date.now() + 60_000);
    const lateOutcome = late.then(
      () => 'ran',
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 60));
    release();
    await first;
    const dropped = await lateOutcome;
    // The runner blocks every run until released: let the second batch (the patient task alone) finish.
    await eventually(() => batchSizes.length === 2);
    release();
    assert.ok(dropped instanceof DeadlineExceeded, String(dropped));
    assert.match(
      (dropped as Error).message,
      /while waiting in the batch scheduling queue; the request was dropped before it ran/,
    );
    assert.deepEqual([...((await patient).y as HostTensor).toNumbers()], expected(2));
    assert.deepEqual(batchSizes, [1, 1], 'the late task was not part of the second run');
    await scheduler.close();
  });
});

describe('batching in the serving core', () => {
  /** Six concurrent requests to a CPU model with allowed_batch_sizes 8/16: their results and the batch metrics. */
  async function sixRequests(padding?: BatchPadding): Promise<void> {
    const repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    const core = await createServingCore({
      modelConfig: parseModelServerConfig(
        `model_config_list { config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" } }`,
      ),
      batching: {
        ...defaultBatchingParameters(),
        maxBatchSize: 16,
        batchTimeoutMicros: 20_000,
        allowedBatchSizes: [8, 16],
        ...(padding ? { padding } : {}),
      },
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      log: () => undefined,
    });
    try {
      await core.ready();
      const inputs = Array.from({ length: 6 }, (_, i) => [i, i + 0.5, -i, 10 * i]);
      const results = await Promise.all(
        inputs.map((row) => core.run({ model: { name: 'affine' }, inputs: { x: rows(row) } })),
      );
      results.forEach((r, i) =>
        assert.deepEqual(
          r.outputs.y?.toNumbers(),
          (inputs[i] as number[]).map((v) => 2 * v + 1),
        ),
      );
      const metrics = await core.metrics.metrics();
      assert.match(metrics, /:tensorflow:serving:batching_session:input_batch_size_count\{model_name="affine"\} 1\n/);
      assert.match(metrics, /:tensorflow:serving:batching_session:input_batch_size_sum\{model_name="affine"\} 6\n/);
      // TF Serving's rule pads the 6 rows to the allowed size 8; on the CPU by default the batch runs at its own size.
      const processed = padding === 'always' ? 8 : 6;
      assert.match(
        metrics,
        new RegExp(
          `:tensorflow:serving:batching_session:processed_batch_size_sum\\{model_name="affine"\\} ${processed}\n`,
        ),
      );
    } finally {
      await core.close();
      await repo.remove();
    }
  }

  it('concurrent requests to a real ONNX model merge into one run and get their own rows', () => sixRequests());

  it('with --batch_padding=always, a CPU model pads its batches up to the next allowed size', () =>
    sixRequests('always'));

  it("a lone call's request to a batching model is answered in its own turn; REST's waits for the turn's end", async () => {
    const repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    const core = await createServingCore({
      modelConfig: parseModelServerConfig(
        `model_config_list { config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" } }`,
      ),
      batching: { ...defaultBatchingParameters(), maxBatchSize: 16 },
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      log: () => undefined,
    });
    /** One request, on `connection` (a lone call when it is a ClientConnection), timed against the turn's end. */
    const answeredInTurn = async (connection: object): Promise<boolean> => {
      if (connection instanceof ClientConnection) connection.begin();
      let turnEnded = false;
      setImmediate(() => (turnEnded = true));
      try {
        const { outputs } = await core.run({
          model: { name: 'affine' },
          inputs: { x: rows([1, 2, 3, 4]) },
          connection,
        });
        assert.deepEqual(outputs.y?.toNumbers(), [3, 5, 7, 9]);
        return !turnEnded;
      } finally {
        if (connection instanceof ClientConnection) connection.end();
        // The next request begins in a turn of its own, after one in which at most this call began.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    try {
      await core.ready();
      // The model's runs move to the calling thread once measured in the worker: tried until one does (bounded).
      let inTurn = false;
      for (let i = 0; i < 200 && !inTurn; i++) inTurn = await answeredInTurn(new ClientConnection());
      assert.ok(inTurn, "no lone call's request was answered in its own turn");
      assert.equal(await answeredInTurn(MANY_CONNECTIONS), false, "REST's request did not wait for the turn's end");
    } finally {
      await core.close();
      await repo.remove();
    }
  });
});
