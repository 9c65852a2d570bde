/**
 * A bounds-checked cursor over protobuf wire bytes, for the Open Inference Protocol messages flowserve reads
 * itself (infer-request-wire.ts). It never copies: length-delimited fields come back as [start, end) offsets into
 * the message, so a header can be read, counted and admitted before anything is allocated for its values.
 */
import { InvalidArgument } from '../../../../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** Wire bytes that are not a valid encoding of `message`. */
export class MalformedMessage extends InvalidArgument {
  constructor(message: string, what: string) {
    super(`malformed protobuf in ${message}: ${what}`);
  }
}

export class WireReader {
  pos: number;
  private fields = 0;

  constructor(
    readonly bytes: Uint8Array,
    /** The message type being read, for errors. */
    readonly message: string,
    start = 0,
    readonly end = bytes.length,
    /**
     * The most fields this message may hold: a bound on the work of reading a header, whatever the message's size
     * (a valid one holds a few). Fields that carry tensor values are read without it, bounded by the shape instead.
     */
    readonly maxFields = Infinity,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A reader over [start, end) of the same bytes, reading `message`. */
  sub(start: number, end: number, message: string, maxFields = Infinity): WireReader {
    return new WireReader(this.bytes, message, start, end, maxFields);
  }

  malformed(what: string): MalformedMessage {
    return new MalformedMessage(this.message, what);
  }

  /** The next tag as [field number, wire type]. */
  tag(): [number, number] {
    if (++this.fields > this.maxFields) {
      throw new InvalidArgument(`${this.message} holds more than ${this.maxFields} fields`);
    }
    const tag = this.varint();
    return [Math.floor(tag / 8), tag % 8];
  }

  /** An unsigned varint as a number; exact up to 2^53, NaN past it. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result <= Number.MAX_SAFE_INTEGER ? result : NaN;
      scale *= 128;
    }
    throw this.malformed('varint longer than 10 bytes');
  }

  /** A varint's 64 bits, unsigned. */
  varint64(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) return BigInt.asUintN(64, result);
    }
    throw this.malformed('varint longer than 10 bytes');
  }

  /** A varint's low 32 bits as int32 (how protobuf reads an int32 field). */
  varint32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.malformed('truncated varint');
      const byte = this.bytes[this.pos++] as number;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result | 0;
      shift += 7;
    }
    throw this.malformed('varint longer than 10 bytes');
  }

  /** The [start, end) of a length-delimited field's payload; moves past it. */
  delimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (!(length <= this.end - start)) throw this.malformed('length-delimited field runs past the message');
    this.pos = start + length;
    return [start, this.pos];
  }

  /** A length-delimited field as UTF-8 text. */
  string(): string {
    const [start, end] = this.delimited();
    return recentText(this.bytes, start, end) ?? utf8(this.bytes, start, end);
  }

  /** 8 bytes, little-endian, as a float64. */
  double(): number {
    this.need(8);
    const value = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).readDoubleLE(0);
    this.pos += 8;
    return value;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case WIRE_BYTES:
        this.delimited();
        return;
      case WIRE_FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw this.malformed(`unsupported wire type ${wireType}`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw this.malformed('truncated fixed-width field');
  }
}

function utf8(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}

/**
 * Names repeat from request to request (model, input, datatype): short ASCII texts are kept in a small
 * direct-mapped table and handed back when the same bytes come again, without a Buffer or a new string per field.
 * A table slot is chosen by a hash of the bytes and trusted only after every byte compared equal, so a collision
 * (chance or crafted) costs one miss and a decode, never a wrong string; memory is bounded by the table's size.
 */
const RECENT_SLOTS = 256;
const RECENT_MAX_LENGTH = 64;
const recent: (string | undefined)[] = new Array<string | undefined>(RECENT_SLOTS).fill(undefined);

/** The text of bytes [start, end) when they are short ASCII; undefined for anything else (decoded as UTF-8). */
export function recentText(bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = end - start;
  if (length > RECENT_MAX_LENGTH) return undefined;
  let hash = length;
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number;
    if (byte >= 0x80) return undefined;
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  const slot = (hash >>> 0) % RECENT_SLOTS;
  const known = recent[slot];
  if (known !== undefined && known.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (known.charCodeAt(i) !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return known;
  }
  const text = length === 0 ? '' : utf8(bytes, start, end);
  recent[slot] = text;
  return text;
}
