import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { stepInputName, stepOutputName, unrollSteps } from '../../src/onnx/unroll-steps.js';
import { compileModel } from '../../src/runtime/ort.js';

const { onnx } = onnxProto;

/**
 * One "training step": w' = w − 0.1·(w·x), count' = count + 1, loss = ReduceSum(w·x); `scale` is read, never
 * updated (shared by every copy). The 0.1 and 1 are initializers.
 */
function stepModel(): Uint8Array {
  const b = new OnnxGraphBuilder('step');
  b.input({ name: 'w', dtype: 'float32', shape: [3] });
  b.input({ name: 'x', dtype: 'float32', shape: [3] });
  b.input({ name: 'count', dtype: 'float32', shape: [] });
  b.input({ name: 'scale', dtype: 'float32', shape: [] });
  const wx = b.op('Mul', ['w', 'x']);
  const lr = b.scalar(0.1, 'float32', 'lr');
  const scaled = b.op('Mul', [wx, 'scale']);
  b.op('Sub', ['w', b.op('Mul', [scaled, lr])], {}, 'w_new');
  b.op('Add', ['count', b.scalar(1, 'float32', 'one')], {}, 'count_new');
  b.op('ReduceSum', [wx], { keepdims: 0 }, 'loss');
  b.output({ name: 'loss', dtype: 'float32', shape: [] });
  b.output({ name: 'w_new', dtype: 'float32', shape: [3] });
  b.output({ name: 'count_new', dtype: 'float32', shape: [] });
  return b.build();
}

const f32 = (...v: number[]) => new HostTensor('float32', [v.length], Float32Array.from(v));
const scalar = (v: number) => new HostTensor('float32', [], Float32Array.of(v));
const values = (t: unknown) => [...((t as HostTensor).data as Float32Array)];
const carried = [
  { input: 'w', output: 'w_new' },
  { input: 'count', output: 'count_new' },
];
const batches = [f32(1, 2, 3), f32(-1, 0.5, 2), f32(0.25, 4, -3), f32(7, -2, 1.5)];

describe('unrolling a step model', () => {
  it('K copies in one run give each step the values K separate runs give, bit for bit', async () => {
    const one = await compileModel(stepModel(), { executionProviders: ['cpu'] });
    const unrolled = unrollSteps(stepModel(), {
      steps: 4,
      perStepInputs: ['x'],
      perStepOutputs: ['loss', 'w_new'],
      carried,
    });
    const four = await compileModel(unrolled, { executionProviders: ['cpu'] });
    try {
      let w = f32(0.3, -0.7, 1.1);
      let count = scalar(5);
      const losses: number[][] = [];
      const ws: number[][] = [];
      for (const x of batches) {
        const out = await one.run({ w, x, count, scale: scalar(1.5) });
        losses.push(values(out.loss));
        w = out.w_new as HostTensor;
        ws.push(values(w));
        count = out.count_new as HostTensor;
      }
      const feeds: Record<string, HostTensor> = { w: f32(0.3, -0.7, 1.1), count: scalar(5), scale: scalar(1.5) };
      batches.forEach((x, k) => (feeds[stepInputName(k, 'x')] = x));
      const out = await four.run(feeds);
      for (let k = 0; k < 4; k++) {
        assert.deepEqual(values(out[stepOutputName(k, 'loss')]), losses[k], `loss of step ${k}`);
        // w_new is per step and carried: the last step's value is under both names.
        assert.deepEqual(values(out[stepOutputName(k, 'w_new')]), ws[k], `w of step ${k}`);
      }
      assert.deepEqual(values(out.w_new), values(w));
      assert.deepEqual(values(out.count_new), [9]);
      // Initializers are shared, not copied per step.
      const graph = onnx.ModelProto.decode(unrolled).graph;
      assert.equal(graph?.initializer?.length, onnx.ModelProto.decode(stepModel()).graph?.initializer?.length);
      assert.equal(graph?.input?.filter((i) => (i.name as string).endsWith('/x')).length, 4);
    } finally {
      await one.release();
      await four.release();
    }
  });

  it('one step unrolled once is the same model up to names', async () => {
    const model = await compileModel(
      unrollSteps(stepModel(), { steps: 1, perStepInputs: ['x'], perStepOutputs: ['loss'], carried }),
      { executionProviders: ['cpu'] },
    );
    try {
      const out = await model.run({
        w: f32(1, 1, 1),
        count: scalar(0),
        scale: scalar(1),
        [stepInputName(0, 'x')]: f32(1, 2, 3),
      });
      assert.deepEqual(values(out[stepOutputName(0, 'loss')]), [6]);
      assert.deepEqual(values(out.count_new), [1]);
    } finally {
      await model.release();
    }
  });

  it('refuses a step count below 1, unknown names, a value carried twice and nodes with subgraphs', () => {
    const spec = { steps: 2, perStepInputs: ['x'], perStepOutputs: ['loss'], carried };
    assert.throws(() => unrollSteps(stepModel(), { ...spec, steps: 0 }), /steps must be a positive integer, got 0/);
    assert.throws(
      () => unrollSteps(stepModel(), { ...spec, perStepInputs: ['y'] }),
      /'y' is not an input of the model/,
    );
    assert.throws(() => unrollSteps(stepModel(), { ...spec, perStepOutputs: ['nope'] }), /'nope' is not an output/);
    assert.throws(
      () => unrollSteps(stepModel(), { ...spec, carried: [...carried, { output: 'w_new' }] }),
      /'w_new' is carried twice/,
    );
    assert.throws(
      () => unrollSteps(stepModel(), { ...spec, carried: [{ input: 'x', output: 'w_new' }] }),
      /carried input 'x' is not a distinct input/,
    );
    const b = new OnnxGraphBuilder('with_if');
    b.input({ name: 'c', dtype: 'bool', shape: [] });
    b.input({ name: 'w', dtype: 'float32', shape: [] });
    b.op('Identity', ['w'], {}, 'w_new');
    b.output({ name: 'w_new', dtype: 'float32', shape: [] });
    const proto = onnx.ModelProto.decode(b.build());
    proto.graph?.node?.push(
      onnx.NodeProto.create({
        opType: 'If',
        input: ['c'],
        output: ['r'],
        attribute: [onnx.AttributeProto.create({ name: 'then_branch', type: 5, g: onnx.GraphProto.create({}) })],
      }),
    );
    const withIf = onnx.ModelProto.encode(proto).finish();
    assert.throws(
      () =>
        unrollSteps(withIf, {
          steps: 2,
          perStepInputs: [],
          perStepOutputs: [],
          carried: [{ input: 'w', output: 'w_new' }],
        }),
      /has a subgraph/,
    );
  });
});
