import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { compileModel, ortSessionOptions } from '../../src/runtime/ort.js';

/** sum = a + b and prod = a * b on two float32 vectors of any length. */
function twoOutputs(): Uint8Array {
  const b = new OnnxGraphBuilder('two-outputs');
  b.input({ name: 'a', dtype: 'float32', shape: [null] });
  b.input({ name: 'b', dtype: 'float32', shape: [null] });
  b.op('Add', ['a', 'b'], {}, 'sum');
  b.op('Mul', ['a', 'b'], {}, 'prod');
  b.output({ name: 'sum', dtype: 'float32', shape: [null] });
  b.output({ name: 'prod', dtype: 'float32', shape: [null] });
  return b.build();
}

const a = new HostTensor('float32', [3], Float32Array.from([1, 2, 3]));
const b = new HostTensor('float32', [3], Float32Array.from([4, 5, 6]));

describe('compileModel', () => {
  it("runs a CPU model through ONNX Runtime 1.30's native session, without the handler's turn of the event loop", async () => {
    // The binding is not public API (src/runtime/ort-native.ts). This fails when an ONNX Runtime upgrade changes it:
    // runs then take the handler's or the public path, correct but ≈5 µs slower at batch 1 (bench:engine shows it).
    const model = await compileModel(twoOutputs(), { executionProviders: ['cpu'] });
    assert.equal(model.runPath, 'native');
    await model.release();
  });

  it('gives every output as host tensors, or only the ones asked for', async () => {
    const model = await compileModel(twoOutputs(), { executionProviders: ['cpu'] });
    const all = await model.run({ a, b });
    assert.deepEqual(Object.keys(all).sort(), ['prod', 'sum']);
    assert.ok(all.sum instanceof HostTensor && all.prod instanceof HostTensor);
    assert.deepEqual([...(all.sum.data as Float32Array)], [5, 7, 9]);
    assert.deepEqual([...(all.prod.data as Float32Array)], [4, 10, 18]);
    assert.deepEqual(all.prod.shape, [3]);
    const some = await model.run({ a, b }, ['prod']);
    assert.deepEqual(Object.keys(some), ['prod']);
    await model.release();
  });

  it('rejects a missing input or an unknown output by name, as a rejected promise', async () => {
    const model = await compileModel(twoOutputs(), { executionProviders: ['cpu'] });
    const missing = model.run({ a });
    assert.ok(missing instanceof Promise);
    await assert.rejects(missing, /input 'b' is missing in 'feeds'/);
    await assert.rejects(model.run({ a, b }, ['quotient']), /'quotient' is not an output of the model/);
    await model.release();
  });

  it("rejects with ONNX Runtime's own message when the native run fails", async () => {
    const model = await compileModel(twoOutputs(), { executionProviders: ['cpu'] });
    const short = new HostTensor('float32', [2], Float32Array.from([1, 2]));
    // Add of lengths 3 and 2 cannot broadcast: ONNX Runtime says so from its run.
    await assert.rejects(model.run({ a, b: short }), /[Bb]roadcast|dimension|shape/i);
    await model.release();
  });
});

describe('ortSessionOptions', () => {
  it('selects the parallel executor with its inter-op thread count only above one inter-op thread', () => {
    const parallel = ortSessionOptions({ executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 2 });
    assert.equal(parallel.executionMode, 'parallel');
    assert.equal(parallel.interOpNumThreads, 2);
    assert.equal(parallel.intraOpNumThreads, 1);
    for (const interOpNumThreads of [undefined, 1]) {
      const sequential = ortSessionOptions({ executionProviders: ['cpu'], interOpNumThreads });
      assert.equal(sequential.executionMode, undefined, `interOpNumThreads ${interOpNumThreads}`);
    }
  });

  it("lets the inter-op pool's idle threads sleep whenever the intra-op pool's do", () => {
    const extra = (allowSpinning: boolean) =>
      ortSessionOptions({ executionProviders: ['cpu'], interOpNumThreads: 2, allowSpinning }).extra;
    assert.deepEqual(extra(false), {
      session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
    });
    assert.deepEqual(extra(true), {
      session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' } },
    });
  });
});
