import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { compileModel } from '../../src/runtime/ort.js';

const { onnx } = onnxProto;

/** x → t = x + x; `assigned` = Identity(t) (a graph output, as a variable update is) and `later` = t · x. */
function assignLike(): Uint8Array {
  const b = new OnnxGraphBuilder('assign_like');
  b.input({ name: 'x', dtype: 'float32', shape: [3] });
  b.op('Add', ['x', 'x'], {}, 't');
  b.op('Identity', ['t'], {}, 'assigned');
  b.op('Mul', ['t', 'x'], {}, 'later');
  // An Identity of a graph input is a real copy into a new output: it stays.
  b.op('Identity', ['x'], {}, 'echo');
  for (const name of ['assigned', 'later', 'echo']) b.output({ name, dtype: 'float32', shape: [3] });
  return b.build();
}

describe('output Identity folding', () => {
  it('the producer writes the graph output itself, with no Identity copy, and readers of the value still see it', async () => {
    const graph = onnx.ModelProto.decode(assignLike()).graph;
    const nodes = (graph?.node ?? []).map(
      (n) => `${n.opType}(${(n.input ?? []).join(',')})->${(n.output ?? []).join(',')}`,
    );
    assert.deepEqual(nodes, ['Add(x,x)->assigned', 'Mul(assigned,x)->later', 'Identity(x)->echo']);

    const model = await compileModel(assignLike(), { executionProviders: ['cpu'] });
    try {
      const out = await model.run({ x: new HostTensor('float32', [3], Float32Array.of(1, 2, 3)) });
      const values = (name: string) => [...((out[name] as HostTensor).data as Float32Array)];
      assert.deepEqual(values('assigned'), [2, 4, 6]);
      assert.deepEqual(values('later'), [2, 8, 18]);
      assert.deepEqual(values('echo'), [1, 2, 3]);
    } finally {
      await model.release();
    }
  });
});
