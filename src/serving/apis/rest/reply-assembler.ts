/**
 * A large REST reply, assembled into one Buffer a slice at a time, so that no turn of the event loop holds it for
 * long. Written as one string, a reply of millions of numbers or one long string element held the loop for
 * 300–900 ms on this project's machine (docs/performance.md, "Round 22"): formatting every element, joining the
 * text, JSON-escaping a 20 MiB string, measuring the text's UTF-8 length for Content-Length, and encoding it on the
 * socket all ran in one turn.
 *
 * Here small text is gathered into parts of TEXT_PART_CHARS, long string elements are escaped or base64-encoded
 * SLICE_BYTES at a time (a run that needs no escape is kept as a view of the tensor's bytes, not copied), and the
 * parts are copied into the reply's Buffer SLICE_BYTES at a time. `pause` gives the loop back once a turn has spent
 * TURN_BUDGET_MS. The reply's size is checked against its limit as it grows: the count is exact, so a refused reply
 * truly was larger than the limit.
 */
import { setImmediate } from 'node:timers/promises';
import { ResourceExhausted } from '../../../errors.js';
import type { JsonPiece } from './json-format.js';

/** Text gathered before it is encoded into a part of its own. */
const TEXT_PART_CHARS = 64 * 1024;
/** Bytes of a long string element escaped, or of parts copied, between two checks of the turn's time. */
export const SLICE_BYTES = 512 * 1024;
/** CPU a turn may spend on a reply before the loop is given back. */
const TURN_BUDGET_MS = 4;

const HEX = '0123456789abcdef';
/**
 * For each byte below 0x60 that JSON.stringify escapes, the character after its backslash: `"`, `\\`, and b t n f r
 * for \b \t \n \f \r; `u` for the other control characters, written \u00XX.
 */
const ESCAPE = new Uint8Array(0x60);
ESCAPE.fill(0x75, 0, 0x20);
for (const [byte, char] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
] as const)
  ESCAPE[byte] = char.charCodeAt(0);

/** The bytes `b` becomes inside a JSON string: 1, 2 (\" \\ \n …) or 6 (\u00XX). */
function escapedLength(b: number): number {
  const escape = b < 0x60 ? (ESCAPE[b] as number) : 0;
  return escape === 0 ? 1 : escape === 0x75 ? 6 : 2;
}

/** Bytes of `bytes[from, to)` once escaped. An indexed loop: for-of over a typed array was 7× slower here. */
export function escapedBytes(bytes: Uint8Array, from: number, to: number): number {
  let length = to - from;
  for (let i = from; i < to; i++) {
    const b = bytes[i] as number;
    if (b < 0x20 || b === 0x22 || b === 0x5c) length += escapedLength(b) - 1;
  }
  return length;
}

/** Writes `bytes[from, to)` escaped into `out` (which has exactly the room escapedBytes counted). */
function writeEscaped(bytes: Uint8Array, from: number, to: number, out: Uint8Array): void {
  let at = 0;
  for (let i = from; i < to; i++) {
    const b = bytes[i] as number;
    if (b >= 0x20 && b !== 0x22 && b !== 0x5c) {
      out[at++] = b;
      continue;
    }
    const escape = ESCAPE[b] as number;
    out[at++] = 0x5c;
    out[at++] = escape;
    if (escape !== 0x75) continue;
    out[at++] = 0x30; // \u00XX
    out[at++] = 0x30;
    out[at++] = HEX.charCodeAt(b >> 4);
    out[at++] = HEX.charCodeAt(b & 15);
  }
}

/** A reply whose bound (../shared/reply-limit.ts) reaches this is assembled here; no smaller one holds a long element. */
export const ASSEMBLED_REPLY_BYTES = 64 * 1024;

/** JSON `pieces` (json-format.ts) as one Buffer of at most `maxBytes`, a slice at a time. */
export async function assembleJson(pieces: Iterable<JsonPiece>, maxBytes: number): Promise<Buffer> {
  const reply = new ReplyAssembler(maxBytes);
  for (const piece of pieces) {
    if (typeof piece === 'string') reply.write(piece);
    else if (piece.asBase64) await reply.writeBase64Json(piece.bytes);
    else await reply.writeJsonString(piece.bytes);
    await reply.pause();
  }
  return reply.toBuffer();
}

