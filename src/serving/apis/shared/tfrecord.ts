/**
 * TFRecord reading (spec §3.6): each record is a uint64 little-endian length, the masked CRC32C of those 8 bytes,
 * the data, and the masked CRC32C of the data. A bad checksum or a short record is DATA_LOSS, as in TensorFlow's
 * RecordReader, and names the file and the record's offset.
 */
import { DataLoss } from '../../../errors.js';
import { extendCrc32c, maskedCrc32c } from '../../../import/masked-crc32c.js';

/** CRC-32C (Castagnoli) of `data`, unmasked. */
export function crc32c(data: Uint8Array): number {
  return extendCrc32c(0, data);
}

/** TFRecord's masked CRC, the same masking as tensor bundles and checkpoints. */
export { maskedCrc32c };

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
