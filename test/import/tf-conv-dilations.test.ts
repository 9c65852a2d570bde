/**
 * Conv2D and DepthwiseConv2dNative with TensorFlow's `dilations` attr (NHWC [1, h, w, 1]), imported from a
 * SavedModel and run through ONNX Runtime, against a direct nested-loop reference of TF's definition: tap (i, j)
 * reads input row oh·sh + i·dh − pad_top, with SAME padding computed from the dilated span (k − 1)·d + 1.
 * float32 lowers to ONNX Conv with dilations, float64 to flowserve's im2col.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { convertImportedModel } from '../../src/import/convert.js';
import { readSavedModel } from '../../src/import/saved-model.js';
import { compileModel } from '../../src/runtime/ort.js';

interface Case {
  op: 'Conv2D' | 'DepthwiseConv2dNative';
  dtype: 'float32' | 'float64';
  x: [number, number, number, number];
  /** HWIO for Conv2D, [kh, kw, C, multiplier] for depthwise. */
  f: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'SAME' | 'VALID';
}

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1;
  });
}

function axis(size: number, k: number, s: number, d: number, padding: Case['padding']): [number, number] {
  const span = (k - 1) * d + 1;
  if (padding === 'VALID') return [Math.ceil((size - span + 1) / s), 0];
  const out = Math.ceil(size / s);
  return [out, Math.floor(Math.max((out - 1) * s + span - size, 0) / 2)];
}

/** TF's conv2d / depthwise_conv2d with dilations, by definition. */
function reference(c: Case, x: number[], f: number[]): { shape: number[]; data: number[] } {
  const [N, H, W, C] = c.x;
  const [kh, kw, , M] = c.f;
  const [Ho, pt] = axis(H, kh, c.strides[0], c.dilations[0], c.padding);
  const [Wo, pl] = axis(W, kw, c.strides[1], c.dilations[1], c.padding);
  const O = c.op === 'Conv2D' ? M : C * M;
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        for (let o = 0; o < O; o++) {
          let sum = 0;
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const h = oh * c.strides[0] + i * c.dilations[0] - pt;
              const w = ow * c.strides[1] + j * c.dilations[1] - pl;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const at = (ch: number) => ((n * H + h) * W + w) * C + ch;
              if (c.op === 'Conv2D') {
                for (let ch = 0; ch < C; ch++)
                  sum += (x[at(ch)] as number) * (f[((i * kw + j) * C + ch) * M + o] as number);
              } else {
                const ch = Math.floor(o / M);
                sum += (x[at(ch)] as number) * (f[((i * kw + j) * C + ch) * M + (o % M)] as number);
              }
            }
          }
          out.push(sum);
        }
      }
    }
  }
  return { shape: [N, Ho, Wo, O], data: out };
}

const tfType = (dtype: Case['dtype']) => (dtype === 'float32' ? 'DT_FLOAT' : 'DT_DOUBLE');

function savedModelText(c: Case, f: number[]): string {
  const t = tfType(c.dtype);
  const valueField = c.dtype === 'float32' ? 'float_val' : 'double_val';
  const list = (v: readonly number[]) => `[${v.join(', ')}]`;
  const dims = (v: readonly number[]) => v.map((d) => `dim { size: ${d} }`).join(' ');
  return `meta_graphs {
  meta_info_def { tags: "serve" }
  graph_def {
    node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: ${t} } } attr { key: "shape" value { shape { ${dims(c.x)} } } } }
    node { name: "f" op: "Const" attr { key: "dtype" value { type: ${t} } } attr { key: "value" value { tensor { dtype: ${t} tensor_shape { ${dims(c.f)} } ${valueField}: ${list(f)} } } } }
    node {
      name: "y" op: "${c.op}" input: ["x", "f"]
      attr { key: "T" value { type: ${t} } }
      attr { key: "strides" value { list { i: ${list([1, ...c.strides, 1])} } } }
      attr { key: "dilations" value { list { i: ${list([1, ...c.dilations, 1])} } } }
      attr { key: "padding" value { s: "${c.padding}" } }
      attr { key: "data_format" value { s: "NHWC" } }
    }
  }
  signature_def {
    key: "serving_default"
    value {
      inputs { key: "x" value { name: "x:0" dtype: ${t} tensor_shape { ${dims(c.x)} } } }
      outputs { key: "y" value { name: "y:0" dtype: ${t} tensor_shape { unknown_rank: true } } }
      method_name: "tensorflow/serving/predict"
    }
  }
}
`;
}

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-dilations-'));
let dirs = 0;

