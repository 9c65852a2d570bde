import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { DataLoss, InvalidArgument, NotFound } from '../../src/errors.js';
import { readV1Checkpoint } from '../../src/import/v1-checkpoint.js';
import { writeTable } from './table-writer.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/tensorflow-serving/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'flowserve-v1ckpt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(tmp, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};

describe('readV1Checkpoint on TensorFlow Serving fixtures', () => {
  it('reads session_bundle_half_plus_two through its shard pattern: a = 0.5, b = 2', async () => {
    const tensors = await readV1Checkpoint(
      join(FIXTURES, 'session_bundle_half_plus_two', '00000123', 'export-?????-of-?????'),
    );
    assert.deepEqual([...tensors.keys()], ['a', 'b']);
    assert.equal(tensors.get('a')?.dtype, 'float32');
    assert.deepEqual(tensors.get('a')?.shape, []);
    assert.deepEqual(tensors.get('a')?.toNumbers(), [0.5]);
    assert.deepEqual(tensors.get('b')?.toNumbers(), [2]);
  });

  it('bad_half_plus_two has no checkpoint shard: NotFound naming the pattern', async () => {
    const pattern = join(FIXTURES, 'bad_half_plus_two', '00000123', 'export-?????-of-?????');
    await assert.rejects(readV1Checkpoint(pattern), (err: Error) => {
      assert.ok(err instanceof NotFound);
      assert.ok(err.message.includes(pattern), err.message);
      assert.match(err.message, /no file matches/);
      return true;
    });
  });

  it('a flipped byte in a checkpoint block is DataLoss naming the file', async () => {
    const path = join(newDir(), 'export-00000-of-00001');
    copyFileSync(join(FIXTURES, 'session_bundle_half_plus_two', '00000123', 'export-00000-of-00001'), path);
    const bytes = readFileSync(path);
    bytes[0x34] = (bytes[0x34] as number) ^ 1; // inside a's float_val
    writeFileSync(path, bytes);
    await assert.rejects(readV1Checkpoint(path), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /export-00000-of-00001: CRC mismatch in data block at offset 0/);
      return true;
    });
  });
});

// SavedTensorSlices, written from saved_tensor_slice.proto's field numbers.
type Extent = [start: number, length: number];
function slice(extents: Extent[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [start, length] of extents) {
    const e = protobuf.Writer.create();
    if (start) e.uint32(8).int64(start);
    if (length >= 0) e.uint32(16).int64(length);
    w.uint32(10).bytes(e.finish());
  }
  return w.finish();
}
function shape(dims: number[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const d of dims) w.uint32(18).bytes(protobuf.Writer.create().uint32(8).int64(d).finish());
  return w.finish();
}
function metaEntry(tensors: { name: string; dims: number[]; dtype: number; slices: Extent[][] }[]): Buffer {
  const meta = protobuf.Writer.create();
  for (const t of tensors) {
    const m = protobuf.Writer.create()
      .uint32(10)
      .string(t.name)
      .uint32(18)
      .bytes(shape(t.dims))
      .uint32(24)
      .int32(t.dtype);
    for (const s of t.slices) m.uint32(34).bytes(slice(s));
    meta.uint32(10).bytes(m.finish());
  }
  return Buffer.from(protobuf.Writer.create().uint32(10).bytes(meta.finish()).finish());
}
function dataEntry(name: string, extents: Extent[], floats: number[]): Buffer {
  const tensor = protobuf.Writer.create().uint32(42).fork();
  for (const f of floats) tensor.float(f);
  tensor.ldelim();
  const saved = protobuf.Writer.create()
    .uint32(10)
    .string(name)
    .uint32(18)
    .bytes(slice(extents))
    .uint32(26)
    .bytes(tensor.finish());
  return Buffer.from(protobuf.Writer.create().uint32(18).bytes(saved.finish()).finish());
}
/** Any distinct keys sorted after "" work for the reader; TF's are ordered codes of name and slice. */
const key = (name: string, i: number) => Buffer.from(`\0${name}\0${i}`);

