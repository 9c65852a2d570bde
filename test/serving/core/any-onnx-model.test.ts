/**
 * Any ONNX model, not only flowserve's exports: signatures derived from the graph (dtypes, symbolic dims),
 * initializers listed as graph inputs, inputs whose dim 0 is not a batch, non-tensor values and models ONNX Runtime
 * cannot load (END with the reason in the status).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { float16Bits, float16Value } from '../../../src/graph/dtype.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../../src/onnx/builder.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { createServingCore, type ServingCoreImpl } from '../../../src/serving/core/index.js';
import { tempRepo, type TempRepo } from './model-fixtures.js';

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;

/** z = x + y with x [3,4,5] and y [5]: numpy broadcasting, dim 0 of the two inputs differ. */
function broadcastAddModel(): Uint8Array {
  const b = new OnnxGraphBuilder('broadcast');
  b.input({ name: 'x', dtype: 'float32', shape: [3, 4, 5] });
  b.input({ name: 'y', dtype: 'float32', shape: [5] });
  b.op('Add', ['x', 'y'], {}, 'z');
  b.output({ name: 'z', dtype: 'float32', shape: [3, 4, 5] });
  return b.build();
}

/** h2 = h * h in float16 with a symbolic batch dim. */
function halfSquareModel(): Uint8Array {
  const b = new OnnxGraphBuilder('half');
  b.input({ name: 'h', dtype: 'float16', shape: ['n', 2] });
  b.op('Mul', ['h', 'h'], {}, 'h2');
  b.output({ name: 'h2', dtype: 'float16', shape: ['n', 2] });
  return b.build();
}

/** y = x * w where w is an initializer that is also listed as a graph input (ONNX IR < 4 style; PyTorch's old exports). */
function initializerInputModel(): Uint8Array {
  const b = new OnnxGraphBuilder('weights');
  b.input({ name: 'x', dtype: 'float32', shape: [2] });
  b.input({ name: 'w', dtype: 'float32', shape: [2] });
  b.namedConstant('w', new HostTensor('float32', [2], new Float32Array([10, 100])));
  b.op('Mul', ['x', 'w'], {}, 'y');
  b.output({ name: 'y', dtype: 'float32', shape: [2] });
  return b.build();
}

const tensorType = (elemType: number) => ({ tensorType: { elemType, shape: { dim: [] } } });

/** A graph written directly: `inputs`/`outputs` with any TypeProto, one node. */
function rawModel(
  node: { opType: string; input: string[]; output: string[]; domain?: string },
  inputs: { name: string; type: object }[],
  outputs: { name: string; type: object }[],
): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'g', node: [node], input: inputs, output: outputs },
    }),
  ).finish();
}

/** y = seq[pos]: its first input is a sequence of float tensors. */
const sequenceInputModel = () =>
  rawModel(
    { opType: 'SequenceAt', input: ['seq', 'pos'], output: ['y'] },
    [
      { name: 'seq', type: { sequenceType: { elemType: tensorType(FLOAT) } } },
      { name: 'pos', type: tensorType(INT64) },
    ],
    [{ name: 'y', type: tensorType(FLOAT) }],
  );

/** An op no ONNX Runtime has: the session cannot be created. */
const unknownOpModel = () =>
  rawModel(
    { opType: 'FlowserveNoSuchOp', input: ['x'], output: ['y'] },
    [{ name: 'x', type: tensorType(FLOAT) }],
    [{ name: 'y', type: tensorType(FLOAT) }],
  );

const MODELS: Record<string, () => Uint8Array> = {
  broadcast: broadcastAddModel,
  half: halfSquareModel,
  weights: initializerInputModel,
  sequence: sequenceInputModel,
  unknown_op: unknownOpModel,
};

describe('serving any ONNX model', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;

  before(async () => {
    repo = await tempRepo();
    for (const [name, build] of Object.entries(MODELS)) await repo.addVersion(name, 1, build());
    const entries = Object.keys(MODELS).map(
      (name) => `config { name: "${name}" base_path: "${repo.basePath(name)}" model_platform: "tensorflow" }`,
    );
    core = await createServingCore({
      modelConfig: parseModelServerConfig(`model_config_list { ${entries.join(' ')} }`),
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      log: () => undefined,
    });
    await core.ready().catch(() => undefined); // two of the models fail to load, on purpose
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  it('runs inputs whose dim 0 differ (broadcasting), which are not a batch', async () => {
    const x = new HostTensor(
      'float32',
      [3, 4, 5],
      new Float32Array(60).map((_, i) => i),
    );
    const y = new HostTensor('float32', [5], new Float32Array([0, 100, 200, 300, 400]));
    const result = await core.run({ model: { name: 'broadcast' }, inputs: { x, y } });
    const z = result.outputs.z?.toNumbers() ?? [];
    assert.deepEqual(result.outputs.z?.shape, [3, 4, 5]);
    assert.deepEqual(
      z,
      Array.from({ length: 60 }, (_, i) => i + (i % 5) * 100),
    );
  });

  it('derives float16 signatures with symbolic dims as -1 and computes in float16', async () => {
    const signature = core.info({ name: 'half' }).signatures.serving_default;
    assert.deepEqual(signature?.inputs.h, { name: 'h', dtype: 'float16', shape: [-1, 2] });
    assert.deepEqual(signature?.outputs.h2, { name: 'h2', dtype: 'float16', shape: [-1, 2] });
    const h = new HostTensor('float16', [3, 2], new Uint16Array([1.5, -2, 0.25, 3, 100, -0.5].map(float16Bits)));
    const result = await core.run({ model: { name: 'half' }, inputs: { h } });
    const out = Array.from(result.outputs.h2?.data as Uint16Array, float16Value);
    assert.deepEqual(out, [2.25, 4, 0.0625, 9, 10000, 0.25]);
  });

  it('an initializer listed as a graph input is a weight, not a signature input: requests send only x', async () => {
    const signature = core.info({ name: 'weights' }).signatures.serving_default;
    assert.deepEqual(Object.keys(signature?.inputs ?? {}), ['x']);
    const x = new HostTensor('float32', [2], new Float32Array([3, 4]));
    const result = await core.run({ model: { name: 'weights' }, inputs: { x } });
    assert.deepEqual(result.outputs.y?.toNumbers(), [30, 400]);
  });

  it('a sequence input ends the version in END with a load error naming the input and its ONNX type', () => {
    const [status] = core.status('sequence');
    assert.equal(status?.state, 'END');
    assert.equal(status?.error?.code, 'INVALID_ARGUMENT');
    assert.match(status?.error?.message ?? '', /ONNX graph input 'seq' is of type seq\(tensor\(float\)\)/);
    assert.match(status?.error?.message ?? '', /inputs and outputs are tensors of float, double, int32/);
  });

  it("a model ONNX Runtime cannot load ends in END with ONNX Runtime's reason", () => {
    const [status] = core.status('unknown_op');
    assert.equal(status?.state, 'END');
    assert.equal(status?.error?.code, 'INVALID_ARGUMENT');
    assert.match(status?.error?.message ?? '', /^Could not load ONNX model .*model\.onnx: /);
    assert.match(status?.error?.message ?? '', /No Op registered for FlowserveNoSuchOp/);
  });
});
