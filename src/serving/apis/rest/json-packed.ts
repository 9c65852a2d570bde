/**
 * A rectangular JSON array of numbers or of booleans, kept as the byte range of the request body it came from.
 * Tensors are most of a Predict body; holding them as JS arrays costs 8–16 bytes per element on top of the text
 * (a `0,` costs 2), so the reader only checks them and records their shape, and the tensor is filled by reading
 * the range a second time, straight into its typed array.
 */
import { float32At, numberAt } from './json-number.js';

/**
 * Packed arrays of numbers up to this much text are converted by one JSON.parse of their range (flatNumbers): the
 * engine's parser reads the 17-digit floats that JSON writers print at about half the cost of one Number() call per
 * literal (docs/performance.md, "Serving"). The JS array it makes is transient and bounded by this size.
 */
export const PARSED_ARRAY_MAX_BYTES = 64 * 1024;

/** Buffer's native latin1 decoder on any Uint8Array (a checked JSON number array is ASCII). */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** What the elements are: numbers (NaN/Infinity tokens included), booleans, or none at all (a 0 in the shape). */
export type PackedKind = 'number' | 'boolean' | 'empty';

export class PackedArray {
  constructor(
    /** The request body. */
    readonly bytes: Uint8Array,
    /** Offset of the opening '['. */
    readonly start: number,
    /** Offset just past the closing ']'. */
    readonly end: number,
    readonly shape: readonly number[],
    readonly kind: PackedKind,
    /**
     * The elements as float32, row-major, when the reader converted them while scanning (json-reader.ts rule 8):
     * exactly what PackedCursor.float32 gives for each. This array's own storage, which a tensor may take.
     */
    public float32?: Float32Array,
  ) {}

  /** float32, handed over: the caller owns the array (a tensor's storage), and this array no longer holds it. */
  takeFloat32(): Float32Array | undefined {
    const values = this.float32;
    this.float32 = undefined;
    return values;
  }

  get length(): number {
    return this.shape[0] as number;
  }

  get size(): number {
    return this.shape.reduce((n, d) => n * d, 1);
  }

  /**
   * The elements as doubles in row-major order, exactly as Number() rounds each literal, or undefined when this
   * array is not numbers, is longer than PARSED_ARRAY_MAX_BYTES, or holds the NaN / Infinity tokens that JSON.parse
   * refuses (the cursor reads those).
   */
  flatNumbers(): number[] | undefined {
    if (this.kind !== 'number' || this.end - this.start > PARSED_ARRAY_MAX_BYTES) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(latin1Slice.call(this.bytes, this.start, this.end));
    } catch {
      return undefined;
    }
    let flat = parsed as unknown[];
    for (let depth = 1; depth < this.shape.length; depth++) flat = flat.flat();
    return flat.length === this.size && flat.every((x) => typeof x === 'number') ? (flat as number[]) : undefined;
  }

  /** The start of the JSON text, for messages. */
  preview(maxChars: number): string {
    const end = Math.min(this.end, this.start + maxChars);
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.start, end - this.start).toString(
      'latin1',
    );
    return end < this.end ? `${text}…` : text;
  }
}

/** Element kinds the cursor reports. */
export const TRUE = 1;
export const FALSE = 2;
export const NUMBER = 3;

/**
 * Reads a packed array's scalars in order. The reader has already checked the syntax, so the cursor only skips
 * brackets, commas and white space and delimits the next token.
 */
export class PackedCursor {
  private pos: number;
  /** The current token: its kind (TRUE, FALSE, NUMBER) and byte range. */
  kind = 0;
  tokenStart = 0;
  tokenEnd = 0;

  constructor(readonly packed: PackedArray) {
    this.pos = packed.start;
  }

  /** Bytes read so far, to slice work between event-loop turns. */
  get offset(): number {
    return this.pos;
  }

  /** Moves to the next scalar; false when none is left. */
  next(): boolean {
    const bytes = this.packed.bytes;
    const end = this.packed.end;
    let i = this.pos;
    for (; i < end; i++) {
      const c = bytes[i] as number;
      // '[', ']', ',', space, tab, LF, CR
      if (c !== 0x5b && c !== 0x5d && c !== 0x2c && c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    }
    if (i >= end) {
      this.pos = end;
      return false;
    }
    this.tokenStart = i;
    const c = bytes[i];
    if (c === 0x74) {
      this.kind = TRUE;
      i += 4;
    } else if (c === 0x66) {
      this.kind = FALSE;
      i += 5;
    } else {
      this.kind = NUMBER;
      for (i++; i < end; i++) {
        const d = bytes[i] as number;
        if (d === 0x2c || d === 0x5d || d === 0x20 || d === 0x09 || d === 0x0a || d === 0x0d) break;
      }
    }
    this.tokenEnd = i;
    this.pos = i;
    return true;
  }

  number(): number {
    return numberAt(this.packed.bytes, this.tokenStart, this.tokenEnd);
  }

  /** The number as a float32 tensor stores it: Math.fround(number()), computed faster (json-number.ts). */
  float32(): number {
    return float32At(this.packed.bytes, this.tokenStart, this.tokenEnd);
  }

  /** The token's text, for messages. */
  text(): string {
    const { bytes } = this.packed;
    return Buffer.from(bytes.buffer, bytes.byteOffset + this.tokenStart, this.tokenEnd - this.tokenStart).toString(
      'latin1',
    );
  }
}