describe('readV1Checkpoint on checkpoints written here', () => {
  it('assembles a partitioned variable from slices in two shards', async () => {
    const dir = newDir();
    // w is [3, 2]: rows 0-1 in shard 0, row 2 in shard 1.
    const w = { name: 'w', dims: [3, 2], dtype: 1 };
    writeFileSync(
      join(dir, 'model-00000-of-00002'),
      writeTable([
        [
          Buffer.alloc(0),
          metaEntry([
            {
              ...w,
              slices: [
                [
                  [0, 2],
                  [0, -1],
                ],
              ],
            },
          ]),
        ],
        [
          key('w', 0),
          dataEntry(
            'w',
            [
              [0, 2],
              [0, -1],
            ],
            [1, 2, 3, 4],
          ),
        ],
      ]),
    );
    writeFileSync(
      join(dir, 'model-00001-of-00002'),
      writeTable([
        [
          Buffer.alloc(0),
          metaEntry([
            {
              ...w,
              slices: [
                [
                  [2, 1],
                  [0, -1],
                ],
              ],
            },
          ]),
        ],
        [
          key('w', 1),
          dataEntry(
            'w',
            [
              [2, 1],
              [0, -1],
            ],
            [5, 6],
          ),
        ],
      ]),
    );
    const tensors = await readV1Checkpoint(join(dir, 'model-?????-of-?????'));
    assert.deepEqual(tensors.get('w')?.toArray(), [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
  });

  it('assembles column slices, and refuses a tensor whose slices leave elements out or overlap', async () => {
    const dir = newDir();
    const w = { name: 'w', dims: [2, 3], dtype: 1, slices: [] };
    const left: Extent[] = [
      [0, -1],
      [0, 2],
    ];
    const right: Extent[] = [
      [0, -1],
      [2, 1],
    ];
    const path = join(dir, 'ok');
    writeFileSync(
      path,
      writeTable([
        [Buffer.alloc(0), metaEntry([w])],
        [key('w', 0), dataEntry('w', left, [1, 2, 4, 5])],
        [key('w', 1), dataEntry('w', right, [3, 6])],
      ]),
    );
    assert.deepEqual((await readV1Checkpoint(path)).get('w')?.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);

    const partial = join(dir, 'partial');
    writeFileSync(
      partial,
      writeTable([
        [Buffer.alloc(0), metaEntry([w])],
        [key('w', 0), dataEntry('w', left, [1, 2, 4, 5])],
      ]),
    );
    await assert.rejects(readV1Checkpoint(partial), /partial: tensor 'w' \[2, 3\] has 4 of its 6 elements/);

    const overlap = join(dir, 'overlap');
    writeFileSync(
      overlap,
      writeTable([
        [Buffer.alloc(0), metaEntry([w])],
        [key('w', 0), dataEntry('w', left, [1, 2, 4, 5])],
        [
          key('w', 1),
          dataEntry(
            'w',
            [
              [0, 1],
              [1, 1],
            ],
            [9],
          ),
        ],
      ]),
    );
    await assert.rejects(readV1Checkpoint(overlap), /overlap: slices of tensor 'w' overlap/);
  });

  it('refuses a slice outside its tensor and values that do not fit the slice', async () => {
    const dir = newDir();
    const w = { name: 'w', dims: [2], dtype: 1, slices: [] };
    const outside = join(dir, 'outside');
    writeFileSync(
      outside,
      writeTable([
        [Buffer.alloc(0), metaEntry([w])],
        [key('w', 0), dataEntry('w', [[1, 2]], [1, 2])],
      ]),
    );
    await assert.rejects(readV1Checkpoint(outside), /outside: slice of 'w' \[1, \+2\) lies outside dimension 0 of 2/);
    const tooMany = join(dir, 'too-many');
    writeFileSync(
      tooMany,
      writeTable([
        [Buffer.alloc(0), metaEntry([w])],
        [key('w', 0), dataEntry('w', [], [1, 2, 3])],
      ]),
    );
    await assert.rejects(readV1Checkpoint(tooMany), (err: Error) => {
      assert.ok(err instanceof DataLoss);
      assert.match(err.message, /too-many: values of tensor 'w': more than 2 values/);
      return true;
    });
  });

  it('refuses a dtype flowserve cannot hold, naming the tensor and dtype', async () => {
    const path = join(newDir(), 'ckpt');
    writeFileSync(path, writeTable([[Buffer.alloc(0), metaEntry([{ name: 'q', dims: [1], dtype: 11, slices: [] }])]]));
    await assert.rejects(readV1Checkpoint(path), (err: Error) => {
      assert.ok(err instanceof InvalidArgument);
      assert.match(err.message, /ckpt: tensor 'q' has dtype DT_QINT8/);
      return true;
    });
  });

  it('a single missing file is NotFound naming it', async () => {
    await assert.rejects(readV1Checkpoint(join(tmp, 'absent', 'export')), (err: Error) => {
      assert.ok(err instanceof NotFound);
      assert.match(err.message, /absent\/export/);
      return true;
    });
  });
});