/** RESOURCE_EXHAUSTED when a reply of `bytes` is larger than `maxBytes` (--max_response_bytes). */
export function checkReplyLength(bytes: number, maxBytes: number): void {
  if (bytes > maxBytes) throw new ResourceExhausted(`the reply takes more than --max_response_bytes=${maxBytes} bytes`);
}

export class ReplyAssembler {
  private readonly parts: Uint8Array[] = [];
  private partBytes = 0;
  private text = '';
  private turnStarted = performance.now();

  /** `maxBytes`: --max_response_bytes. */
  constructor(private readonly maxBytes: number) {}

  /** Bytes written so far. */
  get byteLength(): number {
    this.flushText();
    return this.partBytes;
  }

  /** Appends text (any Unicode; written as UTF-8). */
  write(text: string): void {
    this.text += text;
    if (this.text.length >= TEXT_PART_CHARS) this.flushText();
  }

  /** Appends bytes as they are (binary data after a JSON header); kept as a view, not copied. */
  writeBytes(bytes: Uint8Array): void {
    this.flushText();
    this.add(bytes);
  }

  /**
   * Appends well-formed UTF-8 `utf8` as a JSON string, escaped as JSON.stringify escapes its text: the same bytes,
   * since in UTF-8 every byte that needs an escape is an ASCII character of its own.
   */
  async writeJsonString(utf8: Uint8Array): Promise<void> {
    this.write('"');
    this.flushText();
    for (let from = 0; from < utf8.byteLength; from += SLICE_BYTES) {
      const to = Math.min(utf8.byteLength, from + SLICE_BYTES);
      const length = escapedBytes(utf8, from, to);
      if (length === to - from) this.add(utf8.subarray(from, to));
      else {
        const out = Buffer.allocUnsafe(length);
        writeEscaped(utf8, from, to, out);
        this.add(out);
      }
      await this.pause();
    }
    this.write('"');
  }

  /** Appends `{"b64": "…"}` of `bytes`, encoded a slice (a multiple of 3 bytes, so no padding inside) at a time. */
  async writeBase64Json(bytes: Uint8Array): Promise<void> {
    this.write('{"b64": "');
    this.flushText();
    const slice = SLICE_BYTES - (SLICE_BYTES % 3);
    const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let from = 0; from < bytes.byteLength; from += slice) {
      const base64 = source.subarray(from, Math.min(bytes.byteLength, from + slice)).toString('base64');
      this.add(Buffer.from(base64, 'latin1'));
      await this.pause();
    }
    this.write('"}');
  }

  /** Gives the event loop back when this turn has spent its budget. */
  async pause(): Promise<void> {
    if (performance.now() - this.turnStarted < TURN_BUDGET_MS) return;
    await setImmediate();
    this.turnStarted = performance.now();
  }

  /** The reply: its parts copied into one Buffer a slice at a time (the first write to fresh pages is what costs). */
  async toBuffer(): Promise<Buffer> {
    this.flushText();
    const { parts } = this;
    if (parts.length === 1) {
      const only = parts[0] as Uint8Array;
      return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
    }
    const body = Buffer.allocUnsafe(this.partBytes);
    let at = 0;
    for (const part of parts) {
      for (let from = 0; from < part.byteLength; from += SLICE_BYTES) {
        const slice = part.subarray(from, Math.min(part.byteLength, from + SLICE_BYTES));
        body.set(slice, at);
        at += slice.byteLength;
        await this.pause();
      }
    }
    return body;
  }

  private flushText(): void {
    if (this.text === '') return;
    const text = this.text;
    this.text = '';
    this.add(Buffer.from(text, 'utf8'));
  }

  private add(part: Uint8Array): void {
    if (part.byteLength === 0) return;
    this.partBytes += part.byteLength;
    checkReplyLength(this.partBytes, this.maxBytes);
    this.parts.push(part);
  }
}
