/**
 * A long JSON string value of a request (json-reader.ts, LONG_STRING_BYTES), kept as its bytes in the body instead of
 * as a JavaScript string, for the routes whose long strings become tensor elements (v1 predict, v2 infer) or
 * bytes_list elements of tf.Examples (v1 classify and regress: json-examples.ts).
 *
 * Why: a JavaScript string is one allocation in V8. Decoding a 24 MiB string a piece a turn still gives a string of
 * pieces, and measuring or encoding it (Buffer.byteLength, Buffer.write) joins the pieces into one new 24 MiB string
 * in one turn. On a machine whose fresh pages are dear (a first write costs about 11 µs a 4 KiB page on this project's
 * virtual machine) that join held the event loop for 70–90 ms. An element's bytes need no string: an unescaped, valid
 * UTF-8 string's bytes are the body's own, copied into room taken a slice a turn; anything else is decoded a piece a
 * turn and each piece encoded on its own. No step joins the whole.
 */
import { isUtf8 } from 'node:buffer';
import { setImmediate } from 'node:timers/promises';
import { joinedInTurns, takenInSlices } from '../../request-buffers.js';

/**
 * Bytes of the body decoded in one turn of the event loop. Decoding a piece makes two or three strings of its size in
 * fresh memory (its text, the escapes' JSON, the result): 2 MiB pieces of an escaped string held turns of 25–67 ms on
 * this project's virtual machine, where a fresh 4 KiB page costs about 11 µs.
 */
const PIECE_BYTES = 512 * 1024;

/** The base64 alphabet, standard and URL-safe, which Buffer's decoder reads; '=' only ends a text. */
const BASE64_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') BASE64_BYTE[c.charCodeAt(0)] = 1;

export class LongText {
  /** Decoded pieces, kept once utf8ByteLength has decoded them (escaped or not valid UTF-8), for utf8(). */
  private pieces: string[] | undefined;
  private utf8Length: number | undefined;

  /**
   * @param body the request body
   * @param start the string's first byte (after its opening quote)
   * @param end the offset of its closing quote
   * @param escaped whether it holds escapes (the reader checked them)
   * @param ascii whether every byte is ASCII
   */
  constructor(
    private readonly body: Uint8Array,
    readonly start: number,
    readonly end: number,
    readonly escaped: boolean,
    readonly ascii: boolean,
  ) {}

  /** Its bytes in the body, escapes as written: the measure for work and previews. */
  get jsonBytes(): number {
    return this.end - this.start;
  }

  /** Whether the body's bytes are the text's UTF-8 as Buffer.from(text, 'utf8') would give it. */
  private get verbatim(): boolean {
    return !this.escaped && (this.ascii || isUtf8(this.body.subarray(this.start, this.end)));
  }

  /** Its UTF-8 length, as Buffer.byteLength(text) gives it; decodes it a piece a turn when the body cannot tell. */
  async utf8ByteLength(): Promise<number> {
    if (this.utf8Length !== undefined) return this.utf8Length;
    if (this.verbatim) return (this.utf8Length = this.jsonBytes);
    const pieces: string[] = [];
    let bytes = 0;
    for (const piece of this.decodedPieces()) {
      if (pieces.length > 0) await setImmediate();
      pieces.push(piece);
      bytes += Buffer.byteLength(piece, 'utf8');
    }
    this.pieces = pieces;
    return (this.utf8Length = bytes);
  }

  /** Its UTF-8 bytes, as Buffer.from(text, 'utf8') gives them, in fresh memory taken a slice a turn. */
  async utf8(): Promise<Uint8Array> {
    const bytes = await this.utf8ByteLength();
    if (this.pieces === undefined) return joinedInTurns([this.body.subarray(this.start, this.end)]);
    const out = Buffer.from(await takenInSlices(bytes));
    let at = 0;
    for (const piece of this.pieces) {
      await setImmediate();
      at += out.write(piece, at, 'utf8');
    }
    this.pieces = undefined;
    return out;
  }

