import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { DataLoss, InvalidArgument, NotFound, Unimplemented } from '../../src/errors.js';
import { float16Value } from '../../src/graph/dtype.js';
import { extendCrc32c, maskCrc32c, maskedCrc32c } from '../../src/import/masked-crc32c.js';
import { dataShardPath, readTensorBundle } from '../../src/import/tensor-bundle.js';
import { bundleEntry, bundleHeader, writeTable } from './table-writer.js';
import { textArray } from '../helpers/text-elements.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/tensorflow-serving/', import.meta.url));
const variablesOf = (model: string) => join(FIXTURES, model, '00000123', 'variables', 'variables');

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-bundle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let copies = 0;

/** A private copy of a fixture's variables, to corrupt. */
function copyOf(model: string): string {
  const dir = join(tmp, `copy${copies++}`);
  mkdirSync(dir);
  const prefix = join(dir, 'variables');
  copyFileSync(`${variablesOf(model)}.index`, `${prefix}.index`);
  copyFileSync(dataShardPath(variablesOf(model), 0, 1), dataShardPath(prefix, 0, 1));
  return prefix;
}

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = (bytes[offset] as number) ^ 0x40;
  writeFileSync(path, bytes);
}

/** The data block's type byte: the block ends where the metaindex begins (the footer's first varint). */
function dataBlockType(indexPath: string): number {
  const bytes = readFileSync(indexPath);
  const metaindexOffset = bytes[bytes.length - 48] as number; // a one-byte varint in these small files
  return bytes[metaindexOffset - 5] as number;
}

const values = (tensors: Map<string, { toNumbers(): number[] }>) =>
  Object.fromEntries([...tensors].map(([k, v]) => [k, v.toNumbers()]));

describe('readTensorBundle on TensorFlow Serving fixtures', () => {
  it('reads saved_model_half_plus_two_cpu, whose table blocks are Snappy-compressed', async () => {
    assert.equal(dataBlockType(`${variablesOf('saved_model_half_plus_two_cpu')}.index`), 1);
    const tensors = await readTensorBundle(variablesOf('saved_model_half_plus_two_cpu'));
    assert.deepEqual(values(tensors), { a: [0.5], a2: [0.5], b: [2], c: [3], c2: [3] });
    for (const t of tensors.values()) {
      assert.equal(t.dtype, 'float32');
      assert.deepEqual(t.shape, []);
    }
  });

  it('reads both versions of saved_model_half_plus_two_2_versions, whose blocks are raw', async () => {
    assert.equal(dataBlockType(`${variablesOf('saved_model_half_plus_two_2_versions')}.index`), 0);
    for (const version of ['00000123', '00000124']) {
      const prefix = join(FIXTURES, 'saved_model_half_plus_two_2_versions', version, 'variables', 'variables');
      assert.deepEqual(values(await readTensorBundle(prefix)), { a: [0.5], b: [2], c: [3] });
    }
  });

  it('reads the TF2 keys and the DT_STRING object graph of saved_model_half_plus_two_tf2_cpu', async () => {
    const tensors = await readTensorBundle(variablesOf('saved_model_half_plus_two_tf2_cpu'));
    assert.deepEqual(
      [...tensors.keys()],
      [
        '_CHECKPOINTABLE_OBJECT_GRAPH',
        'a/.ATTRIBUTES/VARIABLE_VALUE',
        'b/.ATTRIBUTES/VARIABLE_VALUE',
        'c/.ATTRIBUTES/VARIABLE_VALUE',
      ],
    );
    assert.deepEqual(tensors.get('a/.ATTRIBUTES/VARIABLE_VALUE')?.toNumbers(), [0.5]);
    assert.deepEqual(tensors.get('b/.ATTRIBUTES/VARIABLE_VALUE')?.toNumbers(), [2]);
    assert.deepEqual(tensors.get('c/.ATTRIBUTES/VARIABLE_VALUE')?.toNumbers(), [3]);
    const graph = tensors.get('_CHECKPOINTABLE_OBJECT_GRAPH');
    assert.equal(graph?.dtype, 'string');
    assert.deepEqual(graph?.shape, []);
    const bytes = Buffer.from(graph?.get(0) as Uint8Array);
    assert.equal(bytes.length, 613);
    // A serialized TrackableObjectGraph names each variable's checkpoint key.
    assert.ok(bytes.includes('a/.ATTRIBUTES/VARIABLE_VALUE'));
  });
});

