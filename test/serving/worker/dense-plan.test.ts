import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../../src/onnx/builder.js';
import {
  compileDensePlan,
  DENSE_PLAN_MAX_MACS,
  DensePlan,
  loadDensePlan,
  NoDensePlan,
  WASM_RUN_MAX_MACS,
  type DensePlanOptions,
  type ExternalReader,
} from '../../../src/serving/worker/dense-plan.js';
import { softmaxRegression, values } from '../core/model-fixtures.js';

const noExternal: ExternalReader = () => Promise.reject(new Error('this model has no external data'));

/**
 * Every op the plan computes: Gemm (transB, alpha, beta, a row C), Relu, Sigmoid, Tanh, Sub with the constant
 * first, Mul by a row, Identity of a value and of a constant, a Constant node, and two outputs.
 */
function everyOp(): Uint8Array {
  const g = new OnnxGraphBuilder('every_op');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', 12] });
  const w1 = g.constant(new HostTensor('float32', [9, 12], values(108, 3, 0.5)), 'w1'); // [N, K]: transB
  const c1 = g.constant(new HostTensor('float32', [1, 9], values(9, 4)), 'c1');
  const hidden = g.op('Gemm', ['x', w1, c1], { transB: 1, alpha: { f: 0.75 }, beta: { f: 1.5 } });
  const relu = g.op('Relu', [g.op('Identity', [hidden])]);
  const w2 = g.op('Identity', [g.constant(new HostTensor('float32', [9, 5], values(45, 5)), 'w2')]);
  const dense = g.op('MatMul', [relu, w2]);
  const shift = g.op('Constant', [], { value: { tensor: new HostTensor('float32', [], Float32Array.of(0.25)) } });
  const reversed = g.op('Sub', [shift, dense]);
  const scaled = g.op('Mul', [reversed, g.constant(new HostTensor('float32', [5], values(5, 6, 2)), 'scale')]);
  g.op('Tanh', [scaled], {}, 'tanh');
  g.op('Sigmoid', [dense], {}, 'sigmoid');
  g.output({ name: 'tanh', dtype: 'float32', shape: ['batch', 5] });
  g.output({ name: 'sigmoid', dtype: 'float32', shape: ['batch', 5] });
  return g.build();
}

async function plan(model: Uint8Array, readExternal = noExternal, options: DensePlanOptions = {}): Promise<DensePlan> {
  const compiled = await compileDensePlan(model, readExternal, options);
  if (compiled instanceof NoDensePlan) assert.fail(`no plan: ${compiled.reason}`);
  return compiled;
}

async function refusal(model: Uint8Array, readExternal = noExternal): Promise<string> {
  const compiled = await compileDensePlan(model, readExternal);
  assert.ok(compiled instanceof NoDensePlan, 'the model got a plan');
  return compiled.reason;
}

/** ONNX Runtime's answers (the reference) for the model file at `path`. */
async function ortRun(path: string, x: HostTensor, fetches: string[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(path);
  try {
    const results = await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, [...x.shape]) }, fetches);
    return Object.fromEntries(fetches.map((name) => [name, results[name]?.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** The two kernels of the plan's matrix products (WebAssembly SIMD where it exists, and JavaScript). */
const KERNELS = [
  { webAssembly: true, kernel: 'webassembly' },
  { webAssembly: false, kernel: 'javascript' },
] as const;

/**
 * Within float32 rounding of ONNX Runtime's answer: the plan adds in float32 in another order (WebAssembly) or in
 * float64 (JavaScript).
 */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i] as number, expected[i] as number];
    assert.ok(Math.abs(a - e) <= 1e-6 + 2e-5 * Math.abs(e), `${what}[${i}]: ${a}, ONNX Runtime ${e}`);
  }
}

