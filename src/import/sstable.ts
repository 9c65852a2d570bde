/**
 * A reader for the LevelDB table ("SSTable") format that TensorFlow uses for `variables.index` and for V1
 * checkpoints (spec/tensorflow-model-formats.md §3; leveldb/doc/table_format.txt; TF writes no filter blocks).
 *
 * File = data blocks, metaindex block, index block, then a 48-byte footer:
 *   BlockHandle metaindex | BlockHandle index | zero padding to 40 bytes | magic 0xdb4775248b80fb57 (LE)
 * Block on disk = contents | 1-byte type (0 raw, 1 Snappy) | fixed32 masked CRC32C of contents + type.
 * Block contents = entries (varint32 shared | varint32 unshared | varint32 value_len | key delta | value),
 *   then fixed32 restarts[num_restarts], then fixed32 num_restarts.
 *
 * Every block's CRC is verified before it is used. The file is read block by block through a file handle, so a
 * large V1 checkpoint (whose values live in the table itself) is never held in memory whole.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { uncompressSync } from 'snappy';
import { DataLoss, NotFound } from '../errors.js';
import { maskedCrc32c } from './masked-crc32c.js';

export interface TableEntry {
  key: Buffer;
  /** A view into the block that holds it; copy it to keep it past the next block. */
  value: Buffer;
}

const FOOTER_BYTES = 48;
const MAGIC_LOW = 0x8b80fb57;
const MAGIC_HIGH = 0xdb477524;
/** Block type byte + masked CRC32C after every block's contents. */
const BLOCK_TRAILER_BYTES = 5;
const BLOCK_RAW = 0;
const BLOCK_SNAPPY = 1;
const MAX_SNAPPY_EXPANSION = 32;

interface BlockHandle {
  offset: number;
  size: number;
}