async function run(c: Case): Promise<{ actual: HostTensor; expected: { shape: number[]; data: number[] } }> {
  const x = values(
    c.x.reduce((a, b) => a * b),
    7,
  );
  const f = values(
    c.f.reduce((a, b) => a * b),
    11,
  );
  const dir = join(tmp, String(dirs++));
  mkdirSync(dir);
  writeFileSync(join(dir, 'saved_model.pbtxt'), savedModelText(c, f));
  const converted = await convertImportedModel(await readSavedModel(dir));
  const session = await compileModel(converted.model, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ 'x:0': HostTensor.from(c.dtype, x, c.x) }, ['y:0']);
    // float32 inputs were rounded once: the reference computes from the same rounded values.
    const xs = c.dtype === 'float32' ? Array.from(Float32Array.from(x)) : x;
    const fs = c.dtype === 'float32' ? Array.from(Float32Array.from(f)) : f;
    return { actual: out['y:0'] as HostTensor, expected: reference(c, xs, fs) };
  } finally {
    await session.release();
  }
}

function assertClose(actual: HostTensor, expected: { shape: number[]; data: number[] }, tolerance: number): void {
  assert.deepEqual(actual.shape, expected.shape);
  const got = actual.toNumbers();
  got.forEach((v, i) => {
    const want = expected.data[i] as number;
    assert.ok(Math.abs(v - want) <= tolerance, `element ${i}: ${v} vs ${want}`);
  });
}

describe('Conv2D / DepthwiseConv2dNative dilations against a nested-loop reference', () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const base = { x: [2, 9, 8, 3] as Case['x'], f: [3, 2, 3, 4] as Case['f'] };
  const cases: Case[] = [
    { ...base, op: 'Conv2D', dtype: 'float32', strides: [1, 1], dilations: [2, 2], padding: 'SAME' },
    { ...base, op: 'Conv2D', dtype: 'float32', strides: [1, 1], dilations: [2, 3], padding: 'VALID' },
    { ...base, op: 'Conv2D', dtype: 'float32', strides: [2, 1], dilations: [3, 2], padding: 'SAME' },
    { ...base, op: 'Conv2D', dtype: 'float64', strides: [1, 1], dilations: [2, 3], padding: 'SAME' },
    { ...base, op: 'Conv2D', dtype: 'float64', strides: [2, 2], dilations: [2, 1], padding: 'VALID' },
    { ...base, op: 'DepthwiseConv2dNative', dtype: 'float32', strides: [1, 1], dilations: [2, 3], padding: 'SAME' },
    { ...base, op: 'DepthwiseConv2dNative', dtype: 'float32', strides: [1, 1], dilations: [3, 2], padding: 'VALID' },
  ];
  for (const c of cases) {
    it(`${c.op} ${c.dtype} strides [${c.strides}] dilations [${c.dilations}] ${c.padding}`, async () => {
      const { actual, expected } = await run(c);
      assertClose(actual, expected, c.dtype === 'float32' ? 1e-5 : 1e-12);
    });
  }

  it('refuses dilating the batch or depth dimension, as TensorFlow does', async () => {
    const c: Case = { ...base, op: 'Conv2D', dtype: 'float32', strides: [1, 1], dilations: [2, 2], padding: 'SAME' };
    const dir = join(tmp, 'refused');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'saved_model.pbtxt'),
      savedModelText(c, values(72, 1)).replace('i: [1, 2, 2, 1]', 'i: [1, 2, 2, 2]'),
    );
    await assert.rejects(
      convertImportedModel(await readSavedModel(dir)),
      /node 'y' \(Conv2D\): Current implementation does not yet support dilations in the batch and depth dimensions/,
    );
  });
});