describe('readTensorBundle refuses corrupt files, naming the file', () => {
  it('a flipped byte in the index data block is a CRC mismatch in the block at offset 0', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    flipByte(`${prefix}.index`, 0x0c);
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /variables\.index: CRC mismatch in data block at offset 0/);
      return true;
    });
  });

  it('a flipped byte in the index block is a CRC mismatch in the index block', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    flipByte(`${prefix}.index`, 0x56); // inside the index block at 0x54 (the spec's annotated dump)
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /variables\.index: CRC mismatch in index block at offset 84/);
      return true;
    });
  });

  it('a flipped byte in a Snappy block is caught by its CRC', async () => {
    const prefix = copyOf('saved_model_half_plus_two_cpu');
    flipByte(`${prefix}.index`, 3);
    await assert.rejects(readTensorBundle(prefix), /variables\.index: CRC mismatch in data block at offset 0/);
  });

  it('a flipped byte in the data shard is a CRC mismatch in that tensor', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    flipByte(dataShardPath(prefix, 0, 1), 5); // inside b (bytes 4..8)
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /variables\.data-00000-of-00001: CRC mismatch in tensor 'b' at offset 4/);
      return true;
    });
  });

  it('a truncated index has no footer magic', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    truncateSync(`${prefix}.index`, 140);
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /variables\.index: bad magic/);
      return true;
    });
    truncateSync(`${prefix}.index`, 20);
    await assert.rejects(readTensorBundle(prefix), /variables\.index: truncated table: 20 bytes/);
  });

  it('a truncated data shard names the tensor that runs past its end', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    truncateSync(dataShardPath(prefix, 0, 1), 10);
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /data-00000-of-00001: truncated: tensor 'c' spans bytes \[8, 12\) of a 10-byte file/);
      return true;
    });
  });

  it('a missing data shard is NotFound naming the shard file', async () => {
    const prefix = copyOf('saved_model_half_plus_two_2_versions');
    rmSync(dataShardPath(prefix, 0, 1));
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof NotFound);
      assert.match(err.message, /data shard missing: .*variables\.data-00000-of-00001/);
      return true;
    });
  });

  it('a missing index is NotFound naming it', async () => {
    await assert.rejects(readTensorBundle(join(tmp, 'nothing', 'variables')), (err: Error) => {
      assert.ok(err instanceof NotFound);
      assert.match(err.message, /nothing\/variables\.index/);
      return true;
    });
  });
});

/** Writes a bundle of [name, dtype code, dims, bytes, shard?, entry crc?] tensors and returns its prefix. */
function writeBundle(
  tensors: [string, number, number[], Buffer, number?, number?][],
  options: { numShards?: number; endianness?: number; snappy?: boolean; entriesPerBlock?: number } = {},
): string {
  const dir = join(tmp, `written${copies++}`);
  mkdirSync(dir);
  const prefix = join(dir, 'variables');
  const numShards = options.numShards ?? 1;
  const shards: Buffer[][] = Array.from({ length: numShards }, () => []);
  const offsets = new Array<number>(numShards).fill(0);
  const entries: [Buffer, Buffer][] = [
    [Buffer.alloc(0), bundleHeader({ numShards, endianness: options.endianness ?? 0 })],
  ];
  for (const [name, dtype, dims, bytes, shardId = 0, crc32c = maskedCrc32c(bytes)] of tensors) {
    const offset = offsets[shardId] as number;
    entries.push([Buffer.from(name), bundleEntry({ dtype, dims, shardId, offset, size: bytes.length, crc32c })]);
    shards[shardId]?.push(bytes);
    offsets[shardId] = offset + bytes.length;
  }
  writeFileSync(`${prefix}.index`, writeTable(entries, options));
  shards.forEach((parts, i) => writeFileSync(dataShardPath(prefix, i, numShards), Buffer.concat(parts)));
  return prefix;
}

const f32 = (...v: number[]) => Buffer.from(new Float32Array(v).buffer);