/** Every entry of the table at `path`, in key order. Errors are DataLoss naming the file and what is wrong. */
export async function* readTable(path: string): AsyncGenerator<TableEntry> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    throw new NotFound(`cannot open table file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const reader = new TableFile(path, file, (await file.stat()).size);
    const { index } = await reader.footer();
    const indexBlock = await reader.block(index, 'index block');
    let previousKey: Buffer | undefined;
    for (const indexEntry of blockEntries(indexBlock, path, index.offset)) {
      const handle = reader.decodeHandle(indexEntry.value, `index entry at offset ${index.offset}`);
      const data = await reader.block(handle, 'data block');
      for (const entry of blockEntries(data, path, handle.offset)) {
        if (previousKey && Buffer.compare(previousKey, entry.key) >= 0) {
          throw new DataLoss(`${path}: keys out of order in data block at offset ${handle.offset}`);
        }
        previousKey = entry.key;
        yield entry;
      }
    }
  } finally {
    await file.close();
  }
}

class TableFile {
  constructor(
    readonly path: string,
    readonly file: FileHandle,
    readonly fileBytes: number,
  ) {}

  async footer(): Promise<{ metaindex: BlockHandle; index: BlockHandle }> {
    if (this.fileBytes < FOOTER_BYTES) {
      throw new DataLoss(`${this.path}: truncated table: ${this.fileBytes} bytes, shorter than the 48-byte footer`);
    }
    const footer = await this.read(this.fileBytes - FOOTER_BYTES, FOOTER_BYTES);
    if (footer.readUInt32LE(40) !== MAGIC_LOW || footer.readUInt32LE(44) !== MAGIC_HIGH) {
      throw new DataLoss(
        `${this.path}: bad magic 0x${footer.readUInt32LE(44).toString(16)}${footer.readUInt32LE(40).toString(16)} ` +
          `at offset ${this.fileBytes - 8}; expected 0xdb4775248b80fb57 (not a TensorFlow table file, or truncated)`,
      );
    }
    const cursor = new Varints(footer, this.path, 'footer');
    const metaindex = { offset: cursor.varint64(), size: cursor.varint64() };
    const index = { offset: cursor.varint64(), size: cursor.varint64() };
    return { metaindex, index };
  }

  decodeHandle(bytes: Buffer, where: string): BlockHandle {
    const cursor = new Varints(bytes, this.path, where);
    return { offset: cursor.varint64(), size: cursor.varint64() };
  }

  /** The verified, uncompressed contents of the block at `handle`. */
  async block(handle: BlockHandle, what: string): Promise<Buffer> {
    const end = handle.offset + handle.size + BLOCK_TRAILER_BYTES;
    if (end > this.fileBytes - FOOTER_BYTES) {
      throw new DataLoss(
        `${this.path}: truncated table: ${what} at offset ${handle.offset} (${handle.size} bytes) ends at ${end}, ` +
          `past the data (${this.fileBytes - FOOTER_BYTES} bytes before the footer)`,
      );
    }
    const raw = await this.read(handle.offset, handle.size + BLOCK_TRAILER_BYTES);
    const stored = raw.readUInt32LE(handle.size + 1);
    const actual = maskedCrc32c(raw.subarray(0, handle.size + 1));
    if (stored !== actual) {
      throw new DataLoss(
        `${this.path}: CRC mismatch in ${what} at offset ${handle.offset}: stored 0x${stored.toString(16)}, ` +
          `computed 0x${actual.toString(16)}`,
      );
    }
    const contents = raw.subarray(0, handle.size);
    const type = raw[handle.size];
    if (type === BLOCK_RAW) return contents;
    if (type === BLOCK_SNAPPY) {
      this.checkSnappyLength(contents, handle, what);
      try {
        return uncompressSync(contents) as Buffer;
      } catch (err) {
        throw new DataLoss(`${this.path}: corrupt Snappy data in ${what} at offset ${handle.offset}`, { cause: err });
      }
    }
    throw new DataLoss(`${this.path}: unknown block type ${type} in ${what} at offset ${handle.offset}`);
  }

  /**
   * Snappy's preamble states the uncompressed length, and the decoder allocates it up front. Snappy cannot expand
   * more than about 22x (a 3-byte copy tag yields 64 bytes), so a larger claim is a corrupt or hostile block, and
   * is refused before it can allocate gigabytes.
   */
  private checkSnappyLength(contents: Buffer, handle: BlockHandle, what: string): void {
    const claimed = new Varints(contents, this.path, `${what} at offset ${handle.offset}`).varint64();
    if (claimed > MAX_SNAPPY_EXPANSION * contents.length + 64) {
      throw new DataLoss(
        `${this.path}: corrupt Snappy data in ${what} at offset ${handle.offset}: ${contents.length} compressed ` +
          `bytes claim ${claimed} uncompressed`,
      );
    }
  }

  private async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.file.read(buffer, 0, length, position);
    if (bytesRead !== length) {
      throw new DataLoss(`${this.path}: truncated: wanted ${length} bytes at offset ${position}, got ${bytesRead}`);
    }
    return buffer;
  }
}

/** The entries of one block's contents, keys rebuilt from their shared prefixes. */
function* blockEntries(block: Buffer, path: string, blockOffset: number): Generator<TableEntry> {
  const where = `block at offset ${blockOffset}`;
  if (block.length < 4) throw new DataLoss(`${path}: ${where} is ${block.length} bytes, too short for its restarts`);
  const numRestarts = block.readUInt32LE(block.length - 4);
  const entriesEnd = block.length - 4 - 4 * numRestarts;
  if (numRestarts === 0 || entriesEnd < 0) {
    throw new DataLoss(`${path}: ${where} claims ${numRestarts} restarts, which do not fit its ${block.length} bytes`);
  }
  const cursor = new Varints(block.subarray(0, entriesEnd), path, where);
  let key = Buffer.alloc(0);
  while (!cursor.done) {
    const shared = cursor.varint32();
    const unshared = cursor.varint32();
    const valueBytes = cursor.varint32();
    if (shared > key.length) {
      throw new DataLoss(`${path}: ${where}: entry shares ${shared} key bytes, but the previous key has ${key.length}`);
    }
    const delta = cursor.bytes(unshared);
    key = Buffer.concat([key.subarray(0, shared), delta]);
    yield { key, value: cursor.bytes(valueBytes) };
  }
}

/** Little-endian base-128 varints over a buffer, with bounds checks that name the file. */
class Varints {
  private pos = 0;

  constructor(
    private readonly buffer: Buffer,
    private readonly path: string,
    private readonly where: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buffer.length;
  }

  varint32(): number {
    const value = this.varint64();
    if (value > 0xffffffff) throw new DataLoss(`${this.path}: ${this.where}: varint32 out of range (${value})`);
    return value;
  }

  /** An unsigned varint; values past 2^53 cannot be file offsets here and are refused. */
  varint64(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buffer.length) throw new DataLoss(`${this.path}: ${this.where}: truncated varint`);
      const byte = this.buffer[this.pos++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new DataLoss(`${this.path}: ${this.where}: varint too large`);
        return result;
      }
      scale *= 128;
    }
    throw new DataLoss(`${this.path}: ${this.where}: varint longer than 10 bytes`);
  }

  bytes(length: number): Buffer {
    if (this.pos + length > this.buffer.length) {
      throw new DataLoss(
        `${this.path}: ${this.where}: entry of ${length} bytes at ${this.pos} runs past the end (${this.buffer.length})`,
      );
    }
    const out = this.buffer.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}
