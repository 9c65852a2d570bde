/**
 * TensorFlow's tensor bundle (the V2 checkpoint: `<prefix>.index` + `<prefix>.data-NNNNN-of-NNNNN`), as written
 * by SavedModel under `variables/variables` (spec/tensorflow-model-formats.md §3;
 * tensorflow/core/util/tensor_bundle/tensor_bundle.cc).
 *
 * The index is an SSTable: key "" holds BundleHeaderProto, every other key a tensor name with its
 * BundleEntryProto (dtype, shape, shard, offset, size, masked CRC32C). Rules, in order:
 * 1. The header comes first; big-endian bundles and bundles whose version excludes consumer 1 are refused.
 * 2. A tensor's bytes are read straight from its data shard into the tensor's own buffer (one copy), and its
 *    CRC32C is verified before the tensor is returned.
 * 3. Numeric dtypes flowserve has are read as they are; DT_STRING uses TF's layout
 *    `varint64 len[n] | fixed32 masked crc(lengths) | bytes`, both checksums verified; any other dtype is an
 *    InvalidArgument naming the tensor and dtype.
 * 4. Partitioned variables (entries with `slices`) are refused by name; their slices are stored under
 *    ordered-code keys that start with a 0 byte, which are never returned as tensors.
 * Corruption is DataLoss naming the file and what is wrong.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { DataLoss, InvalidArgument, NotFound, Unimplemented } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import { dtypeInfo } from '../graph/dtype.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { tfDataTypeName } from '../graph/dtype.js';
import { checkpointDtype } from './checkpoint-dtype.js';
import {
  decodeBundleEntry,
  decodeBundleHeader,
  MalformedProto,
  type BundleEntry,
  type BundleHeader,
} from './checkpoint-protos.js';
import { typedArrayFromLittleEndian } from './little-endian-tensor.js';
import { extendCrc32c, maskCrc32c, maskedCrc32c } from './masked-crc32c.js';
import { readTable } from './sstable.js';

/** tensor_bundle.h kTensorBundleVersion: the consumer version this reader implements. */
const BUNDLE_CONSUMER_VERSION = 1;
const BIG_ENDIAN = 1;

/** Every tensor of the bundle at `prefix` (e.g. `<version>/variables/variables`), by name. */
export async function readTensorBundle(prefix: string): Promise<Map<string, HostTensor>> {
  const indexPath = `${prefix}.index`;
  const { header, entries } = await readIndex(indexPath);

  const byShard = new Map<number, [string, BundleEntry][]>();
  for (const [name, entry] of entries) {
    if (entry.slices.length > 0) {
      throw new Unimplemented(
        `${indexPath}: tensor '${name}' is a partitioned variable (${entry.slices.length} slices); ` +
          `flowserve reads only unpartitioned tensors from tensor bundles`,
      );
    }
    if (entry.shardId < 0 || entry.shardId >= header.numShards) {
      throw new DataLoss(
        `${indexPath}: tensor '${name}' is in shard ${entry.shardId}, but the bundle has ${header.numShards}`,
      );
    }
    const list = byShard.get(entry.shardId) ?? [];
    list.push([name, entry]);
    byShard.set(entry.shardId, list);
  }

  const tensors = new Map<string, HostTensor>();
  for (const [shardId, list] of [...byShard].sort((a, b) => a[0] - b[0])) {
    const shardPath = dataShardPath(prefix, shardId, header.numShards);
    const file = await openShard(shardPath);
    try {
      const shardBytes = (await file.stat()).size;
      for (const [name, entry] of list) {
        tensors.set(name, await readEntry(file, shardPath, shardBytes, name, entry));
      }
    } finally {
      await file.close();
    }
  }
  // The index's key order, so callers see tensors as TensorFlow lists them.
  return new Map([...entries.keys()].map((name) => [name, tensors.get(name) as HostTensor]));
}

