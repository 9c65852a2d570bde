/** Test servables written with the ONNX builder: a small softmax classifier and a deliberately slow model. */
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DType } from '../../../src/graph/dtype.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../../../src/onnx/builder.js';
import type { SignatureFile } from '../../../src/serving/core/types.js';

export const FEATURES = 4;
export const CLASSES = 3;
export const LABELS = ['a', 'b', 'c'];

export function tempBase(prefix = 'flowserve-serving-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Weights of classifier version v: distinct per version so tests can tell which version answered. */
export function classifierWeights(version: number): { w: number[]; b: number[] } {
  const w = Array.from({ length: FEATURES * CLASSES }, (_, i) => Math.sin(i + version) * 0.5);
  const b = Array.from({ length: CLASSES }, (_, i) => 0.1 * i * version);
  return { w, b };
}

/** float64 reference of softmax(x·W + b). */
export function referenceScores(x: readonly number[], version: number): number[] {
  const { w, b } = classifierWeights(version);
  const logits = Array.from({ length: CLASSES }, (_, k) => {
    let s = Math.fround(b[k] as number);
    for (let i = 0; i < FEATURES; i++) s += (x[i] as number) * Math.fround(w[i * CLASSES + k] as number);
    return s;
  });
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, c) => a + c, 0);
  return exps.map((e) => e / sum);
}

function writeVersion(base: string, version: number, model: Uint8Array, signatures: SignatureFile): string {
  // Written beside, then renamed into place, so a polling server never sees half a version.
  const tmp = join(base, `.tmp-${version}`);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'model.onnx'), model);
  writeFileSync(join(tmp, 'signatures.json'), JSON.stringify(signatures));
  const dir = join(base, String(version));
  renameSync(tmp, dir);
  return dir;
}

export function classifierSignatures(): SignatureFile {
  const inputs = { inputs: { name: 'x', dtype: 'float32' as const, shape: [-1, FEATURES] } };
  const outputs = { scores: { name: 'y', dtype: 'float32' as const, shape: [-1, CLASSES] } };
  return {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/classify',
        inputs,
        outputs,
        classLabels: LABELS,
        exampleFeatures: { x: { input: 'inputs', kind: 'float_list', shape: [FEATURES] } },
      },
      predict_probs: {
        method: 'tensorflow/serving/predict',
        inputs: { x: inputs.inputs },
        outputs: { probabilities: outputs.scores },
      },
      regress_first: {
        method: 'tensorflow/serving/regress',
        inputs: { inputs: { name: 'x', dtype: 'float32', shape: [-1, FEATURES] } },
        outputs: { outputs: { name: 'first', dtype: 'float32', shape: [-1, 1] } },
        exampleFeatures: { x: { input: 'inputs', kind: 'float_list', shape: [FEATURES] } },
      },
    },
  };
}

/** Writes classifier version `version` under `base`: y = softmax(x·W + b), first = y[:, 0:1]. */
export function writeClassifier(base: string, version: number): string {
  const { w, b } = classifierWeights(version);
  const g = new OnnxGraphBuilder('classifier');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', FEATURES] });
  const wName = g.constant(HostTensor.from('float32', w, [FEATURES, CLASSES]), 'w');
  const bName = g.constant(HostTensor.from('float32', b, [CLASSES]), 'b');
  const logits = g.op('Add', [g.op('MatMul', ['x', wName]), bName]);
  g.op('Softmax', [logits], { axis: -1 }, 'y');
  g.op('Slice', ['y', g.int64s([0]), g.int64s([1]), g.int64s([1])], {}, 'first');
  g.output({ name: 'y', dtype: 'float32', shape: ['batch', CLASSES] });
  g.output({ name: 'first', dtype: 'float32', shape: ['batch', 1] });
  return writeVersion(base, version, g.build(), classifierSignatures());
}

/** A version directory whose model.onnx is garbage: its load must fail. */
export function writeCorruptVersion(base: string, version: number): string {
  return writeVersion(base, version, new Uint8Array([1, 2, 3, 4, 5]), classifierSignatures());
}

export const SLOW_SIZE = 1024;

/** y = x·I repeated `repeats` times: slow enough to observe the event loop while it computes. */
export function writeSlowModel(base: string, version: number, repeats = 24): string {
  const g = new OnnxGraphBuilder('slow');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', SLOW_SIZE] });
  const eye = new Float32Array(SLOW_SIZE * SLOW_SIZE);
  for (let i = 0; i < SLOW_SIZE; i++) eye[i * SLOW_SIZE + i] = 1;
  const w = g.constant(new HostTensor('float32', [SLOW_SIZE, SLOW_SIZE], eye), 'eye');
  let v = 'x';
  for (let i = 0; i < repeats; i++) v = g.op('MatMul', [v, w], {}, i === repeats - 1 ? 'y' : undefined);
  g.output({ name: 'y', dtype: 'float32', shape: ['batch', SLOW_SIZE] });
  const spec = { name: 'x', dtype: 'float32' as const, shape: [-1, SLOW_SIZE] };
  return writeVersion(base, version, g.build(), {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: { x: spec },
        outputs: { y: { ...spec, name: 'y' } },
      },
    },
  });
}

/**
 * y = Identity(x) for any dtype; `signatureShape` is what signatures.json declares ([] = shape not declared, so
 * only the request limits bound what a client may send).
 */
export function writeIdentityModel(base: string, version: number, dtype: DType, signatureShape: number[]): string {
  const g = new OnnxGraphBuilder('identity');
  const onnxShape = signatureShape.length === 0 ? undefined : signatureShape.map((d, i) => (d < 0 ? `d${i}` : d));
  g.input({ name: 'x', dtype, shape: onnxShape });
  g.op('Identity', ['x'], {}, 'y');
  g.output({ name: 'y', dtype, shape: onnxShape });
  const spec = { name: 'x', dtype, shape: signatureShape };
  return writeVersion(base, version, g.build(), {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: { x: spec },
        outputs: { y: { ...spec, name: 'y' } },
      },
    },
  });
}

/** y[i] = Σ_j x[i, j] as a [batch, 1] output: a model that takes a large input and answers with a small one. */
export function writeRowSumModel(base: string, version: number, features: number): string {
  const g = new OnnxGraphBuilder('row_sum');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', features] });
  g.op('ReduceSum', ['x', g.int64s([1])], { keepdims: 1 }, 'sum');
  g.output({ name: 'sum', dtype: 'float32', shape: ['batch', 1] });
  return writeVersion(base, version, g.build(), {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: { x: { name: 'x', dtype: 'float32', shape: [-1, features] } },
        outputs: { sum: { name: 'sum', dtype: 'float32', shape: [-1, 1] } },
      },
    },
  });
}

/** The classifier with one signature returning both of its outputs: `scores` (y) and `first` (y[:, 0:1]). */
export function writeTwoOutputClassifier(base: string, version: number): string {
  const dir = writeClassifier(base, version);
  const inputs = { inputs: { name: 'x', dtype: 'float32' as const, shape: [-1, FEATURES] } };
  const signatures: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: 'serving_default',
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs,
        outputs: {
          scores: { name: 'y', dtype: 'float32', shape: [-1, CLASSES] },
          first: { name: 'first', dtype: 'float32', shape: [-1, 1] },
        },
      },
    },
  };
  writeFileSync(join(dir, 'signatures.json'), JSON.stringify(signatures));
  return dir;
}
