/**
 * TF.js weight shards: the `weightsManifest` of a `model.json` (tfjs-core io/types.ts WeightsManifestConfig)
 * and the binary files it names (spec/tensorflow-model-formats.md §4).
 *
 * Each group's `paths` are one byte stream cut into files; its `weights` lie in it back to back, in order.
 * A weight takes `size(shape) × bytes(dtype)` bytes, or `× bytes(quantization.dtype)` when quantized, or for
 * strings `uint32 length | bytes` per element. Rules, as tfjs-core io_utils decodeWeight:
 * 1. float32, int32 and bool weights are read as they are; string elements as their bytes.
 * 2. `quantization: {dtype: 'uint8'|'uint16', scale, min}` dequantizes to `v * scale + min` (float32), or
 *    `round(v * scale + min)` (int32); `{dtype: 'float16'}` widens half floats to float32 (float32 weights only).
 * 3. Each weight is read from the files straight into its own buffer, so no shard is copied twice and a
 *    weight may span two files.
 * The manifest is data from disk, so every field is checked: paths must stay inside `dir`, shapes must be
 * non-negative integers, and the files must hold every byte the weights need. Errors name the weight and file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { DataLoss, InvalidArgument, NotFound } from '../errors.js';
import { float16Value } from '../graph/dtype.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { typedArrayFromLittleEndian } from './little-endian-tensor.js';

export interface TfjsWeightQuantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  scale?: number;
  min?: number;
  /** Written by tensorflowjs_converter ≥ 3; the dtype before quantization (tfjs-core reads `dtype`). */
  original_dtype?: string;
}

export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64';
  quantization?: TfjsWeightQuantization;
  group?: string;
}

export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightEntry[];
}

/** The `weightsManifest` array of a TF.js model.json. */
export type TfjsWeightsManifest = TfjsWeightsGroup[];

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };
const STRING_LENGTH_BYTES = 4;

/** Every weight of `manifest`, its files resolved inside `dir`, dequantized, by name. */
export async function readTfjsWeights(manifest: TfjsWeightsManifest, dir: string): Promise<Map<string, HostTensor>> {
  if (!Array.isArray(manifest)) throw new InvalidArgument('TF.js weightsManifest must be an array of groups');
  const weights = new Map<string, HostTensor>();
  for (const [groupIndex, group] of manifest.entries()) {
    const what = `weightsManifest[${groupIndex}]`;
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new InvalidArgument(`TF.js ${what} needs 'paths' and 'weights' arrays`);
    }
    const stream = await ShardStream.open(group.paths.map((p) => shardPath(dir, p, what)));
    try {
      let offset = 0;
      for (const entry of group.weights) {
        checkEntry(entry, what);
        if (weights.has(entry.name)) throw new InvalidArgument(`TF.js ${what}: weight '${entry.name}' appears twice`);
        const { tensor, byteLength } = await readWeight(stream, offset, entry);
        weights.set(entry.name, tensor);
        offset += byteLength;
      }
    } finally {
      await stream.close();
    }
  }
  return weights;
}

/** A manifest path resolved inside `dir`; a path that leaves it (absolute, `..`) is refused. */
function shardPath(dir: string, path: unknown, what: string): string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new InvalidArgument(`TF.js ${what}: shard path ${JSON.stringify(path)} is not a file name`);
  }
  const normalized = normalize(path);
  if (isAbsolute(path) || normalized === '..' || normalized.startsWith(`..${sep}`)) {
    throw new InvalidArgument(`TF.js ${what}: shard path '${path}' leaves the model directory`);
  }
  return join(dir, normalized);
}

function checkEntry(entry: TfjsWeightEntry, what: string): void {
  if (!entry || typeof entry.name !== 'string') throw new InvalidArgument(`TF.js ${what}: a weight has no name`);
  const where = `TF.js ${what}: weight '${entry.name}'`;
  if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidArgument(`${where}: shape ${JSON.stringify(entry.shape)} is not a list of sizes`);
  }
  if (!Number.isSafeInteger(shapeSize(entry.shape))) throw new InvalidArgument(`${where}: shape too large`);
  if (!['float32', 'int32', 'bool', 'string'].includes(entry.dtype)) {
    throw new InvalidArgument(
      `${where}: dtype ${JSON.stringify(entry.dtype)} is not one flowserve reads (float32, int32, bool, string)`,
    );
  }
  const q = entry.quantization;
  if (q === undefined) return;
  if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (!Number.isFinite(q.scale) || !Number.isFinite(q.min)) {
      throw new InvalidArgument(`${where}: ${q.dtype} quantization needs finite 'scale' and 'min'`);
    }
    if (entry.dtype !== 'float32' && entry.dtype !== 'int32') {
      throw new InvalidArgument(`${where}: ${q.dtype} quantization applies to float32 or int32, not ${entry.dtype}`);
    }
  } else if (q.dtype === 'float16') {
    if (entry.dtype !== 'float32') {
      throw new InvalidArgument(`${where}: float16 quantization applies to float32 weights, not ${entry.dtype}`);
    }
  } else {
    throw new InvalidArgument(
      `${where}: unknown quantization dtype ${JSON.stringify((q as { dtype: unknown }).dtype)} ` +
        `(supported: uint8, uint16, float16)`,
    );
  }
}

