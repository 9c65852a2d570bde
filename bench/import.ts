/**
 * npm run bench:import — TF.js graph models of @vladmandic/human (emotion, iris, blazeface) imported by flowserve
 * and run as served (the converted ONNX model in onnxruntime-node), against TF.js running the same model.json on
 * its WASM and CPU backends, in one run:
 *  - inference examples/s at batch 1 and 32 on seeded random input (blazeface's input is fixed at batch 1);
 *  - load time: flowserve's read + import + lower + session + first run, against tf.loadGraphModel + first run.
 * Target (issue 10): ≥ 3× tfjs-wasm at batch 32.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import ort from 'onnxruntime-node';
import { convertImportedModel } from '../src/import/convert.js';
import { readTfjsGraphModel } from '../src/import/tfjs-graph-model.js';
import type { TfjsWeightsManifest } from '../src/import/tfjs-weights.js';
import { report, timeIt, type BenchRow } from './report.js';

const MODELS = fileURLToPath(new URL('../../node_modules/@vladmandic/human/models/', import.meta.url));
const require = createRequire(import.meta.url);
setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');

const CASES = [
  { model: 'emotion', batches: [1, 32] },
  { model: 'iris', batches: [1, 32] },
  { model: 'blazeface', batches: [1] },
];
const TIMING = { warmup: 2, iterations: 30, budgetMs: 3000 };

function randomInput(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

async function loadTfjs(file: string): Promise<GraphModel> {
  const json = JSON.parse(await readFile(file, 'utf8'));
  const manifest = json.weightsManifest as TfjsWeightsManifest;
  const bytes = Buffer.concat(
    await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dirname(file), p)))),
  );
  return loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      format: json.format,
      weightSpecs: manifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  });
}

interface Contender {
  loadMs: number;
  /** Runs one batch; resolves when the outputs are on the host. */
  run(data: Float32Array, shape: number[]): Promise<void>;
  release(): Promise<void>;
}

async function flowserve(file: string, input: string, outputs: string[], shape1: number[]): Promise<Contender> {
  const t0 = performance.now();
  const converted = await convertImportedModel(await readTfjsGraphModel(file));
  const session = await ort.InferenceSession.create(converted.model);
  const run = async (data: Float32Array, shape: number[]) => {
    const result = await session.run({ [input]: new ort.Tensor('float32', data, shape) }, outputs);
    if (!result[outputs[0] as string]) throw new Error('no output');
  };
  await run(
    randomInput(
      shape1.reduce((a, b) => a * b, 1),
      1,
    ),
    shape1,
  );
  return { loadMs: performance.now() - t0, run, release: () => session.release() };
}

async function tfjs(backend: string, file: string, input: string, outputs: string[], shape1: number[]) {
  await tf.setBackend(backend);
  await tf.ready();
  const t0 = performance.now();
  const model = await loadTfjs(file);
  const run = async (data: Float32Array, shape: number[]) => {
    const result = tf.tidy(() => model.execute({ [input]: tf.tensor(data, shape) }, outputs));
    const tensors = Array.isArray(result) ? result : [result];
    for (const t of tensors) await t.data();
    tf.dispose(tensors);
  };
  await run(
    randomInput(
      shape1.reduce((a, b) => a * b, 1),
      1,
    ),
    shape1,
  );
  return { loadMs: performance.now() - t0, run, release: async () => model.dispose() } as Contender;
}

const rows: BenchRow[] = [];
const raw: Record<string, unknown> = {};
for (const { model, batches } of CASES) {
  const file = join(MODELS, `${model}.json`);
  const sig = (await readTfjsGraphModel(file)).signatures.serving_default;
  const [input] = Object.values(sig?.inputs ?? {});
  if (!sig || !input?.shape) throw new Error(`${model}: no input`);
  const outputs = Object.values(sig.outputs).map((o) => o.name);
  const shapeAt = (batch: number) => (input.shape as (number | null)[]).map((d) => d ?? batch);
  const ours = await flowserve(file, input.name, outputs, shapeAt(1));
  const peers: Record<string, Contender> = {};
  const perSecond: Record<string, Record<number, number>> = { flowserve: {}, 'tfjs-wasm': {}, 'tfjs-cpu': {} };
  for (const backend of ['wasm', 'cpu']) {
    const peer = await tfjs(backend, file, input.name, outputs, shapeAt(1));
    peers[`tfjs-${backend}`] = peer;
    for (const batch of batches) {
      const shape = shapeAt(batch);
      const data = randomInput(
        shape.reduce((a, b) => a * b, 1),
        batch,
      );
      (perSecond[`tfjs-${backend}`] as Record<number, number>)[batch] =
        (batch * 1000) / (await timeIt(() => peer.run(data, shape), TIMING));
      if (backend === 'wasm') {
        (perSecond.flowserve as Record<number, number>)[batch] =
          (batch * 1000) / (await timeIt(() => ours.run(data, shape), TIMING));
      }
    }
    await peer.release();
  }
  for (const batch of batches) {
    for (const peer of ['tfjs-wasm', 'tfjs-cpu']) {
      rows.push({
        name: `${model} batch ${batch} vs ${peer}`,
        unit: 'examples/s',
        flowserve: perSecond.flowserve?.[batch] as number,
        peer: perSecond[peer]?.[batch] as number,
        peerName: peer,
        higherIsBetter: true,
        ...(batch === 32 && peer === 'tfjs-wasm' ? { target: '≥ 3×' } : {}),
      });
    }
  }
  for (const peer of ['tfjs-wasm', 'tfjs-cpu']) {
    rows.push({
      name: `${model} load + first run vs ${peer}`,
      unit: 'ms',
      flowserve: ours.loadMs,
      peer: (peers[peer] as Contender).loadMs,
      peerName: `${peer} loadGraphModel`,
      higherIsBetter: false,
    });
  }
  raw[model] = {
    examplesPerSecond: perSecond,
    loadMs: { flowserve: ours.loadMs, ...Object.fromEntries(Object.entries(peers).map(([k, v]) => [k, v.loadMs])) },
  };
  await ours.release();
}
report('import', rows, { raw, note: 'onnxruntime-node with its default threads; tfjs-wasm single-threaded in Node' });
