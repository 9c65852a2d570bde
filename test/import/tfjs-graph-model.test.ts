/**
 * TF.js graph models of @vladmandic/human, imported and run as flowserve serves them (ONNX in onnxruntime-node),
 * against TF.js's own outputs (tfjs-converter, CPU backend) on seeded random inputs at batch 1 and 8, and the
 * spec's golden values for an all-0.5 input. Bounds: 1e-4 (1e-3 for float16-quantized weights), absolute up to
 * magnitude 1 and relative above (see maxScaledDiff).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { DataLoss, InvalidArgument, Unimplemented } from '../../src/errors.js';
import { readTfjsGraphModel } from '../../src/import/tfjs-graph-model.js';
import {
  convertTfjsModel,
  loadTfjsReference,
  maxScaledDiff,
  runConverted,
  runTfjs,
  seededFloats,
} from '../helpers/tfjs-reference.js';

const MODELS = fileURLToPath(new URL('../../../node_modules/@vladmandic/human/models/', import.meta.url));

interface Case {
  model: string;
  tolerance: number;
  /** Batch sizes the graph allows (blazeface's input is [1,256,256,3]). */
  batches: number[];
  golden?: number[];
}

const CASES: Case[] = [
  { model: 'liveness', tolerance: 1e-4, batches: [1, 8], golden: [0.61576, 0.38424] },
  {
    model: 'emotion',
    tolerance: 1e-4,
    batches: [1, 8],
    golden: [0.04451, 0.02238, 0.12881, 0.25792, 0.2651, 0.15216, 0.12913],
  },
  { model: 'antispoof', tolerance: 1e-3, batches: [1, 8], golden: [0.75759] },
  { model: 'iris', tolerance: 1e-4, batches: [1, 8] },
  { model: 'blazeface', tolerance: 1e-4, batches: [1] },
  { model: 'facemesh', tolerance: 1e-3, batches: [1, 8] },
];

describe('TF.js graph models against TF.js', () => {
  for (const c of CASES) {
    it(`${c.model}: the same outputs as TF.js at batch ${c.batches.join(' and ')}`, async () => {
      const file = join(MODELS, `${c.model}.json`);
      const [reference, converted] = await Promise.all([loadTfjsReference(file), convertTfjsModel(file)]);
      try {
        const sig = converted.converted.signatureFile.signatures.serving_default;
        assert.ok(sig, 'serving_default signature');
        const [input] = Object.values(sig.inputs);
        assert.ok(input);
        const outputs = Object.values(sig.outputs).map((o) => o.name);
        for (const batch of c.batches) {
          const shape = input.shape.map((d) => (d === -1 ? batch : d));
          const data = seededFloats(
            shape.reduce((a, b) => a * b, 1),
            1000 + batch,
          );
          const feed = { name: input.name, data, shape };
          const expected = runTfjs(reference, feed, outputs);
          const actual = await runConverted(converted, feed, outputs);
          outputs.forEach((name, i) => {
            const diff = maxScaledDiff(actual[i]?.data as Float32Array, expected[i] as Float32Array);
            assert.ok(diff <= c.tolerance, `${c.model} ${name} batch ${batch}: max diff ${diff} > ${c.tolerance}`);
            assert.equal(actual[i]?.dims[0], batch);
          });
        }
        if (c.golden) {
          const shape = input.shape.map((d) => (d === -1 ? 1 : d));
          const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5);
          const [out] = await runConverted(converted, { name: input.name, data, shape }, outputs);
          const got = Array.from(out?.data ?? [], (v) => Number(v.toFixed(5)));
          assert.deepEqual(got, c.golden);
        }
      } finally {
        await converted.session.release();
        reference.dispose();
      }
    });
  }
});

