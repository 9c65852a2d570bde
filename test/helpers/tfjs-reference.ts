/**
 * TF.js itself as the reference for imported TF.js graph models: `@tensorflow/tfjs-converter` on the CPU backend,
 * the model loaded from its files through an io handler (no network, no tfjs-node), and flowserve's side run as
 * served: the imported model converted to ONNX and run in onnxruntime-node.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import ort from 'onnxruntime-node';
import { convertImportedModel, type ConvertedModel } from '../../src/import/convert.js';
import { readTfjsGraphModel } from '../../src/import/tfjs-graph-model.js';
import type { TfjsWeightsManifest } from '../../src/import/tfjs-weights.js';

let backendReady: Promise<boolean> | undefined;

/** A GraphModel read from `modelJson` and the weight files beside it, on TF.js's CPU backend. */
export async function loadTfjsReference(modelJson: string): Promise<GraphModel> {
  backendReady ??= tf.setBackend('cpu');
  await backendReady;
  const json = JSON.parse(await readFile(modelJson, 'utf8'));
  const manifest = json.weightsManifest as TfjsWeightsManifest;
  const shards = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dirname(modelJson), p))));
  const bytes = Buffer.concat(shards);
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

/** TF.js's outputs for `outputs` (TF tensor names) given one float32 input. */
export function runTfjs(
  model: GraphModel,
  input: { name: string; data: Float32Array; shape: number[] },
  outputs: string[],
): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(input.data, input.shape, 'float32');
    const result = model.execute({ [input.name]: x }, outputs);
    return (Array.isArray(result) ? result : [result]).map((t) => t.dataSync() as Float32Array);
  });
}

export interface ConvertedTfjsModel {
  converted: ConvertedModel;
  session: ort.InferenceSession;
}

/** The model as flowserve serves it: imported, converted to ONNX, in an onnxruntime-node session. */
export async function convertTfjsModel(modelJson: string): Promise<ConvertedTfjsModel> {
  const converted = await convertImportedModel(await readTfjsGraphModel(modelJson));
  return { converted, session: await ort.InferenceSession.create(converted.model) };
}

/** flowserve's outputs (by ONNX output name = TF tensor name) for one float32 input. */
export async function runConverted(
  model: ConvertedTfjsModel,
  input: { name: string; data: Float32Array; shape: number[] },
  outputs: string[],
): Promise<{ data: Float32Array; dims: readonly number[] }[]> {
  const result = await model.session.run({ [input.name]: new ort.Tensor('float32', input.data, input.shape) });
  return outputs.map((name) => {
    const t = result[name];
    if (!t) throw new Error(`no output '${name}'`);
    return { data: t.data as Float32Array, dims: t.dims };
  });
}

/** Seeded uniform [lo, hi) floats (mulberry32), so a failing comparison can be rerun exactly. */
export function seededFloats(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/**
 * The largest |actual − expected| / max(1, |expected|): the absolute difference for values up to 1, relative
 * above (float32 rounding grows with magnitude: TF.js's own CPU and WASM backends differ by 5e-4 on blazeface's
 * logits near 110).
 */
export function maxScaledDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const d = Math.abs((actual[i] as number) - e) / Math.max(1, Math.abs(e));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}
