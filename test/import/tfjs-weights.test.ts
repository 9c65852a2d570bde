import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { DataLoss, InvalidArgument, NotFound } from '../../src/errors.js';
import type { HostTensor } from '../../src/graph/host-tensor.js';
import { readTfjsWeights, type TfjsWeightsManifest } from '../../src/import/tfjs-weights.js';
import { textArray } from '../helpers/text-elements.js';

const MODELS = fileURLToPath(new URL('../../../node_modules/@vladmandic/human/models/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'flowserve-tfjs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function manifestOf(model: string): TfjsWeightsManifest {
  const json = JSON.parse(readFileSync(join(MODELS, `${model}.json`), 'utf8')) as {
    weightsManifest: TfjsWeightsManifest;
  };
  return json.weightsManifest;
}

/** What TF.js itself decodes from the same bytes (tfjs-core io.decodeWeights), as plain arrays. */
function tfjsReference(manifest: TfjsWeightsManifest, dir: string): Map<string, { shape: number[]; values: number[] }> {
  const out = new Map<string, { shape: number[]; values: number[] }>();
  for (const group of manifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const decoded = tf.io.decodeWeights(buffer, group.weights as tf.io.WeightsManifestEntry[]);
    for (const [name, tensor] of Object.entries(decoded)) {
      out.set(name, { shape: tensor.shape, values: Array.from(tensor.dataSync() as Float32Array) });
      tensor.dispose();
    }
  }
  return out;
}

function maxAbsDiff(ours: HostTensor, reference: { values: number[] }): number {
  const values = ours.toNumbers();
  assert.equal(values.length, reference.values.length);
  let max = 0;
  values.forEach((v, i) => (max = Math.max(max, Math.abs(v - (reference.values[i] as number)))));
  return max;
}

function assertSameAsTfjs(ours: Map<string, HostTensor>, manifest: TfjsWeightsManifest, dir: string): void {
  const reference = tfjsReference(manifest, dir);
  assert.deepEqual([...ours.keys()].sort(), [...reference.keys()].sort());
  for (const [name, expected] of reference) {
    const tensor = ours.get(name) as HostTensor;
    assert.deepEqual(tensor.shape, expected.shape, name);
    assert.equal(maxAbsDiff(tensor, expected), 0, name);
  }
}

describe('readTfjsWeights on @vladmandic/human models, against tfjs-core decodeWeights', () => {
  it('liveness: float32 and int32 weights, max abs diff 0', async () => {
    const manifest = manifestOf('liveness');
    const weights = await readTfjsWeights(manifest, MODELS);
    assert.equal(weights.size, 23);
    assertSameAsTfjs(weights, manifest, MODELS);
    const ints = [...weights.values()].filter((t) => t.dtype === 'int32');
    assert.equal(ints.length, 1);
  });

  it('antispoof: float16-quantized weights widened to float32, max abs diff 0', async () => {
    const manifest = manifestOf('antispoof');
    assert.ok(manifest[0]?.weights.some((w) => w.quantization?.dtype === 'float16'));
    const weights = await readTfjsWeights(manifest, MODELS);
    assertSameAsTfjs(weights, manifest, MODELS);
    for (const w of manifest[0]?.weights ?? []) {
      if (w.quantization) assert.equal(weights.get(w.name)?.dtype, 'float32');
    }
  });

  it('handtrack: uint8-quantized weights dequantized as v * scale + min, max abs diff 0', async () => {
    const manifest = manifestOf('handtrack');
    assert.ok(manifest[0]?.weights.some((w) => w.quantization?.dtype === 'uint8'));
    assertSameAsTfjs(await readTfjsWeights(manifest, MODELS), manifest, MODELS);
  });

  it('reads a group cut into three shard files at odd offsets, weights spanning files', async () => {
    const dir = join(tmp, 'split');
    mkdirSync(dir);
    const bin = readFileSync(join(MODELS, 'liveness.bin'));
    const cuts = [0, 1001, 300_003, bin.length];
    const paths = cuts.slice(1).map((end, i) => {
      writeFileSync(join(dir, `group1-shard${i + 1}of3.bin`), bin.subarray(cuts[i], end));
      return `group1-shard${i + 1}of3.bin`;
    });
    const manifest = manifestOf('liveness').map((g) => ({ ...g, paths }));
    const ours = await readTfjsWeights(manifest, dir);
    const whole = await readTfjsWeights(manifestOf('liveness'), MODELS);
    for (const [name, tensor] of whole) assert.deepEqual(ours.get(name)?.toNumbers(), tensor.toNumbers(), name);
  });
});

describe('readTfjsWeights on hand-written manifests', () => {
  it('dequantizes uint16 to float32 and uint8 to rounded int32, and reads bool and string weights', async () => {
    const dir = join(tmp, 'hand');
    mkdirSync(dir, { recursive: true });
    const u16 = Buffer.from(new Uint16Array([0, 1, 65535]).buffer);
    const u8 = Buffer.from([0, 3, 255]);
    const flags = Buffer.from([1, 0]);
    const words = Buffer.concat(
      ['hé', ''].flatMap((s) => {
        const b = Buffer.from(s);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        return [len, b];
      }),
    );
    writeFileSync(join(dir, 'w.bin'), Buffer.concat([u16, u8, flags, words]));
    const manifest: TfjsWeightsManifest = [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'f', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.5, min: -1 } },
          { name: 'i', shape: [3], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.25, min: 0.1 } },
          { name: 'flags', shape: [2], dtype: 'bool' },
          { name: 'words', shape: [2], dtype: 'string' },
        ],
      },
    ];
    const weights = await readTfjsWeights(manifest, dir);
    assert.deepEqual(weights.get('f')?.toNumbers(), [-1, -0.5, 65535 * 0.5 - 1]);
    assert.deepEqual(weights.get('i')?.toNumbers(), [0, 1, 64]); // round(0.1), round(0.85), round(63.85)
    assert.deepEqual(weights.get('flags')?.toArray(), [true, false]);
    assert.deepEqual(textArray(weights.get('words')), ['hé', '']);
  });

  it('refuses shards that are too short, naming the weight and the files', async () => {
    const dir = join(tmp, 'short');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.bin'), Buffer.alloc(10));
    const manifest: TfjsWeightsManifest = [
      { paths: ['a.bin'], weights: [{ name: 'k', shape: [3], dtype: 'float32' }] },
    ];
    await assert.rejects(readTfjsWeights(manifest, dir), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /weight 'k' needs bytes \[0, 12\) .*a\.bin hold 10: truncated/);
      return true;
    });
  });

  it('refuses a missing shard, paths that leave the model directory, and unknown dtypes', async () => {
    const weights = [{ name: 'k', shape: [1], dtype: 'float32' as const }];
    await assert.rejects(readTfjsWeights([{ paths: ['absent.bin'], weights }], tmp), (err: Error) => {
      assert.ok(err instanceof NotFound);
      assert.match(err.message, /weight shard missing: .*absent\.bin/);
      return true;
    });
    for (const path of ['../escape.bin', '/etc/passwd', 'a/../../b.bin']) {
      await assert.rejects(readTfjsWeights([{ paths: [path], weights }], tmp), (err: Error) => {
        assert.ok(err instanceof InvalidArgument);
        assert.match(err.message, /leaves the model directory/);
        return true;
      });
    }
    const complex = [{ name: 'z', shape: [1], dtype: 'complex64' as const }];
    await assert.rejects(readTfjsWeights([{ paths: [], weights: complex }], tmp), /weight 'z': dtype "complex64"/);
    const badQuant = [{ name: 'q', shape: [1], dtype: 'float32' as const, quantization: { dtype: 'uint8' as const } }];
    await assert.rejects(readTfjsWeights([{ paths: [], weights: badQuant }], tmp), /needs finite 'scale' and 'min'/);
    const badShape = [{ name: 's', shape: [-1], dtype: 'float32' as const }];
    await assert.rejects(
      readTfjsWeights([{ paths: [], weights: badShape }], tmp),
      /shape \[-1\] is not a list of sizes/,
    );
  });
});
