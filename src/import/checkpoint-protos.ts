/**
 * The protobuf messages of TensorFlow's checkpoints, decoded straight from wire bytes with protobufjs' Reader:
 * they are few and small, and a hand decoder keeps a V1 checkpoint's packed values out of boxed-number arrays.
 * Field numbers (tensor_bundle.proto, saved_tensor_slice.proto, tensor_shape.proto, tensor_slice.proto,
 * versions.proto):
 *   BundleHeaderProto  1 num_shards int32, 2 endianness enum (LITTLE 0, BIG 1), 3 version VersionDef
 *   BundleEntryProto   1 dtype, 2 shape, 3 shard_id int32, 4 offset int64, 5 size int64, 6 crc32c fixed32,
 *                      7 slices repeated TensorSliceProto
 *   VersionDef         1 producer int32, 2 min_consumer int32, 3 bad_consumers repeated int32
 *   TensorShapeProto   2 dim repeated {1 size int64, 2 name}, 3 unknown_rank bool
 *   TensorSliceProto   1 extent repeated {1 start int64, 2 length int64 (absent: the whole dimension)}
 *   SavedTensorSlices  1 meta SavedTensorSliceMeta {1 tensor repeated SavedSliceMeta, 2 versions VersionDef},
 *                      2 data SavedSlice {1 name, 2 slice TensorSliceProto, 3 data TensorProto}
 *   SavedSliceMeta     1 name, 2 shape, 3 type DataType, 4 slice repeated TensorSliceProto
 * Malformed bytes throw MalformedProto; callers name the file.
 */
import protobuf from 'protobufjs';

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

export class MalformedProto extends Error {}

export interface VersionDef {
  producer: number;
  minConsumer: number;
  badConsumers: number[];
}

export interface TensorShape {
  dims: number[];
  unknownRank: boolean;
}

/** One dimension of a slice: `length` -1 means the whole dimension (TensorSlice's kFullExtent). */
export interface SliceExtent {
  start: number;
  length: number;
}

export interface BundleHeader {
  numShards: number;
  /** 0 little-endian, 1 big-endian. */
  endianness: number;
  version: VersionDef;
}

export interface BundleEntry {
  dtype: number;
  shape: TensorShape;
  shardId: number;
  offset: number;
  size: number;
  crc32c: number;
  slices: SliceExtent[][];
}

export interface SavedSliceMeta {
  name: string;
  shape: TensorShape;
  dtype: number;
  slices: SliceExtent[][];
}

export interface SavedSlice {
  name: string;
  slice: SliceExtent[];
  /** The serialized TensorProto, a view into the table block. */
  tensorProto: Uint8Array | undefined;
}

export interface SavedTensorSlices {
  meta?: { tensors: SavedSliceMeta[]; versions: VersionDef };
  data?: SavedSlice;
}

type FieldHandler = (reader: protobuf.Reader, wireType: number) => void;

/** Walks a message's fields; fields without a handler are skipped, as protobuf readers must. */
export function readFields(bytes: Uint8Array, what: string, handlers: Record<number, FieldHandler>): void {
  const reader = protobuf.Reader.create(bytes);
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 0) throw new MalformedProto(`${what}: field number 0 at byte ${reader.pos}`);
      const handler = handlers[field];
      if (handler) handler(reader, wireType);
      else reader.skipType(wireType);
    }
  } catch (err) {
    if (err instanceof MalformedProto) throw err;
    throw new MalformedProto(`${what}: ${(err as Error).message}`);
  }
}

function expectWire(wireType: number, expected: number, what: string): void {
  if (wireType !== expected) throw new MalformedProto(`${what}: wire type ${wireType}, expected ${expected}`);
}

/** An int64 field as a JavaScript number; values beyond 2^53 cannot be sizes or offsets and are refused. */
export function readInt64(reader: protobuf.Reader, what: string): number {
  const value = reader.int64() as number | protobuf.Long;
  const n = typeof value === 'number' ? value : Number(value.toString());
  if (!Number.isSafeInteger(n)) throw new MalformedProto(`${what}: int64 ${String(value)} out of range`);
  return n;
}

const varint = (what: string, set: (reader: protobuf.Reader) => void): FieldHandler => {
  return (reader, wireType) => {
    expectWire(wireType, VARINT, what);
    set(reader);
  };
};

const message = (what: string, set: (bytes: Uint8Array) => void): FieldHandler => {
  return (reader, wireType) => {
    expectWire(wireType, BYTES, what);
    set(reader.bytes());
  };
};

/** A repeated int32, packed (proto3's default) or not. */
const repeatedInt32 = (what: string, out: number[]): FieldHandler => {
  return (reader, wireType) => {
    if (wireType === VARINT) {
      out.push(reader.int32());
      return;
    }
    expectWire(wireType, BYTES, what);
    const end = reader.uint32() + reader.pos;
    while (reader.pos < end) out.push(reader.int32());
  };
};

export function decodeVersionDef(bytes: Uint8Array): VersionDef {
  const version: VersionDef = { producer: 0, minConsumer: 0, badConsumers: [] };
  readFields(bytes, 'VersionDef', {
    1: varint('VersionDef.producer', (r) => (version.producer = r.int32())),
    2: varint('VersionDef.min_consumer', (r) => (version.minConsumer = r.int32())),
    3: repeatedInt32('VersionDef.bad_consumers', version.badConsumers),
  });
  return version;
}