  /**
   * Its base64 decoding, as Buffer.from(text, 'base64') gives it. A text of the alphabet alone, '=' at its end, is
   * decoded from the body a slice of a multiple of 4 characters a turn; any other (escapes, whitespace, characters
   * the decoder skips) is decoded from the whole text, which joins it first, in a turn of its own.
   */
  async base64(): Promise<Buffer> {
    const length = await this.plainBase64Length();
    if (length === undefined) {
      const text = await this.text();
      await setImmediate();
      return Buffer.from(text, 'base64');
    }
    const out = Buffer.from(await takenInSlices(Math.floor((length * 3) / 4)));
    const body = Buffer.from(this.body.buffer, this.body.byteOffset, this.body.byteLength);
    let written = 0;
    const sliceChars = PIECE_BYTES - (PIECE_BYTES % 4);
    for (let at = this.start; at < this.start + length; at += sliceChars) {
      await setImmediate();
      written += out.write(
        body.toString('latin1', at, Math.min(this.start + length, at + sliceChars)),
        written,
        'base64',
      );
    }
    return written === out.byteLength ? out : out.subarray(0, written);
  }

  /** Its first `chars` characters (or fewer, where a surrogate pair is cut), decoded from the body's opening bytes. */
  opening(chars: number): string {
    // A character is at most 6 bytes in JSON (a \u escape); a pair of escapes is two characters.
    return this.piece(this.start, 6 * chars + 6).text.slice(0, chars);
  }

  /** The text as one JavaScript string, decoded a piece a turn (a string of pieces; reading it joins them). */
  async text(): Promise<string> {
    let text = '';
    for (const piece of this.decodedPieces()) {
      if (text.length > 0) await setImmediate();
      text += piece;
    }
    return text;
  }

  /**
   * Characters of the base64 alphabet before any '=' padding when the text holds nothing else (checked a slice a
   * turn); undefined otherwise.
   */
  private async plainBase64Length(): Promise<number | undefined> {
    if (this.escaped) return undefined;
    const body = this.body;
    let end = this.end;
    while (end > this.start && body[end - 1] === 0x3d && this.end - end < 2) end--;
    for (let at = this.start; at < end; at += PIECE_BYTES) {
      if (at > this.start) await setImmediate();
      const to = Math.min(end, at + PIECE_BYTES);
      for (let i = at; i < to; i++) if (BASE64_BYTE[body[i] as number] === 0) return undefined;
    }
    return end - this.start;
  }

  /**
   * The text's pieces of about PIECE_BYTES: UTF-8 cut between characters, escapes between escapes, so that each is a
   * JSON string of its own. A surrogate pair written as two \u escapes may fall into two pieces; joined, they are the
   * same UTF-16 text.
   */
  private *decodedPieces(): Generator<string> {
    for (let at = this.start; at < this.end;) {
      const { text, end } = this.piece(at, PIECE_BYTES);
      yield text;
      at = end;
    }
  }

  /**
   * The text of about `bytes` of the body from `at`, cut between escapes and UTF-8 characters, and where it ends.
   * A piece without a backslash skips JSON.parse.
   */
  private piece(at: number, bytes: number): { text: string; end: number } {
    const body = Buffer.from(this.body.buffer, this.body.byteOffset, this.body.byteLength);
    let to = Math.min(this.end, at + bytes);
    const backslash = this.escaped ? body.indexOf(0x5c, at) : -1;
    const escapes = backslash >= 0 && backslash < to;
    if (escapes) to = pastEscape(body, backslash, to, this.end);
    if (!this.ascii) while (to < this.end && ((body[to] as number) & 0xc0) === 0x80) to--;
    const text = body.toString(this.ascii ? 'latin1' : 'utf8', at, to);
    return { text: escapes ? (JSON.parse(`"${text}"`) as string) : text, end: to };
  }
}

/**
 * The first offset at or after `to` that no escape spans, walking the escapes from `at` (outside any), from one
 * backslash to the next.
 */
export function pastEscape(bytes: Uint8Array, at: number, to: number, end: number): number {
  let i = at;
  while (i < to) {
    const backslash = bytes.indexOf(0x5c, i);
    if (backslash < 0 || backslash >= to) return to;
    i = backslash + (bytes[backslash + 1] === 0x75 ? 6 : 2);
  }
  return Math.min(i, end);
}
