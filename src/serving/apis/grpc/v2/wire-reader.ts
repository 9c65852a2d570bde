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

  constructor(
    readonly bytes: Uint8Array,
    /** The message type being read, for errors. */
    readonly message: string,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A reader over [start, end) of the same bytes, reading `message`. */
  sub(start: number, end: number, message: string): WireReader {
    return new WireReader(this.bytes, message, start, end);
  }

  malformed(what: string): MalformedMessage {
    return new MalformedMessage(this.message, what);
  }

  /** The next tag as [field number, wire type]. */
  tag(): [number, number] {
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
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, end - start).toString('utf8');
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
