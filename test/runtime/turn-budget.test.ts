import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { compileModel } from '../../src/runtime/ort.js';
import { resolveWithinTurn, MAX_MS_BETWEEN_TURNS } from '../../src/runtime/turn-budget.js';

/** Counts the event loop's turns while `work` runs: a setImmediate that schedules itself again. */
async function turnsDuring(work: () => Promise<void>): Promise<number> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  await work();
  running = false;
  return turns;
}

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('resolveWithinTurn', () => {
  it('hands back results without a turn of the event loop for each', async () => {
    const turns = await turnsDuring(async () => {
      for (let i = 0; i < 2_000; i++) assert.equal(await resolveWithinTurn(i), i);
    });
    // A turn per result (ONNX Runtime's own handler) would be 2,000 turns.
    assert.ok(turns < 200, `${turns} turns for 2,000 results`);
  });

  it(`lets the event loop turn at least once every ${MAX_MS_BETWEEN_TURNS} ms of a loop that awaits it`, async () => {
    const loopMs = 20 * MAX_MS_BETWEEN_TURNS;
    const turns = await turnsDuring(async () => {
      const until = performance.now() + loopMs;
      while (performance.now() < until) {
        spin(0.05);
        await resolveWithinTurn(null);
      }
    });
    // ~20 turns expected; a promise always resolved at once would give none until the loop ends.
    assert.ok(turns >= 5, `${turns} turns in ${loopMs} ms`);
  });
});

describe('a CPU model run natively', () => {
  it('lets timers fire during a loop of awaited runs', async () => {
    const b = new OnnxGraphBuilder('add');
    b.input({ name: 'a', dtype: 'float32', shape: [null] });
    b.op('Add', ['a', 'a'], {}, 'y');
    b.output({ name: 'y', dtype: 'float32', shape: [null] });
    const model = await compileModel(b.build(), { executionProviders: ['cpu'] });
    assert.equal(model.runPath, 'native');
    const a = new HostTensor('float32', [2], Float32Array.from([1, 2]));
    let fired = false;
    const timer = setTimeout(() => (fired = true), 1);
    const until = performance.now() + 50;
    let runs = 0;
    while (!fired && performance.now() < until) {
      const { y } = await model.run({ a });
      assert.deepEqual([...((y as HostTensor).data as Float32Array)], [2, 4]);
      runs++;
    }
    clearTimeout(timer);
    assert.ok(fired, `a 1 ms timer did not fire during ${runs} runs over 50 ms`);
    await model.release();
    await assert.rejects(model.run({ a }), /released/);
  });
});
