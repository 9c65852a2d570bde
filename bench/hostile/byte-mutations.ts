/**
 * Byte-level mutations of a valid encoding, the kind a broken proxy, a truncated buffer or an attacker produce:
 * bit flips, truncation, random insertions, a length prefix or varint replaced with something huge, a slice
 * duplicated, or random bytes altogether.
 */
import type { Rng } from './rng.js';

export interface ByteMutation {
  bytes: Buffer;
  description: string;
}

/** Varints that overflow or claim more bytes than follow: 2^32-1, 2^63, an 11-byte varint, 2^31. */
const HUGE_VARINTS = [
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08]),
  Buffer.from([0xff]),
];

export function mutateBytes(rng: Rng, input: Buffer): ByteMutation {
  const bytes = Buffer.from(input);
  const at = (extra = 0) => rng.int(bytes.length + extra);
  switch (rng.int(9)) {
    case 0: {
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && bytes.length > 0; i++) {
        const pos = at();
        bytes[pos] = (bytes[pos] as number) ^ (1 << rng.int(8));
      }
      return { bytes, description: `${flips} bit flip(s)` };
    }
    case 1: {
      const cut = at();
      return { bytes: bytes.subarray(0, cut), description: `truncated to ${cut} of ${bytes.length} bytes` };
    }
    case 2: {
      const pos = at(1);
      const junk = rng.bytes(rng.size(32));
      return {
        bytes: Buffer.concat([bytes.subarray(0, pos), junk, bytes.subarray(pos)]),
        description: `${junk.length} random bytes inserted at ${pos}`,
      };
    }
    case 3: {
      // A length-delimited field (wire type 2) whose length is replaced by a huge varint.
      const scan = Math.min(bytes.length - 1, 4096);
      const tags: number[] = [];
      for (let i = 0; i < scan; i++) if (((bytes[i] as number) & 7) === 2) tags.push(i);
      const pos = tags.length > 0 ? rng.pick(tags) : 0;
      let end = pos + 1;
      while (end < bytes.length && ((bytes[end] as number) & 0x80) !== 0) end++;
      const huge = rng.pick(HUGE_VARINTS);
      return {
        bytes: Buffer.concat([bytes.subarray(0, pos + 1), huge, bytes.subarray(Math.min(end + 1, bytes.length))]),
        description: `length after byte ${pos} replaced by varint ${huge.toString('hex')}`,
      };
    }
    case 4: {
      const pos = at(1);
      const huge = rng.pick(HUGE_VARINTS);
      return {
        bytes: Buffer.concat([bytes.subarray(0, pos), huge, bytes.subarray(pos)]),
        description: `varint ${huge.toString('hex')} inserted at ${pos}`,
      };
    }
    case 5: {
      const start = at();
      const end = Math.min(bytes.length, start + rng.size(64));
      const copies = rng.range(1, 50);
      const slice = bytes.subarray(start, end);
      return {
        bytes: Buffer.concat([bytes, ...Array.from({ length: copies }, () => slice)]),
        description: `bytes ${start}..${end} appended ${copies} times`,
      };
    }
    case 6: {
      // A field of an unknown number and wire type (including the deprecated groups 3/4 and the invalid 6/7).
      const tag = Buffer.from([((rng.range(1, 15) << 3) | rng.int(8)) & 0x7f]);
      const pos = at(1);
      return {
        bytes: Buffer.concat([bytes.subarray(0, pos), tag, rng.bytes(rng.size(9)), bytes.subarray(pos)]),
        description: `stray tag 0x${tag.toString('hex')} at ${pos}`,
      };
    }
    case 7:
      return { bytes: rng.bytes(rng.size(256)), description: 'random bytes' };
    default: {
      const pos = at();
      if (bytes.length > 0) bytes[pos] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12]);
      return { bytes, description: `byte ${pos} overwritten` };
    }
  }
}
