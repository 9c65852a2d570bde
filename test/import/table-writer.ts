/**
 * A minimal LevelDB-table writer for tests: it builds the files the readers must accept (several data blocks,
 * shared-prefix keys, restarts, raw or Snappy blocks) and the corrupt ones they must refuse, without TensorFlow.
 */
import protobuf from 'protobufjs';
import { compressSync } from 'snappy';
import { maskedCrc32c } from '../../src/import/masked-crc32c.js';

export interface TableOptions {
  /** Entries per data block (TF cuts at 256 KiB; small numbers here force several blocks). */
  entriesPerBlock?: number;
  restartInterval?: number;
  snappy?: boolean;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function blockContents(entries: [Buffer, Buffer][], restartInterval: number): Buffer {
  const parts: Buffer[] = [];
  const restarts: number[] = [];
  let size = 0;
  let previous: Buffer = Buffer.alloc(0);
  entries.forEach(([key, value], i) => {
    let shared = 0;
    if (i % restartInterval === 0) restarts.push(size);
    else while (shared < key.length && shared < previous.length && key[shared] === previous[shared]) shared++;
    const part = Buffer.concat([
      Buffer.from([...varint(shared), ...varint(key.length - shared), ...varint(value.length)]),
      key.subarray(shared),
      value,
    ]);
    parts.push(part);
    size += part.length;
    previous = key;
  });
  if (restarts.length === 0) restarts.push(0);
  const tail = Buffer.alloc(4 * restarts.length + 4);
  restarts.forEach((r, i) => tail.writeUInt32LE(r, 4 * i));
  tail.writeUInt32LE(restarts.length, 4 * restarts.length);
  return Buffer.concat([...parts, tail]);
}

function withTrailer(contents: Buffer, snappy: boolean): Buffer {
  const body = snappy ? compressSync(contents) : contents;
  const typed = Buffer.concat([body, Buffer.from([snappy ? 1 : 0])]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(maskedCrc32c(typed));
  return Buffer.concat([typed, crc]);
}

/** The bytes of a table holding `entries` (sorted by key here). */
export function writeTable(entries: [Buffer, Buffer][], options: TableOptions = {}): Buffer {
  const { entriesPerBlock = 16, restartInterval = 16, snappy = false } = options;
  const sorted = [...entries].sort((a, b) => Buffer.compare(a[0], b[0]));
  const out: Buffer[] = [];
  let offset = 0;
  const index: [Buffer, Buffer][] = [];
  for (let i = 0; i < sorted.length; i += entriesPerBlock) {
    const chunk = sorted.slice(i, i + entriesPerBlock);
    const contents = blockContents(chunk, restartInterval);
    const block = withTrailer(contents, snappy);
    const handle = Buffer.from([...varint(offset), ...varint(block.length - 5)]);
    // The last key of the block is a valid separator (LevelDB shortens it; TF readers accept either).
    index.push([(chunk[chunk.length - 1] as [Buffer, Buffer])[0], handle]);
    out.push(block);
    offset += block.length;
  }
  const meta = withTrailer(blockContents([], restartInterval), false);
  const metaHandle = [...varint(offset), ...varint(meta.length - 5)];
  out.push(meta);
  offset += meta.length;
  const indexBlock = withTrailer(blockContents(index, 1), false);
  const indexHandle = [...varint(offset), ...varint(indexBlock.length - 5)];
  out.push(indexBlock);
  const footer = Buffer.alloc(48);
  Buffer.from([...metaHandle, ...indexHandle]).copy(footer);
  footer.writeUInt32LE(0x8b80fb57, 40);
  footer.writeUInt32LE(0xdb477524, 44);
  out.push(footer);
  return Buffer.concat(out);
}

/** BundleHeaderProto bytes. */
export function bundleHeader(fields: { numShards?: number; endianness?: number; minConsumer?: number } = {}): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 0).int32(fields.numShards ?? 1);
  if (fields.endianness) w.uint32((2 << 3) | 0).int32(fields.endianness);
  const version = protobuf.Writer.create()
    .uint32((1 << 3) | 0)
    .int32(1);
  if (fields.minConsumer) version.uint32((2 << 3) | 0).int32(fields.minConsumer);
  w.uint32((3 << 3) | 2).bytes(version.finish());
  return Buffer.from(w.finish());
}

/** BundleEntryProto bytes. */
export function bundleEntry(fields: {
  dtype: number;
  dims: number[];
  shardId?: number;
  offset: number;
  size: number;
  crc32c: number;
}): Buffer {
  const shape = protobuf.Writer.create();
  for (const d of fields.dims) shape.uint32((2 << 3) | 2).bytes(protobuf.Writer.create().uint32(8).int64(d).finish());
  const w = protobuf.Writer.create();
  w.uint32(8).int32(fields.dtype);
  w.uint32((2 << 3) | 2).bytes(shape.finish());
  if (fields.shardId) w.uint32(3 << 3).int32(fields.shardId);
  if (fields.offset) w.uint32(4 << 3).int64(fields.offset);
  w.uint32(5 << 3).int64(fields.size);
  w.uint32((6 << 3) | 5).fixed32(fields.crc32c);
  return Buffer.from(w.finish());
}