async function readWeight(
  stream: ShardStream,
  offset: number,
  entry: TfjsWeightEntry,
): Promise<{ tensor: HostTensor; byteLength: number }> {
  const count = shapeSize(entry.shape);
  const q = entry.quantization;
  if (entry.dtype === 'string' && q === undefined) return readStrings(stream, offset, entry, count);
  const storedType = q?.dtype ?? entry.dtype;
  const byteLength = count * (BYTES_PER_ELEMENT[storedType] as number);
  const bytes = await stream.read(offset, byteLength, entry.name);
  if (q === undefined) {
    const dtype = entry.dtype === 'bool' ? 'bool' : (entry.dtype as 'float32' | 'int32');
    return { tensor: new HostTensor(dtype, entry.shape, typedArrayFromLittleEndian(dtype, bytes)), byteLength };
  }
  if (q.dtype === 'float16') {
    const halves = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = float16Value(halves.getUint16(2 * i, true));
    return { tensor: new HostTensor('float32', entry.shape, out), byteLength };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const quantized = (i: number) => (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(2 * i, true));
  const scale = q.scale as number;
  const min = q.min as number;
  if (entry.dtype === 'int32') {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = Math.round(quantized(i) * scale + min);
    return { tensor: new HostTensor('int32', entry.shape, out), byteLength };
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = quantized(i) * scale + min;
  return { tensor: new HostTensor('float32', entry.shape, out), byteLength };
}

async function readStrings(
  stream: ShardStream,
  offset: number,
  entry: TfjsWeightEntry,
  count: number,
): Promise<{ tensor: HostTensor; byteLength: number }> {
  const values: Uint8Array[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const lengthBytes = await stream.read(at, STRING_LENGTH_BYTES, entry.name);
    const length = Buffer.from(lengthBytes.buffer, lengthBytes.byteOffset, 4).readUInt32LE(0);
    at += STRING_LENGTH_BYTES;
    const bytes = await stream.read(at, length, entry.name);
    values.push(bytes); // a fresh read buffer, owned by this element
    at += length;
  }
  return { tensor: new HostTensor('string', entry.shape, values), byteLength: at - offset };
}

/** A group's shard files as one byte stream, read by range with positional reads. */
class ShardStream {
  private constructor(private readonly shards: { path: string; file: FileHandle; start: number; size: number }[]) {}

  static async open(paths: string[]): Promise<ShardStream> {
    const shards: { path: string; file: FileHandle; start: number; size: number }[] = [];
    let start = 0;
    try {
      for (const path of paths) {
        let file: FileHandle;
        try {
          file = await open(path, 'r');
        } catch (err) {
          throw new NotFound(`TF.js weight shard missing: cannot open ${path}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        const size = (await file.stat()).size;
        shards.push({ path, file, start, size });
        start += size;
      }
    } catch (err) {
      await Promise.all(shards.map((s) => s.file.close()));
      throw err;
    }
    return new ShardStream(shards);
  }

  /** Bytes [offset, offset + length) of the stream, in a buffer of their own. */
  async read(offset: number, length: number, weightName: string): Promise<Uint8Array> {
    const total = this.shards.reduce((n, s) => n + s.size, 0);
    if (offset + length > total) {
      throw new DataLoss(
        `TF.js weight '${weightName}' needs bytes [${offset}, ${offset + length}) of its group, but ` +
          `${this.shards.map((s) => s.path).join(', ') || 'its (no) files'} hold ${total}: truncated`,
      );
    }
    const out = new Uint8Array(length);
    let written = 0;
    for (const shard of this.shards) {
      if (written === length) break;
      const from = offset + written;
      if (from >= shard.start + shard.size) continue;
      const take = Math.min(length - written, shard.start + shard.size - from);
      const { bytesRead } = await shard.file.read(out, written, take, from - shard.start);
      if (bytesRead !== take) throw new DataLoss(`${shard.path}: truncated while reading weight '${weightName}'`);
      written += take;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.file.close()));
  }
}
