/**
 * TFRecord reading (spec §3.6): each record is a uint64 little-endian length, the masked CRC32C of those 8 bytes,
 * the data, and the masked CRC32C of the data. A bad checksum or a short record is DATA_LOSS, as in TensorFlow's
 * RecordReader, and names the file and the record's offset.
 */
import { DataLoss } from '../../../errors.js';

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup per byte. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc = (CRC32C_TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant, so a CRC of CRC-bearing data stays strong. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;

/** The records of a TFRecord file held in `bytes` (views into it), checking both checksums of each. */
export function* tfRecords(bytes: Uint8Array, path: string): Generator<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    const corrupted = (why: string) => new DataLoss(`${path}: corrupted record at offset ${offset}: ${why}`);
    if (bytes.length - offset < HEADER_BYTES) throw corrupted('truncated record header');
    if (maskedCrc32c(bytes.subarray(offset, offset + 8)) !== view.getUint32(offset + 8, true)) {
      throw corrupted('length checksum mismatch');
    }
    const length = view.getBigUint64(offset, true);
    const start = offset + HEADER_BYTES;
    if (length > BigInt(bytes.length - start - FOOTER_BYTES)) {
      throw corrupted(`truncated record: ${length} bytes of data announced`);
    }
    const end = start + Number(length);
    const data = bytes.subarray(start, end);
    if (maskedCrc32c(data) !== view.getUint32(end, true)) throw corrupted('data checksum mismatch');
    yield data;
    offset = end + FOOTER_BYTES;
  }
}