describe('readTensorBundle on bundles written here', () => {
  it('reads every numeric dtype flowserve has, from two shards and several Snappy blocks', async () => {
    const many = Array.from({ length: 40 }, (_, i): [string, number, number[], Buffer, number] => [
      `layer/kernel_${String(i).padStart(2, '0')}`, // shared prefixes across restarts
      1,
      [2],
      f32(i, -i),
      i % 2,
    ]);
    const prefix = writeBundle(
      [
        ...many,
        ['f64', 2, [3], Buffer.from(new Float64Array([1.5, -2, 1e300]).buffer)],
        ['i32', 3, [2, 2], Buffer.from(new Int32Array([1, -2, 3, -2147483648]).buffer), 1],
        ['u8', 4, [3], Buffer.from([0, 7, 255])],
        ['i64', 9, [2], Buffer.from(new BigInt64Array([-(2n ** 62n), 5n]).buffer)],
        ['flag', 10, [2], Buffer.from([1, 0])],
      ],
      { numShards: 2, snappy: true, entriesPerBlock: 7 },
    );
    const tensors = await readTensorBundle(prefix);
    assert.equal(tensors.size, 45);
    assert.deepEqual(tensors.get('layer/kernel_17')?.toNumbers(), [17, -17]);
    assert.deepEqual(tensors.get('layer/kernel_00')?.shape, [2]);
    assert.deepEqual(tensors.get('f64')?.toNumbers(), [1.5, -2, 1e300]);
    assert.equal(tensors.get('f64')?.dtype, 'float64');
    assert.deepEqual(tensors.get('i32')?.toArray(), [
      [1, -2],
      [3, -2147483648],
    ]);
    assert.deepEqual(tensors.get('u8')?.toNumbers(), [0, 7, 255]);
    assert.deepEqual(tensors.get('i64')?.toArray(), [-(2n ** 62n), 5n]);
    assert.deepEqual(tensors.get('flag')?.toArray(), [true, false]);
  });

  it('reads DT_STRING tensors in TF layout and verifies both of their checksums', async () => {
    const strings = ['', 'héllo', 'x'.repeat(300)];
    const { bytes, crc } = tfStringBytes(strings);
    const prefix = writeBundle([['vocab', 7, [3], bytes, 0, crc]]);
    assert.deepEqual(textArray((await readTensorBundle(prefix)).get('vocab')), strings);
    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    const corruptPrefix = writeBundle([['vocab', 7, [3], corrupt, 0, crc]]);
    await assert.rejects(readTensorBundle(corruptPrefix), /string tensor 'vocab': CRC mismatch in the string bytes/);
    const badLength = Buffer.from(bytes);
    badLength[1] = 4; // 'héllo' is 6 bytes
    await assert.rejects(
      readTensorBundle(writeBundle([['vocab', 7, [3], badLength, 0, crc]])),
      /string tensor 'vocab': CRC mismatch in the element lengths/,
    );
  });

  it('refuses big-endian bundles', async () => {
    const prefix = writeBundle([['a', 1, [], f32(1)]], { endianness: 1 });
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof Unimplemented);
      assert.match(err.message, /variables\.index: the bundle is big-endian/);
      return true;
    });
  });

  it('refuses a dtype flowserve cannot hold, naming the tensor and the dtype', async () => {
    const prefix = writeBundle([['complex_weights', 8, [2], Buffer.alloc(16)]]);
    await assert.rejects(readTensorBundle(prefix), (err: Error) => {
      assert.ok(err instanceof InvalidArgument);
      assert.match(err.message, /tensor 'complex_weights' has dtype DT_COMPLEX64/);
      return true;
    });
  });

  it('reads half, int8, uint16 and uint64 tensors as their own dtypes', async () => {
    const half = Buffer.alloc(4);
    half.writeUInt16LE(0x3c00, 0); // 1.0
    half.writeUInt16LE(0xc000, 2); // -2.0
    const u64 = Buffer.alloc(8);
    u64.writeBigUInt64LE(2n ** 64n - 1n);
    const prefix = writeBundle([
      ['h', 19, [2], half],
      ['i8', 6, [2], Buffer.from([0x7f, 0x80])],
      ['u16', 17, [1], Buffer.from([0xff, 0xff])],
      ['u64', 23, [1], u64],
    ]);
    const bundle = await readTensorBundle(prefix);
    const get = (name: string) => bundle.get(name);
    assert.equal(get('h')?.dtype, 'float16');
    assert.deepEqual([...(get('h')?.data as Uint16Array)].map(float16Value), [1, -2]);
    assert.deepEqual([...(get('i8')?.data as Int8Array)], [127, -128]);
    assert.deepEqual([...(get('u16')?.data as Uint16Array)], [65535]);
    assert.deepEqual([...(get('u64')?.data as BigUint64Array)], [2n ** 64n - 1n]);
  });

  it('refuses an entry whose size does not match its shape', async () => {
    const prefix = writeBundle([['a', 1, [3], f32(1, 2)]]);
    await assert.rejects(readTensorBundle(prefix), /tensor 'a' \(DT_FLOAT \[3\]\) needs 12 bytes, its entry says 8/);
  });
});

/** tensor_bundle.cc's string layout and its entry CRC, written from the spec's description. */
function tfStringBytes(strings: string[]): { bytes: Buffer; crc: number } {
  const elements = strings.map((s) => Buffer.from(s));
  const lengths = Buffer.from(elements.flatMap((b) => varint(b.length)));
  let crc = 0;
  for (const b of elements) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(b.length);
    crc = extendCrc32c(crc, length);
  }
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32LE(maskCrc32c(crc));
  crc = extendCrc32c(crc, checksum);
  for (const b of elements) crc = extendCrc32c(crc, b);
  return { bytes: Buffer.concat([lengths, checksum, ...elements]), crc: maskCrc32c(crc) };
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}