describe('tiny dense models computed in JavaScript (dense-plan.ts)', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flowserve-dense-plan-'));
  });

  after(() => rm(dir, { recursive: true, force: true }));

  async function saved(name: string, model: Uint8Array): Promise<string> {
    const path = join(dir, `${name}.onnx`);
    await writeFile(path, model);
    return path;
  }

  it("computes the MNIST softmax's shape as ONNX Runtime does, at 0 to 4 rows, with either kernel", async () => {
    const model = softmaxRegression();
    const path = await saved('softmax', model);
    for (const { webAssembly, kernel } of KERNELS) {
      const compiled = await plan(model, noExternal, { webAssembly });
      assert.equal(compiled.kernel, kernel);
      assert.equal(compiled.macsPerExample, 7840);
      for (const rows of [0, 1, 2, 3, 4]) {
        const x = new HostTensor('float32', [rows, 784], values(rows * 784, 10 + rows, 60));
        const { y } = compiled.run({ x }, ['y']);
        assert.deepEqual(y?.shape, [rows, 10]);
        assert.ok([...(y?.data as Float32Array)].every(Number.isFinite), 'a softmax output is not finite');
        const expected = (await ortRun(path, x, ['y'])).y as Float32Array;
        assertClose(y?.data as Float32Array, expected, `${kernel}: y at ${rows} rows`);
      }
    }
  });

  it('gives the same bits with either kernel (float64 sums in the same order)', async () => {
    const models = [
      { model: softmaxRegression(), width: 784, fetches: ['y'] },
      { model: everyOp(), width: 12, fetches: ['tanh', 'sigmoid'] },
    ];
    for (const { model, width, fetches } of models) {
      const wasm = await plan(model, noExternal, { webAssembly: true });
      const js = await plan(model, noExternal, { webAssembly: false });
      assert.equal(wasm.kernel, 'webassembly');
      // The WebAssembly kernel sums four rows at a time and the rest one at a time: both give the same bits.
      for (const rows of [1, 2, 4, 5, 9, 33]) {
        const x = new HostTensor('float32', [rows, width], values(rows * width, 20 + rows, 3));
        const [a, b] = [wasm.run({ x }, fetches), js.run({ x }, fetches)];
        for (const name of fetches) assert.deepEqual(a[name]?.data, b[name]?.data, `${name} at ${rows} rows`);
      }
    }
  });

  it('warms up on a row of zeros, computing every output as ONNX Runtime does', async () => {
    const model = everyOp();
    const outputs = (await plan(model)).runZeros();
    assert.deepEqual(Object.keys(outputs).sort(), ['sigmoid', 'tanh']);
    const zeros = HostTensor.zeros('float32', [1, 12]);
    const expected = await ortRun(await saved('every-op-zeros', model), zeros, ['tanh', 'sigmoid']);
    for (const name of ['tanh', 'sigmoid']) {
      assert.deepEqual(outputs[name]?.shape, [1, 5]);
      assertClose(outputs[name]?.data as Float32Array, expected[name] as Float32Array, name);
    }
  });

  it("subtracts each row's maximum before exp(): logits of ±1000 give ONNX Runtime's finite answer", async () => {
    const g = new OnnxGraphBuilder('softmax_only');
    g.input({ name: 'x', dtype: 'float32', shape: ['batch', 4] });
    g.op('Softmax', ['x'], {}, 'y');
    g.output({ name: 'y', dtype: 'float32', shape: ['batch', 4] });
    const model = g.build();
    const x = new HostTensor('float32', [2, 4], Float32Array.of(1000, 999, -1000, 0, -1000, -1000, -1001, -1002));
    const { y } = (await plan(model)).run({ x }, ['y']);
    const e = Math.exp(-1);
    const expected = [1 / (1 + e), e / (1 + e), 0, 0]; // float64, by hand
    const second = [1, 1, e, e * e].map((v) => v / (2 + e + e * e));
    assertClose(y?.data as Float32Array, Float32Array.from([...expected, ...second]), 'y');
    assertClose(y?.data as Float32Array, (await ortRun(await saved('softmax-only', model), x, ['y'])).y!, 'y');
  });

  it('computes Gemm, Relu, Sigmoid, Tanh, Sub, Mul, Identity and Constant nodes as ONNX Runtime does', async () => {
    const model = everyOp();
    const path = await saved('every-op', model);
    const x = new HostTensor('float32', [3, 12], values(36, 7, 2));
    const reference = await ortRun(path, x, ['tanh', 'sigmoid']);
    // Widths 9 and 5: the WebAssembly kernel's padded columns (to 12 and 8) must not show in the answers.
    for (const { webAssembly, kernel } of KERNELS) {
      const compiled = await plan(model, noExternal, { webAssembly });
      assert.equal(compiled.kernel, kernel);
      assert.equal(compiled.macsPerExample, 12 * 9 + 9 * 5);
      const results = compiled.run({ x }, ['tanh', 'sigmoid']);
      assertClose(results.tanh?.data as Float32Array, reference.tanh as Float32Array, `${kernel}: tanh`);
      assertClose(results.sigmoid?.data as Float32Array, reference.sigmoid as Float32Array, `${kernel}: sigmoid`);
      // Only what was asked for.
      assert.deepEqual(Object.keys(compiled.run({ x }, ['sigmoid'])), ['sigmoid']);
    }
  });

  it("reads weights kept in a file beside the model, as flowserve's exporter writes them", async () => {
    const weights = values(784 * 10, 8, 0.1);
    const bias = values(10, 9, 0.1);
    const g = new OnnxGraphBuilder('exported');
    g.input({ name: 'x', dtype: 'float32', shape: [null, 784] });
    g.externalInitializer('var/W', 'float32', [784, 10], { location: 'variables/data', offset: 0, length: 31360 });
    g.externalInitializer('var/b', 'float32', [10], { location: 'variables/data', offset: 32768, length: 40 });
    const read = g.op('Identity', [g.op('Identity', ['var/W'])]);
    g.op('Softmax', [g.op('Add', [g.op('MatMul', ['x', read]), 'var/b'])], { axis: 1 }, 'y');
    g.output({ name: 'y', dtype: 'float32', shape: [null, 10] });
    const exportDir = join(dir, 'exported');
    await rm(exportDir, { recursive: true, force: true });
    await mkdir(join(exportDir, 'variables'), { recursive: true });
    const data = new Uint8Array(32768 + 40);
    data.set(new Uint8Array(weights.buffer), 0);
    data.set(new Uint8Array(bias.buffer), 32768);
    await writeFile(join(exportDir, 'variables', 'data'), data);
    const path = join(exportDir, 'model.onnx');
    await writeFile(path, g.build());

    const loaded = await loadDensePlan(path, 1024 * 1024);
    if (loaded instanceof NoDensePlan) assert.fail(`no plan: ${loaded.reason}`);
    const x = new HostTensor('float32', [2, 784], values(2 * 784, 11));
    assertClose(
      loaded.run({ x }, ['y']).y?.data as Float32Array,
      (await ortRun(path, x, ['y'])).y as Float32Array,
      'y',
    );
  });

  it('refuses an external location outside the model folder, and a length its shape does not need, before reading', async () => {
    let reads = 0;
    const counting: ExternalReader = () => {
      reads++;
      return Promise.reject(new Error('read'));
    };
    const external = (location: string, length: number) => {
      const g = new OnnxGraphBuilder('external');
      g.input({ name: 'x', dtype: 'float32', shape: ['batch', 4] });
      g.externalInitializer('w', 'float32', [4, 2], { location, offset: 0, length });
      g.op('MatMul', ['x', 'w'], {}, 'y');
      g.output({ name: 'y', dtype: 'float32', shape: ['batch', 2] });
      return g.build();
    };
    assert.match(await refusal(external('w.bin', 4096), counting), /'w' has external length 4096 at 0, not 32 bytes/);
    assert.equal(reads, 0);
    // The real reader refuses a path that leaves the folder.
    const path = await saved('escape', external('../outside.bin', 32));
    const loaded = await loadDensePlan(path, 1024 * 1024);
    assert.ok(loaded instanceof NoDensePlan);
    assert.match(loaded.reason, /'\.\.\/outside\.bin' is outside the model's folder/);
  });

  it('gives no plan, and says why, for what it does not compute', async () => {
    const graph = (build: (g: OnnxGraphBuilder) => void, input: (number | string)[] = ['batch', 4]) => {
      const g = new OnnxGraphBuilder('refused');
      g.input({ name: 'x', dtype: 'float32', shape: input });
      build(g);
      return g.build();
    };
    const out = (g: OnnxGraphBuilder, width = 4) => g.output({ name: 'y', dtype: 'float32', shape: ['batch', width] });
    assert.match(await refusal(graph((g) => (g.op('Exp', ['x'], {}, 'y'), out(g)))), /the graph has a Exp node/);
    assert.match(
      await refusal(graph((g) => (g.op('MatMul', ['x', g.op('Relu', ['x'])], {}, 'y'), out(g)))),
      /MatMul 'y' reads '.*' as a constant, and it is not one/,
    );
    assert.match(
      await refusal(graph((g) => (g.op('Softmax', ['x'], { axis: 0 }, 'y'), out(g)))),
      /Softmax 'y' is over axis 0, not the last/,
    );
    assert.match(
      await refusal(graph((g) => (g.op('Relu', ['x'], {}, 'y'), out(g)), ['batch', 4, 4])),
      /input 'x' has rank 3, not 2/,
    );
    assert.match(
      await refusal(
        graph((g) => (g.op('Add', ['x', g.constant(new HostTensor('float32', [3], values(3, 1)))], {}, 'y'), out(g))),
      ),
      /constant \[3\] is not one value or one row of 4/,
    );
    const tooMany = new HostTensor(
      'float32',
      [4, DENSE_PLAN_MAX_MACS / 4 + 1],
      new Float32Array(DENSE_PLAN_MAX_MACS + 4),
    );
    assert.match(
      await refusal(graph((g) => (g.op('MatMul', ['x', g.constant(tooMany)], {}, 'y'), out(g, tooMany.shape[1])))),
      /over 16384 multiply-adds an example/,
    );
    const ints = new OnnxGraphBuilder('ints');
    ints.input({ name: 'x', dtype: 'int64', shape: ['batch', 4] });
    ints.op('Identity', ['x'], {}, 'y');
    ints.output({ name: 'y', dtype: 'int64', shape: ['batch', 4] });
    assert.match(await refusal(ints.build()), /input 'x' is not float32/);
    assert.match(await refusal(new Uint8Array([0xff, 0xff, 0xff])), /not an ONNX model/);
    // A hostile file: dims that do not describe a tensor are refused before any multiply-add is counted or read.
    const model = onnxProto.onnx.ModelProto.decode(softmaxRegression(8, 3));
    const weights = model.graph?.initializer?.[0];
    assert.ok(weights);
    weights.dims = [-8, -3];
    assert.match(await refusal(onnxProto.onnx.ModelProto.encode(model).finish()), /constant '.*' has dims \[-8, -3\]/);
  });

  it('refuses feeds and fetches the model does not take, naming the tensor and the shapes', async () => {
    const compiled = await plan(softmaxRegression(8, 3));
    const x = (shape: number[]) => new HostTensor('float32', shape, new Float32Array(shape[0]! * shape[1]!));
    assert.throws(() => compiled.run({ x: x([2, 7]) }, ['y']), /input 'x' must have shape \[batch, 8\], got \[2, 7\]/);
    assert.throws(() => compiled.run({}, ['y']), /input 'x' is missing/);
    assert.throws(() => compiled.run({ x: x([1, 8]), z: x([1, 8]) }, ['y']), /the model has no input 'z'/);
    assert.throws(() => compiled.run({ x: x([1, 8]) }, ['logits']), /the model has no output 'logits'/);
    const ints = new HostTensor('int32', [1, 8], new Int32Array(8));
    assert.throws(() => compiled.run({ x: ints }, ['y']), /input 'x' must be float32, got int32/);
  });

  it('fits a run only while its rows stay within WASM_RUN_MAX_MACS multiply-adds (DENSE_PLAN_MAX_MACS in JavaScript)', async () => {
    const rows = (n: number) => ({ x: new HostTensor('float32', [n, 784], new Float32Array(n * 784)) });
    const wasm = await plan(softmaxRegression());
    assert.equal(wasm.maxRows, Math.floor(WASM_RUN_MAX_MACS / 7840));
    assert.equal(wasm.fits(rows(33)), true);
    assert.equal(wasm.fits(rows(34)), false, '34 × 7,840 multiply-adds is over the bound');
    const js = await plan(softmaxRegression(), noExternal, { webAssembly: false });
    assert.equal(js.maxRows, Math.floor(DENSE_PLAN_MAX_MACS / 7840));
    assert.equal(js.fits(rows(2)), true);
    assert.equal(js.fits(rows(3)), false, '3 × 7,840 multiply-adds is over the bound');
  });

  it("computes runs over its kernel's rows in JavaScript (a model of a fixed batch larger than maxRows)", async () => {
    const compiled = await plan(softmaxRegression());
    const rows = compiled.maxRows + 3;
    const path = await saved('softmax-many-rows', softmaxRegression());
    const x = new HostTensor('float32', [rows, 784], values(rows * 784, 3, 60));
    const { y } = compiled.run({ x }, ['y']);
    assertClose(y?.data as Float32Array, (await ortRun(path, x, ['y'])).y as Float32Array, `y at ${rows} rows`);
  });
});