describe('TF.js model.json reading', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  async function modelDir(json: unknown, files: Record<string, Uint8Array> = {}): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-tfjs-'));
    dirs.push(dir);
    await writeFile(join(dir, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json));
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    return dir;
  }
  const placeholder = {
    name: 'x',
    op: 'Placeholder',
    attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '2' }] } } },
  };
  const constNode = (name: string, dims: number[]) => ({
    name,
    op: 'Const',
    attr: {
      dtype: { type: 'DT_FLOAT' },
      value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: dims.map((d) => ({ size: String(d) })) } } },
    },
  });

  it('reads a directory or its model.json, with the signature from userDefinedMetadata (emotion)', async () => {
    const model = await readTfjsGraphModel(join(MODELS, 'emotion.json'));
    assert.equal(model.format, 'tfjs_graph_model');
    assert.deepEqual(Object.keys(model.signatures), ['serving_default']);
    const sig = model.signatures.serving_default;
    assert.equal(sig?.method, 'tensorflow/serving/predict');
    assert.deepEqual(sig?.inputs['input_1:0'], { name: 'input_1:0', dtype: 'float32', shape: [null, 64, 64, 1] });
    const dir = await modelDir({
      format: 'graph-model',
      modelTopology: {
        node: [placeholder, { name: 'y', op: 'Relu', input: ['x'], attr: { T: { type: 'DT_FLOAT' } } }],
      },
      weightsManifest: [],
    });
    const fromDir = await readTfjsGraphModel(dir);
    assert.equal(fromDir.source, join(dir, 'model.json'));
  });

  it('infers the signature as TF.js does: Placeholders in, nodes nothing reads out', async () => {
    const dir = await modelDir({
      format: 'graph-model',
      modelTopology: {
        node: [
          placeholder,
          { name: 'y', op: 'Relu', input: ['x'], attr: { T: { type: 'DT_FLOAT' } } },
          { name: 'z', op: 'Sigmoid', input: ['y'], attr: { T: { type: 'DT_FLOAT' } } },
        ],
      },
    });
    const sig = (await readTfjsGraphModel(dir)).signatures.serving_default;
    assert.deepEqual(sig?.inputs, { x: { name: 'x:0', dtype: 'float32', shape: [null, 2] } });
    assert.deepEqual(Object.keys(sig?.outputs ?? {}), ['z']);
  });

  it('refuses a layers model, naming the file and the converter option', async () => {
    const dir = await modelDir({ format: 'layers-model', modelTopology: { class_name: 'Sequential' } });
    await assert.rejects(
      readTfjsGraphModel(dir),
      (err: Error) => err instanceof Unimplemented && err.message.includes(join(dir, 'model.json')),
    );
  });

  it('refuses bad JSON as data loss naming the file', async () => {
    const dir = await modelDir('{"format": "graph-model", "modelTopology": {');
    await assert.rejects(
      readTfjsGraphModel(dir),
      (err: Error) => err instanceof DataLoss && err.message.startsWith(join(dir, 'model.json')),
    );
  });

  it('refuses a topology that is not a GraphDef', async () => {
    const dir = await modelDir({ format: 'graph-model', modelTopology: { node: { name: 'x' } } });
    await assert.rejects(
      readTfjsGraphModel(dir),
      (err: Error) => err instanceof InvalidArgument && /GraphDef/.test(err.message),
    );
  });

  it('names a Const with no weight, and a weight whose shape is not its Const’s', async () => {
    const missing = await modelDir({ format: 'graph-model', modelTopology: { node: [constNode('w', [2])] } });
    await assert.rejects(readTfjsGraphModel(missing), /Const node 'w' has no weight in weightsManifest/);
    const wrongShape = await modelDir(
      {
        format: 'graph-model',
        modelTopology: { node: [constNode('w', [3])] },
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }],
      },
      { 'w.bin': new Uint8Array(8) },
    );
    await assert.rejects(
      readTfjsGraphModel(wrongShape),
      /weight 'w' has shape \[2\] but its Const node declares \[3\]/,
    );
  });

  it('names the model file when a weight shard is missing', async () => {
    const dir = await modelDir({
      format: 'graph-model',
      modelTopology: { node: [constNode('w', [2])] },
      weightsManifest: [{ paths: ['gone.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }],
    });
    await assert.rejects(readTfjsGraphModel(dir), (err: Error) => err.message.includes(join(dir, 'model.json')));
  });
});
