/**
 * Reader (and writer) for the IDX file format of LeCun's MNIST distribution; see docs/idx-format.md.
 *
 * Layout: bytes 0–1 are zero, byte 2 is the element type code, byte 3 the rank; then `rank` big-endian uint32
 * dimensions; then the elements, row-major, big-endian. Files may be gzipped (as distributed); they are detected
 * by the gzip magic 1f 8b, not by their name.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InvalidArgument, NotFound } from '../errors.js';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

interface IdxTypeInfo {
  code: number;
  bytesPerElement: number;
}

/** Type codes from the format's description (yann.lecun.com/exdb/mnist). */
const IDX_TYPES: Record<IdxType, IdxTypeInfo> = {
  uint8: { code: 0x08, bytesPerElement: 1 },
  int8: { code: 0x09, bytesPerElement: 1 },
  int16: { code: 0x0b, bytesPerElement: 2 },
  int32: { code: 0x0c, bytesPerElement: 4 },
  float32: { code: 0x0d, bytesPerElement: 4 },
  float64: { code: 0x0e, bytesPerElement: 8 },
};

const TYPE_BY_CODE = new Map<number, IdxType>(
  (Object.entries(IDX_TYPES) as [IdxType, IdxTypeInfo][]).map(([type, info]) => [info.code, type]),
);

export interface IdxHeader {
  /** The first four bytes as a big-endian uint32: `typeCode << 8 | rank` (2051 for MNIST images, 2049 labels). */
  magic: number;
  type: IdxType;
  typeCode: number;
  dims: number[];
  /** Bytes taken by the header: 4 + 4 * rank. */
  headerBytes: number;
}

export interface IdxArray {
  magic: number;
  type: IdxType;
  dims: number[];
  /** Elements in row-major order. For uint8 a view into the file's bytes; other types are decoded copies. */
  data: IdxData;
}

/** Whether `bytes` start with the gzip magic 1f 8b (RFC 1952). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses and checks the header. `source` (a path, usually) prefixes every error message. */
export function parseIdxHeader(bytes: Uint8Array, source: string): IdxHeader {
  if (bytes.length < 4) {
    throw new InvalidArgument(`${source}: truncated IDX header: expected at least 4 bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const hex = magic.toString(16).padStart(8, '0');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new InvalidArgument(`${source}: bad IDX magic 0x${hex}: the first two bytes must be zero`);
  }
  const typeCode = bytes[2] as number;
  const type = TYPE_BY_CODE.get(typeCode);
  if (type === undefined) {
    const known = [...TYPE_BY_CODE].map(([code, name]) => `0x${code.toString(16).padStart(2, '0')} ${name}`);
    throw new InvalidArgument(
      `${source}: bad IDX magic 0x${hex}: unknown element type code 0x${typeCode.toString(16).padStart(2, '0')} ` +
        `(known: ${known.join(', ')})`,
    );
  }
  const rank = bytes[3] as number;
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new InvalidArgument(
      `${source}: truncated IDX header: rank ${rank} needs ${headerBytes} header bytes, got ${bytes.length}`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  return { magic, type, typeCode, dims, headerBytes };
}

/**
 * Parses a whole IDX file held in memory (gunzipping it first when it is gzipped). Checks that the data after the
 * header is exactly the product of the dimensions times the element size.
 */
export function parseIdx(bytes: Uint8Array, source = '<buffer>'): IdxArray {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (err) {
      throw new InvalidArgument(`${source}: corrupt gzip data: ${(err as Error).message}`, { cause: err });
    }
  }
  const header = parseIdxHeader(raw, source);
  const { bytesPerElement } = IDX_TYPES[header.type];
  const count = header.dims.reduce((n, d) => n * d, 1);
  const expectedBytes = count * bytesPerElement;
  const actualBytes = raw.length - header.headerBytes;
  if (actualBytes !== expectedBytes) {
    const what = actualBytes < expectedBytes ? 'truncated data' : 'trailing bytes';
    throw new InvalidArgument(
      `${source}: ${what}: dims [${header.dims.join(', ')}] of ${header.type} need ${expectedBytes} bytes after ` +
        `the ${header.headerBytes}-byte header, got ${actualBytes}`,
    );
  }
  return {
    magic: header.magic,
    type: header.type,
    dims: header.dims,
    data: decode(raw, header.headerBytes, header.type, count),
  };
}

/** Reads and parses an IDX file, plain or gzipped. */
export function readIdx(path: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFound(`IDX file ${path} does not exist`, { cause: err });
    throw new InvalidArgument(`${path}: cannot read IDX file: ${(err as Error).message}`, { cause: err });
  }
  return parseIdx(bytes, path);
}

/** Encodes an array as IDX bytes (uncompressed); the inverse of parseIdx. */
export function encodeIdx(type: IdxType, dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  const { code, bytesPerElement } = IDX_TYPES[type];
  if (dims.length > 255) throw new InvalidArgument(`IDX rank is one byte; got ${dims.length} dimensions`);
  const count = dims.reduce((n, d) => n * d, 1);
  if (data.length !== count) {
    throw new InvalidArgument(`IDX dims [${dims.join(', ')}] need ${count} elements, got ${data.length}`);
  }
  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + count * bytesPerElement);
  const view = new DataView(out.buffer);
  view.setUint32(0, (code << 8) | dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0; i < count; i++) {
    const offset = headerBytes + i * bytesPerElement;
    const v = data[i] as number;
    switch (type) {
      case 'uint8':
        view.setUint8(offset, v);
        break;
      case 'int8':
        view.setInt8(offset, v);
        break;
      case 'int16':
        view.setInt16(offset, v);
        break;
      case 'int32':
        view.setInt32(offset, v);
        break;
      case 'float32':
        view.setFloat32(offset, v);
        break;
      case 'float64':
        view.setFloat64(offset, v);
        break;
    }
  }
  return out;
}

function decode(raw: Uint8Array, offset: number, type: IdxType, count: number): IdxData {
  const start = raw.byteOffset + offset;
  switch (type) {
    case 'uint8':
      return new Uint8Array(raw.buffer, start, count);
    case 'int8':
      return new Int8Array(raw.buffer, start, count);
  }
  // Multi-byte elements are big-endian in the file; DataView reads them in any host order and at any alignment.
  const view = new DataView(raw.buffer, start, count * IDX_TYPES[type].bytesPerElement);
  switch (type) {
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i);
      return out;
    }
  }
}