/** `<prefix>.data-00000-of-00001`: tensor_bundle.cc DataFilename. */
export function dataShardPath(prefix: string, shardId: number, numShards: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}.data-${pad(shardId)}-of-${pad(numShards)}`;
}

async function readIndex(indexPath: string): Promise<{ header: BundleHeader; entries: Map<string, BundleEntry> }> {
  let header: BundleHeader | undefined;
  const entries = new Map<string, BundleEntry>();
  for await (const { key, value } of readTable(indexPath)) {
    if (header === undefined) {
      if (key.length !== 0) throw new DataLoss(`${indexPath}: the first key is not the bundle header ("")`);
      header = decodeOrDataLoss(indexPath, 'the bundle header', () => decodeBundleHeader(value));
      checkHeader(indexPath, header);
      continue;
    }
    // Slices of partitioned variables live under ordered-code keys, which begin with the number 0.
    if (key[0] === 0) continue;
    const name = key.toString('utf8');
    entries.set(
      name,
      decodeOrDataLoss(indexPath, `the entry of tensor '${name}'`, () => decodeBundleEntry(value)),
    );
  }
  if (header === undefined) throw new DataLoss(`${indexPath}: empty index: no bundle header`);
  return { header, entries };
}

function checkHeader(indexPath: string, header: BundleHeader): void {
  if (header.endianness === BIG_ENDIAN) {
    throw new Unimplemented(`${indexPath}: the bundle is big-endian; flowserve reads little-endian bundles only`);
  }
  if (header.endianness !== 0) throw new DataLoss(`${indexPath}: unknown endianness ${header.endianness}`);
  if (header.numShards < 1) throw new DataLoss(`${indexPath}: num_shards is ${header.numShards}`);
  const { minConsumer, badConsumers } = header.version;
  if (minConsumer > BUNDLE_CONSUMER_VERSION || badConsumers.includes(BUNDLE_CONSUMER_VERSION)) {
    throw new InvalidArgument(
      `${indexPath}: bundle version needs consumer ≥ ${minConsumer} (bad: [${badConsumers.join(', ')}]); ` +
        `this reader is consumer ${BUNDLE_CONSUMER_VERSION}`,
    );
  }
}

function decodeOrDataLoss<T>(file: string, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof MalformedProto) throw new DataLoss(`${file}: malformed ${what}: ${err.message}`);
    throw err;
  }
}

async function openShard(shardPath: string): Promise<FileHandle> {
  try {
    return await open(shardPath, 'r');
  } catch (err) {
    throw new NotFound(`data shard missing: cannot open ${shardPath}: ${(err as Error).message}`, { cause: err });
  }
}

async function readEntry(
  file: FileHandle,
  shardPath: string,
  shardBytes: number,
  name: string,
  entry: BundleEntry,
): Promise<HostTensor> {
  const dtype = checkpointDtype(entry.dtype, name, shardPath);
  const shape = checkedShape(shardPath, name, entry);
  const count = shapeSize(shape);
  if (dtype !== 'string' && entry.size !== count * dtypeInfo(dtype).bytesPerElement) {
    throw new DataLoss(
      `${shardPath}: tensor '${name}' (${tfDataTypeName(entry.dtype)} [${shape.join(', ')}]) needs ` +
        `${count * dtypeInfo(dtype).bytesPerElement} bytes, its entry says ${entry.size}`,
    );
  }
  if (entry.offset + entry.size > shardBytes) {
    throw new DataLoss(
      `${shardPath}: truncated: tensor '${name}' spans bytes [${entry.offset}, ${entry.offset + entry.size}) ` +
        `of a ${shardBytes}-byte file`,
    );
  }
  const bytes = new Uint8Array(entry.size);
  const { bytesRead } = await file.read(bytes, 0, entry.size, entry.offset);
  if (bytesRead !== entry.size) {
    throw new DataLoss(`${shardPath}: truncated: tensor '${name}' read ${bytesRead} of ${entry.size} bytes`);
  }
  if (dtype === 'string') {
    return new HostTensor('string', shape, readStrings(bytes, count, entry.crc32c, shardPath, name));
  }
  const actual = maskedCrc32c(bytes);
  if (actual !== entry.crc32c) {
    throw new DataLoss(
      `${shardPath}: CRC mismatch in tensor '${name}' at offset ${entry.offset}: stored 0x${entry.crc32c.toString(16)}, ` +
        `computed 0x${actual.toString(16)}`,
    );
  }
  return new HostTensor(dtype, shape, typedArrayFromLittleEndian(dtype as Exclude<DType, 'string'>, bytes));
}

function checkedShape(file: string, name: string, entry: BundleEntry): number[] {
  const { dims, unknownRank } = entry.shape;
  if (unknownRank || dims.some((d) => d < 0) || !Number.isSafeInteger(dims.reduce((n, d) => n * d, 1))) {
    throw new DataLoss(
      `${file}: tensor '${name}' has shape ${unknownRank ? '<unknown rank>' : `[${dims.join(', ')}]`}; ` +
        `a stored tensor needs known, non-negative dimensions`,
    );
  }
  return dims;
}

/**
 * tensor_bundle.cc WriteStringTensor: `varint64 len[n] | fixed32 masked crc | string bytes`. The running CRC
 * covers each length as a fixed32 (fixed64 past 4 GiB), then the 4 checksum bytes, then the strings.
 */
function readStrings(bytes: Uint8Array, count: number, storedCrc: number, file: string, name: string): Uint8Array[] {
  const corrupt = (what: string) => new DataLoss(`${file}: string tensor '${name}': ${what}`);
  const lengths: number[] = [];
  let pos = 0;
  let crc = 0;
  for (let i = 0; i < count; i++) {
    let length = 0;
    let scale = 1;
    for (let byteIndex = 0; ; byteIndex++) {
      if (pos >= bytes.length || byteIndex === 10) throw corrupt(`truncated length of element ${i}`);
      const byte = bytes[pos++] as number;
      length += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) break;
    }
    if (!Number.isSafeInteger(length)) throw corrupt(`length of element ${i} out of range`);
    lengths.push(length);
    const width = length > 0xffffffff ? 8 : 4;
    const encoded = Buffer.alloc(width);
    if (width === 8) encoded.writeBigUInt64LE(BigInt(length));
    else encoded.writeUInt32LE(length);
    crc = extendCrc32c(crc, encoded);
  }
  if (pos + 4 > bytes.length) throw corrupt('truncated before the length checksum');
  const checksumBytes = bytes.subarray(pos, pos + 4);
  const lengthChecksum = Buffer.from(checksumBytes).readUInt32LE(0);
  if (lengthChecksum !== maskCrc32c(crc)) throw corrupt('CRC mismatch in the element lengths');
  crc = extendCrc32c(crc, checksumBytes);
  pos += 4;
  const total = lengths.reduce((n, l) => n + l, 0);
  if (pos + total !== bytes.length) {
    throw corrupt(`element lengths add up to ${total} bytes, the entry holds ${bytes.length - pos} after them`);
  }
  crc = extendCrc32c(crc, bytes.subarray(pos));
  if (maskCrc32c(crc) !== storedCrc) throw corrupt('CRC mismatch in the string bytes');
  // Each element is a view of this entry's own read buffer: bytes as stored (a serialized proto stays intact).
  return lengths.map((length) => {
    const value = bytes.subarray(pos, pos + length);
    pos += length;
    return value;
  });
}
