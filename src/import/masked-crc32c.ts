/**
 * CRC32C (Castagnoli) as TensorFlow and LevelDB store it: "masked", so that a CRC computed over bytes that
 * themselves contain CRCs does not degenerate (tsl/lib/hash/crc32c.h: rotate right by 15, add 0xa282ead8).
 */
import { crc32c } from '@node-rs/crc32';

const MASK_DELTA = 0xa282ead8;

export function maskCrc32c(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function unmaskCrc32c(masked: number): number {
  const rotated = (masked - MASK_DELTA) >>> 0;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

/** CRC32C of `bytes`, continuing from `crc` (the unmasked value of the bytes before them; 0 to start). */
export function extendCrc32c(crc: number, bytes: Uint8Array): number {
  return crc32c(bytes, crc) >>> 0;
}

/** The masked CRC32C of `bytes`, as stored in table block trailers and BundleEntryProto.crc32c. */
export function maskedCrc32c(bytes: Uint8Array): number {
  return maskCrc32c(extendCrc32c(0, bytes));
}