export function decodeTensorShape(bytes: Uint8Array): TensorShape {
  const shape: TensorShape = { dims: [], unknownRank: false };
  readFields(bytes, 'TensorShapeProto', {
    2: message('TensorShapeProto.dim', (dim) => {
      let size = 0;
      readFields(dim, 'TensorShapeProto.Dim', {
        1: varint('Dim.size', (r) => (size = readInt64(r, 'Dim.size'))),
      });
      shape.dims.push(size);
    }),
    3: varint('TensorShapeProto.unknown_rank', (r) => (shape.unknownRank = r.bool())),
  });
  return shape;
}

export function decodeTensorSlice(bytes: Uint8Array): SliceExtent[] {
  const extents: SliceExtent[] = [];
  readFields(bytes, 'TensorSliceProto', {
    1: message('TensorSliceProto.extent', (extentBytes) => {
      const extent = { start: 0, length: -1 };
      readFields(extentBytes, 'TensorSliceProto.Extent', {
        1: varint('Extent.start', (r) => (extent.start = readInt64(r, 'Extent.start'))),
        2: varint('Extent.length', (r) => (extent.length = readInt64(r, 'Extent.length'))),
      });
      extents.push(extent);
    }),
  });
  return extents;
}

export function decodeBundleHeader(bytes: Uint8Array): BundleHeader {
  const header: BundleHeader = {
    numShards: 0,
    endianness: 0,
    version: { producer: 0, minConsumer: 0, badConsumers: [] },
  };
  readFields(bytes, 'BundleHeaderProto', {
    1: varint('BundleHeaderProto.num_shards', (r) => (header.numShards = r.int32())),
    2: varint('BundleHeaderProto.endianness', (r) => (header.endianness = r.int32())),
    3: message('BundleHeaderProto.version', (b) => (header.version = decodeVersionDef(b))),
  });
  return header;
}

export function decodeBundleEntry(bytes: Uint8Array): BundleEntry {
  const entry: BundleEntry = {
    dtype: 0,
    shape: { dims: [], unknownRank: false },
    shardId: 0,
    offset: 0,
    size: 0,
    crc32c: 0,
    slices: [],
  };
  readFields(bytes, 'BundleEntryProto', {
    1: varint('BundleEntryProto.dtype', (r) => (entry.dtype = r.int32())),
    2: message('BundleEntryProto.shape', (b) => (entry.shape = decodeTensorShape(b))),
    3: varint('BundleEntryProto.shard_id', (r) => (entry.shardId = r.int32())),
    4: varint('BundleEntryProto.offset', (r) => (entry.offset = readInt64(r, 'BundleEntryProto.offset'))),
    5: varint('BundleEntryProto.size', (r) => (entry.size = readInt64(r, 'BundleEntryProto.size'))),
    6: (r, wireType) => {
      expectWire(wireType, FIXED32, 'BundleEntryProto.crc32c');
      entry.crc32c = r.fixed32() >>> 0;
    },
    7: message('BundleEntryProto.slices', (b) => entry.slices.push(decodeTensorSlice(b))),
  });
  return entry;
}

function decodeSavedSliceMeta(bytes: Uint8Array): SavedSliceMeta {
  const meta: SavedSliceMeta = { name: '', shape: { dims: [], unknownRank: false }, dtype: 0, slices: [] };
  readFields(bytes, 'SavedSliceMeta', {
    1: message('SavedSliceMeta.name', (b) => (meta.name = Buffer.from(b).toString('utf8'))),
    2: message('SavedSliceMeta.shape', (b) => (meta.shape = decodeTensorShape(b))),
    3: varint('SavedSliceMeta.type', (r) => (meta.dtype = r.int32())),
    4: message('SavedSliceMeta.slice', (b) => meta.slices.push(decodeTensorSlice(b))),
  });
  return meta;
}

export function decodeSavedTensorSlices(bytes: Uint8Array): SavedTensorSlices {
  const out: SavedTensorSlices = {};
  readFields(bytes, 'SavedTensorSlices', {
    1: message('SavedTensorSlices.meta', (metaBytes) => {
      const meta = {
        tensors: [] as SavedSliceMeta[],
        versions: { producer: 0, minConsumer: 0, badConsumers: [] } as VersionDef,
      };
      readFields(metaBytes, 'SavedTensorSliceMeta', {
        1: message('SavedTensorSliceMeta.tensor', (b) => meta.tensors.push(decodeSavedSliceMeta(b))),
        2: message('SavedTensorSliceMeta.versions', (b) => (meta.versions = decodeVersionDef(b))),
      });
      out.meta = meta;
    }),
    2: message('SavedTensorSlices.data', (dataBytes) => {
      const slice: SavedSlice = { name: '', slice: [], tensorProto: undefined };
      readFields(dataBytes, 'SavedSlice', {
        1: message('SavedSlice.name', (b) => (slice.name = Buffer.from(b).toString('utf8'))),
        2: message('SavedSlice.slice', (b) => (slice.slice = decodeTensorSlice(b))),
        3: message('SavedSlice.data', (b) => (slice.tensorProto = b)),
      });
      out.data = slice;
    }),
  });
  return out;
}

export const WIRE = { VARINT, FIXED64, BYTES, FIXED32 } as const;
