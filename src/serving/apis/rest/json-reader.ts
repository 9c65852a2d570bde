/**
 * The REST request body reader: JSON bytes → values, with TF Serving's JSON rules (rapidjson with
 * kParseNanAndInfFlag) and bounds that JSON.parse lacks.
 *
 * Rules:
 *  1. The body is read from its Buffer: no whole-body string, no JSON.parse of the body.
 *  2. The bare tokens NaN, Infinity and -Infinity are numbers; a string never is one.
 *  3. A number too big for a double is refused ("Number too big to be stored in double", rapidjson's words).
 *  4. Nesting is tracked on an explicit stack, never the call stack, and refused past `maxDepth`.
 *  5. A rectangular array of numbers or of booleans becomes a PackedArray (shape + byte range), not JS values.
 *  6. Everything else becomes ordinary values; their estimated memory is charged against `maxValueBytes`, and their
 *     number (array elements and object members) against `maxItems`.
 *  7. The reader stops every `sliceBytes` of input and yields to the event loop, so no body holds it for long. An
 *     ordinary value (rule 6) also spends VALUE_SLICE_BYTES of the slice (the slice ends at whichever runs out
 *     first), as making and keeping it costs more than scanning its bytes.
 *  8. With `float32Values`, in a body of up to MAX_FLOAT32_SCAN_BYTES, the numbers of packed arrays are also
 *     converted to float32 as they are scanned (one pass over their bytes instead of two), up to MAX_FLOAT32_VALUES;
 *     a packed array whose numbers were all converted carries a copy of them (PackedArray.float32).
 * Errors are InvalidArgument "JSON Parse error: <rapidjson's message> at offset: N".
 */
import { InvalidArgument } from '../../../errors.js';
import { float32OfDecimal, MAX_NUMBER_LITERAL_BYTES, numberAt } from './json-number.js';
import { PackedArray, type PackedKind } from './json-packed.js';
import { LongText } from './long-text.js';

export type JsonValue = null | boolean | number | string | LongText | PackedArray | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Deep enough for a rank-254 tensor (TensorShape's limit) inside the row format's objects. */
export const MAX_JSON_DEPTH = 512;
const DEFAULT_SLICE_BYTES = 256 * 1024;
/**
 * A string of more bytes is decoded a piece a turn (long-text.ts), into a string of pieces (V8 joins them without a
 * copy until something reads the whole), or left in the body as a LongText (option longText). Decoding 30 MB at once
 * held the event loop 90–110 ms on this project's virtual machine in 2026-12, where the first write to a fresh page
 * costs 11–22 µs; a 24 MiB string with escapes, decoded by one JSON.parse, held it 50–60 ms with the rest of its turn.
 */
export const LONG_STRING_BYTES = 1024 * 1024;
/**
 * Most float32 values one body's scan converts ahead of the tensor (rule 8): 256 KiB, bounded before the signature
 * and the admission are known. Larger tensors are converted after admission, by the cursor, straight into their
 * storage.
 */
export const MAX_FLOAT32_VALUES = 64 * 1024;
/**
 * Rule 8 applies to bodies up to this size: 8 bytes per value of the store, so a body of floats printed with a few
 * digits or more fits, and a larger one (whose values would overflow the store, and be converted twice) is converted
 * after admission only.
 */
export const MAX_FLOAT32_SCAN_BYTES = 8 * MAX_FLOAT32_VALUES;
const FIRST_FLOAT32_VALUES = 1024;
/**
 * The store readers borrow in turn for rule 8: a reader takes it at its first converted value when no other reader
 * holds it (a body read in slices holds it across its yields) and gives it back when it ends. Values never leave it
 * as views (a closed array copies its own), so the next body may overwrite them. Saves a store per body: a 4 KB
 * Float32Array costs ~1.3 µs to allocate, 5 % of an MNIST body's decode.
 */
let sharedStore: Float32Array | undefined;
let sharedStoreLent = false;

/** numberRun converts literals up to this long itself; longer ones take scanNumber's checks of length and range. */
const FAST_LITERAL_BYTES = 300;

export interface JsonReadOptions {
  /** Deepest nesting of arrays and objects; default MAX_JSON_DEPTH. */
  maxDepth?: number;
  /** Estimated memory the ordinary (not packed) values may take; default unbounded. */
  maxValueBytes?: number;
  /** Most ordinary array elements and object members in the document (MAX_REQUEST_JSON_ITEMS); default unbounded. */
  maxItems?: number;
  /** Bytes read between two yields to the event loop. */
  sliceBytes?: number;
  /** Rule 8: convert packed arrays' numbers to float32 while scanning them (the body is a Predict request). */
  float32Values?: boolean;
  /**
   * A string value (not a key) of more than LONG_STRING_BYTES becomes a LongText, its bytes left in the body, for a
   * route that makes tensor elements of it (long-text.ts); otherwise it is decoded a piece a turn into a string.
   */
  longText?: boolean;
}

/**
 * The most array elements and object members outside packed arrays that one request body may hold. An ordinary
 * array is a JS array grown one push at a time, and each growth copies it whole within one turn of the event loop:
 * 27 ms at 2.7M elements (measured; a 30 MiB body of one-letter strings reaches 3.2M before --max_input_bytes),
 * and scavenges copy every one of them that is still young. At 2^20 the largest growth copies ~0.8M pointers
 * (~8 ms, scaled from the 27). Tensors of numbers or booleans are packed and never count; real string batches are far smaller.
 */
export const MAX_REQUEST_JSON_ITEMS = 1 << 20;

/**
 * What an ordinary value (rule 6) spends of its slice's credit (rule 7), which starts at the slice's bytes: a 30 MiB
 * body of `"a",` took 20–27 ms per 256 KiB slice read by bytes alone (64K strings made and kept, and the scavenges
 * that copy them), a body of numbers 8–10 ms; at 16 per value (32 per such string) its slices took 8–10 ms too.
 * On this project's virtual machine in 2026-12, where a fresh page costs 13–22 µs at its first write (the young
 * generation growing, the scavenges' copies), 4M one-letter strings held turns of 40–52 ms at 16 and 35–44 ms at 32.
 */
const VALUE_SLICE_BYTES = 32;

// Estimated costs of ordinary values in V8 (object headers, slots, string headers), for rule 6.
const OBJECT_COST = 64;
const MEMBER_COST = 32;
const ARRAY_COST = 32;
const ELEMENT_COST = 16;
const STRING_COST = 24;
const PACKED_COST = 96;

// Parser states: what the next token may be.
const VALUE = 0; // any value
const FIRST_VALUE = 1; // a value or ']' (just after '[')
const KEY = 2; // a member name
const FIRST_KEY = 3; // a member name or '}' (just after '{')
const COLON = 4;
const AFTER_VALUE = 5; // ',' or the container's closing bracket
const IN_STRING = 6;
const DONE = 7;

/** One open array or object. Frames are reused by depth, so a million small arrays make no frames. */
class Frame {
  isArray = false;
  start = 0;
  // Objects:
  object: JsonObject | undefined;
  key = '';
  // Arrays: `items` once it holds ordinary values; undefined while the array can still be packed.
  items: JsonValue[] | undefined;
  count = 0;
  elementShape: readonly number[] = [];
  elementKind: PackedKind = 'empty';
  /** Offset of the last ',' between elements: where a prefix to re-read ends. */
  lastComma = 0;
  /** Rule 8: how many float32 values the reader held when this array opened. */
  float32Start = 0;
}

const EMPTY_SHAPE: readonly number[] = [];

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function compatibleKinds(a: PackedKind, b: PackedKind): boolean {
  return a === b || a === 'empty' || b === 'empty';
}

function parseError(message: string, offset: number): InvalidArgument {
  return new InvalidArgument(`JSON Parse error: ${message} at offset: ${offset}`);
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Characters of a string that cost what one element does, where a string is measured or encoded (a pass over all of
 * it: a 20 MiB one took about 15 ms on this project's machine).
 */
const CHARS_PER_ELEMENT = 64;

/**
 * The work, in elements, of a pass over `text` (stringWork) or over one other value (1). A LongText counts 1: its
 * own passes give the event loop a turn between pieces.
 */
export function stringWork(text: string | LongText): number {
  return typeof text === 'string' ? 1 + Math.floor(text.length / CHARS_PER_ELEMENT) : 1;
}

/**
 * Work counted in elements, the event loop given back every `perTurn` of it: a long string's pass gets a turn of its
 * own instead of joining the turn of the elements before it.
 */
export class WorkSlices {
  private work = 0;

  constructor(private readonly perTurn: number) {}

  /** Counts work of `cost` about to be done; true when the loop should be given back first. */
  full(cost: number): boolean {
    const full = this.work > 0 && this.work + cost > this.perTurn;
    if (full) this.work = 0;
    this.work += cost;
    return full;
  }
}

/** A string too long to decode in one turn (scanString), between its quotes. */
interface LongString {
  start: number;
  end: number;
  encoding: 'utf8' | 'latin1';
  /** Whether it holds escapes: its pieces are then read as JSON strings. */
  escaped: boolean;
}

interface Budget {
  used: number;
  readonly max: number;
  /** Ordinary array elements and object members so far, and their limit. */
  items: number;
  readonly maxItems: number;
}

interface ReaderRange {
  start: number;
  end: number;
  /** Re-reading a demoted array's prefix: its root array keeps ordinary items and closes at `end`. */
  prefixOfArray?: boolean;
  depthBase?: number;
}

class JsonReader {
  private pos: number;
  private state = VALUE;
  private readonly frames: Frame[] = [];
  private depth = 0;
  private root: JsonValue | undefined;
  private rootSet = false;
  private stringStart = 0;
  private stringEscaped = false;
  /** No byte ≥ 0x80 so far: the string decodes as latin1, a plain copy (utf8 decoding of 48 MiB took ~40 ms). */
  private stringAscii = true;
  private stringIsKey = false;
  /** The current step stops at the next token: a demotion is pending, or ordinary values spent the slice. */
  private interrupted = false;
  /** What is left of the current slice for ordinary values to spend (VALUE_SLICE_BYTES each). */
  private sliceCredit = 0;
  /** A long string whose closing quote was read: decoded (asynchronously) a piece a turn before going on. */
  private longString: LongString | undefined;
  private readonly longText: boolean;
  /** An array that met a value it cannot pack: its prefix is re-read (asynchronously) before going on. */
  private demotion: { frame: Frame; value: JsonValue } | undefined;
  private readonly maxDepth: number;
  private readonly sliceBytes: number;
  /** `bytes` as a Buffer, made at the first string, to decode strings from. */
  private text: Buffer | undefined;
  /** Where the current step stops: the fast loop over an array's numbers (numberRun) stops there too. */
  private limit = 0;
  /** Rule 8: still converting; false for good once MAX_FLOAT32_VALUES were converted. */
  private float32Capture: boolean;
  private float32: Float32Array | undefined;
  private float32Count = 0;
  /** `float32` is the shared store. */
  private borrowed = false;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly range: ReaderRange,
    options: JsonReadOptions,
    private readonly budget: Budget,
  ) {
    this.pos = range.start;
    this.maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
    this.sliceBytes = options.sliceBytes ?? DEFAULT_SLICE_BYTES;
    this.float32Capture = options.float32Values === true && range.end - range.start <= MAX_FLOAT32_SCAN_BYTES;
    this.longText = options.longText === true;
  }

  async read(): Promise<JsonValue> {
    const end = this.range.end;
    try {
      for (;;) {
        this.step(Math.min(end, this.pos + this.sliceBytes));
        if (this.longString) {
          await this.decodeLongString(this.longString);
          continue;
        }
        if (this.demotion) {
          await this.demote(this.demotion.frame, this.demotion.value);
          continue;
        }
        if (this.pos >= end) return this.finish();
        await yieldToEventLoop();
      }
    } finally {
      this.giveBackStore();
    }
  }

  private charge(bytes: number): void {
    if ((this.sliceCredit -= VALUE_SLICE_BYTES) < 0) this.interrupted = true;
    this.budget.used += bytes;
    if (this.budget.used > this.budget.max) {
      throw new InvalidArgument(
        `JSON body: its values (other than arrays of numbers) would take more than ${this.budget.max} bytes of ` +
          `memory (--max_input_bytes), at offset: ${this.pos}`,
      );
    }
  }

  private countItem(): void {
    if (++this.budget.items > this.budget.maxItems) {
      throw new InvalidArgument(
        `JSON body: more than ${this.budget.maxItems} array elements and object members outside arrays of numbers, ` +
          `at offset: ${this.pos}`,
      );
    }
  }

  private finish(): JsonValue {
    const top = this.frames[this.depth - 1];
    if (this.range.prefixOfArray && this.depth === 1 && (this.state === AFTER_VALUE || this.state === FIRST_VALUE)) {
      this.closeArray();
    }
    if (this.state === DONE) return this.root as JsonValue;
    const at = this.range.end;
    if (this.state === IN_STRING) throw parseError('Missing a closing quotation mark in string.', at);
    if (this.depth === 0 && !this.rootSet) throw new InvalidArgument('JSON Parse error: The document is empty');
    if (this.state === KEY || this.state === FIRST_KEY) throw parseError('Missing a name for object member.', at);
    if (this.state === COLON) throw parseError('Missing a colon after a name of object member.', at);
    if (this.state === AFTER_VALUE) {
      throw parseError(
        top?.isArray
          ? "Missing a comma or ']' after an array element."
          : "Missing a comma or '}' after an object member.",
        at,
      );
    }
    throw parseError('Invalid value.', at);
  }

  /** Reads tokens until `limit` (a token may end past it), a demotion, spent credit, or the end of the range. */
  private step(limit: number): void {
    const bytes = this.bytes;
    this.limit = limit;
    // Ordinary values spend the slice's credit too (charge): the slice ends sooner where the body costs more per byte.
    this.sliceCredit = limit - this.pos;
    this.interrupted = false;
    while (this.pos < limit && !this.interrupted) {
      if (this.state === IN_STRING) {
        this.scanString(limit);
        continue;
      }
      const c = bytes[this.pos] as number;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        this.pos++;
        continue;
      }
      switch (this.state) {
        case FIRST_VALUE:
          if (c === 0x5d) {
            this.closeArray();
            break;
          }
          this.beginValue(c);
          break;
        case VALUE:
          this.beginValue(c);
          break;
        case FIRST_KEY:
          if (c === 0x7d) {
            this.closeObject();
            break;
          }
          this.beginKey(c);
          break;
        case KEY:
          this.beginKey(c);
          break;
        case COLON:
          if (c !== 0x3a) throw parseError('Missing a colon after a name of object member.', this.pos);
          this.pos++;
          this.state = VALUE;
          break;
        case AFTER_VALUE:
          this.afterValue(c);
          break;
        default:
          throw parseError('The document root must not be followed by other values.', this.pos);
      }
    }
  }

  private afterValue(c: number): void {
    const top = this.frames[this.depth - 1] as Frame;
    if (top.isArray) {
      if (c === 0x2c) {
        top.lastComma = this.pos++;
        this.state = VALUE;
      } else if (c === 0x5d) this.closeArray();
      else throw parseError("Missing a comma or ']' after an array element.", this.pos);
    } else if (c === 0x2c) {
      this.pos++;
      this.state = KEY;
    } else if (c === 0x7d) this.closeObject();
    else throw parseError("Missing a comma or '}' after an object member.", this.pos);
  }

  private beginKey(c: number): void {
    if (c !== 0x22) throw parseError('Missing a name for object member.', this.pos);
    this.beginString(true);
  }

  private beginString(isKey: boolean): void {
    this.stringStart = ++this.pos;
    this.stringEscaped = false;
    this.stringAscii = true;
    this.stringIsKey = isKey;
    this.state = IN_STRING;
  }

  /** Scans string bytes up to `limit`; on the closing quote, decodes the string and completes it. */
  private scanString(limit: number): void {
    const bytes = this.bytes;
    const end = this.range.end;
    let i = this.pos;
    for (; i < limit; i++) {
      const c = bytes[i] as number;
      if (c === 0x22) break;
      if (c === 0x5c) {
        this.stringEscaped = true;
        i = this.checkEscape(i + 1, end);
      } else if (c < 0x20) throw parseError('Invalid encoding in string.', i);
      else if (c >= 0x80) this.stringAscii = false;
    }
    this.pos = i;
    if (i >= limit) return;
    this.pos = i + 1;
    if (i - this.stringStart > LONG_STRING_BYTES) {
      // Charged before a byte of it is decoded; the step ends here, and read() decodes it.
      this.charge(STRING_COST + (i - this.stringStart));
      const escaped = this.stringEscaped;
      if (this.longText && !this.stringIsKey) {
        this.complete(new LongText(this.bytes, this.stringStart, i, escaped, this.stringAscii));
        return;
      }
      this.longString = { start: this.stringStart, end: i, encoding: this.stringAscii ? 'latin1' : 'utf8', escaped };
      this.interrupted = true;
      return;
    }
    const text = this.stringEscaped
      ? // The escapes are checked, so JSON.parse of this one literal cannot fail; it decodes \uXXXX pairs as JS does.
        (JSON.parse(this.slice(this.stringStart - 1, i + 1, 'utf8')) as string)
      : this.slice(this.stringStart, i, this.stringAscii ? 'latin1' : 'utf8');
    this.charge(STRING_COST + (i - this.stringStart));
    this.completeString(text);
  }

  private completeString(text: string): void {
    if (this.stringIsKey) {
      (this.frames[this.depth - 1] as Frame).key = text;
      this.state = COLON;
    } else this.complete(text);
  }

  /** The long string scanString left (already charged), decoded a piece a turn (LongText.text). */
  private async decodeLongString(long: LongString): Promise<void> {
    this.longString = undefined;
    const { start, end, escaped, encoding } = long;
    this.completeString(await new LongText(this.bytes, start, end, escaped, encoding === 'latin1').text());
  }

  /** Checks the escape whose letter is at `i`; returns the offset of its last byte. */
  private checkEscape(i: number, end: number): number {
    const c = i < end ? this.bytes[i] : undefined;
    if (c === 0x75) {
      for (let k = 1; k <= 4; k++) {
        const h = i + k < end ? (this.bytes[i + k] as number) : -1;
        const hex = (h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66);
        if (!hex) throw parseError('Incorrect hex digit after \\u escape in string.', i + k);
      }
      return i + 4;
    }
    // " \ / b f n r t
    if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
      return i;
    }
    if (c === undefined) throw parseError('Missing a closing quotation mark in string.', end);
    throw parseError('Invalid escape character in string.', i);
  }

  private slice(start: number, end: number, encoding: 'utf8' | 'latin1'): string {
    // One Buffer view of the body for all its strings: a view per string was a third of a short string's cost.
    this.text ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.text.toString(encoding, start, end);
  }

  private matchLiteral(literal: string): void {
    const end = this.range.end;
    for (let k = 0; k < literal.length; k++) {
      const at = this.pos + k;
      if (at >= end || this.bytes[at] !== literal.charCodeAt(k)) throw parseError('Invalid value.', this.pos);
    }
    this.pos += literal.length;
  }

  private beginValue(c: number): void {
    switch (c) {
      case 0x7b: // {
        this.push(false);
        this.state = FIRST_KEY;
        return;
      case 0x5b: // [
        this.push(true);
        this.state = FIRST_VALUE;
        return;
      case 0x22:
        this.beginString(false);
        return;
      case 0x74:
        this.matchLiteral('true');
        this.completeScalar('boolean', true);
        return;
      case 0x66:
        this.matchLiteral('false');
        this.completeScalar('boolean', false);
        return;
      case 0x6e:
        this.matchLiteral('null');
        this.complete(null);
        return;
      default:
        this.readNumber();
    }
  }

  /**
   * A number literal or NaN / Infinity / -Infinity. Its double is computed only when it is kept as a JS value; as an
   * element of a packed array, its float32 is computed during the scan (rule 8), and the array's next numbers are
   * read by numberRun.
   */
  private readNumber(): void {
    const top = this.frames[this.depth - 1];
    const packable = top !== undefined && top.isArray && top.items === undefined;
    const start = this.pos;
    this.scanNumber(packable && this.float32Capture);
    if (packable && this.pack(top, EMPTY_SHAPE, 'number')) {
      if (top.elementShape.length === 0) this.numberRun(top);
      return;
    }
    this.complete(numberAt(this.bytes, start, this.pos));
  }

  /**
   * Checks the number literal at `pos` and moves past it; with `capture`, adds its float32 to the converted values.
   * The significant digits are accumulated as they are checked, so the conversion reads no byte again
   * (json-number.ts float32OfDecimal says why the result is exact).
   */
  private scanNumber(capture: boolean): void {
    const bytes = this.bytes;
    const end = this.range.end;
    const start = this.pos;
    let i = start;
    const negative = bytes[i] === 0x2d;
    if (negative) i++;
    let c = i < end ? (bytes[i] as number) : -1;
    if (c === 0x49 || (c === 0x4e && i === start)) {
      this.matchLiteral(c === 0x49 ? (i === start ? 'Infinity' : '-Infinity') : 'NaN');
      if (capture) this.capture(c === 0x4e ? NaN : negative ? -Infinity : Infinity);
      return;
    }
    let mantissa = 0;
    let digits = 0;
    let exponent = 0;
    if (c === 0x30) i++;
    else if (c >= 0x31 && c <= 0x39) {
      mantissa = c - 0x30;
      digits = 1;
      for (i++; i < end; i++) {
        c = bytes[i] as number;
        if (c < 0x30 || c > 0x39) break;
        mantissa = mantissa * 10 + (c - 0x30);
        digits++;
      }
    } else throw parseError('Invalid value.', start);
    const integerDigits = i - start;
    let hasExponent = false;
    if (i < end && bytes[i] === 0x2e) {
      i++;
      if (!(i < end && isDigit(bytes[i]))) throw parseError('Miss fraction part in number.', i);
      const fractionStart = i;
      for (; i < end; i++) {
        c = bytes[i] as number;
        if (c < 0x30 || c > 0x39) break;
        // Zeros before the first significant digit scale the value but are not digits of the mantissa.
        if (digits > 0 || c !== 0x30) {
          mantissa = mantissa * 10 + (c - 0x30);
          digits++;
        }
      }
      exponent = fractionStart - i;
    }
    if (i < end && (bytes[i] === 0x65 || bytes[i] === 0x45)) {
      hasExponent = true;
      i++;
      if (i < end && (bytes[i] === 0x2b || bytes[i] === 0x2d)) i++;
      if (!(i < end && isDigit(bytes[i]))) throw parseError('Miss exponent in number.', i);
      for (i++; i < end && isDigit(bytes[i]); i++);
    }
    if (i - start > MAX_NUMBER_LITERAL_BYTES) {
      throw parseError(`Number literal of ${i - start} bytes is longer than ${MAX_NUMBER_LITERAL_BYTES} bytes.`, start);
    }
    // Only an exponent or more than 308 integer digits can leave the double range.
    if ((hasExponent || integerDigits > 308) && !Number.isFinite(numberAt(bytes, start, i))) {
      throw parseError('Number too big to be stored in double.', start);
    }
    this.pos = i;
    if (capture) {
      this.capture(
        hasExponent
          ? Math.fround(numberAt(bytes, start, i))
          : float32OfDecimal(negative, mantissa, digits, exponent, bytes, start, i),
      );
    }
  }

  /**
   * The rest of a packed array of scalar numbers, read without the state machine: while a ',' is followed by a
   * number, checks and converts it. The common literal, digits with an optional fraction, is checked and converted
   * in this loop; any other (an exponent, a leading zero followed by a digit, NaN / Infinity, a long literal) goes
   * through scanNumber, which also reports errors. Anything after an element other than a ',' (white space, ']',
   * the end of the slice) is left to step().
   */
  private numberRun(top: Frame): void {
    const bytes = this.bytes;
    const end = this.range.end;
    const limit = this.limit;
    let i = this.pos;
    let count = top.count;
    let lastComma = top.lastComma;
    // The float32 store in locals while the loop runs (synced around the calls that use the fields).
    let capturing = this.float32Capture;
    let store = this.float32;
    let stored = this.float32Count;
    while (i < limit && bytes[i] === 0x2c) {
      let j = i + 1;
      let c = j < end ? (bytes[j] as number) : -1;
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = ++j < end ? (bytes[j] as number) : -1;
      if (!((c >= 0x30 && c <= 0x39) || c === 0x2d)) break;
      lastComma = i;
      count++;
      const start = j;
      const negative = c === 0x2d;
      if (negative) c = ++j < end ? (bytes[j] as number) : -1;
      let mantissa = 0;
      let digits = 0;
      let exponent = 0;
      let simple = c >= 0x30 && c <= 0x39;
      if (c === 0x30) {
        c = ++j < end ? (bytes[j] as number) : -1;
        simple = !(c >= 0x30 && c <= 0x39);
      } else if (simple) {
        const first = j;
        mantissa = c - 0x30;
        // `digit >>> 0 > 9`: one comparison for "not a digit" (bytes below '0' wrap to large unsigned values).
        for (j++; j < end; j++) {
          const digit = (bytes[j] as number) - 0x30;
          if (digit >>> 0 > 9) break;
          mantissa = mantissa * 10 + digit;
        }
        digits = j - first;
        c = j < end ? (bytes[j] as number) : -1;
      }
      if (simple && c === 0x2e) {
        const fractionStart = ++j;
        // Zeros before the first significant digit scale the value but are not digits of the mantissa.
        if (digits === 0) while (j < end && bytes[j] === 0x30) j++;
        const significant = j;
        // Two digits per step: half the steps, and half the chain of dependent multiply-adds (~20 % of the scan).
        for (; j + 1 < end; j += 2) {
          const high = (bytes[j] as number) - 0x30;
          const low = (bytes[j + 1] as number) - 0x30;
          if (high >>> 0 > 9 || low >>> 0 > 9) break;
          mantissa = mantissa * 100 + (high * 10 + low);
        }
        if (j < end) {
          const digit = (bytes[j] as number) - 0x30;
          if (digit >>> 0 <= 9) {
            mantissa = mantissa * 10 + digit;
            j++;
          }
        }
        digits += j - significant;
        c = j < end ? (bytes[j] as number) : -1;
        exponent = fractionStart - j;
        simple = exponent < 0;
      }
      if (!simple || c === 0x65 || c === 0x45 || j - start > FAST_LITERAL_BYTES) {
        this.float32Count = stored;
        this.pos = start;
        this.scanNumber(capturing);
        i = this.pos;
        capturing = this.float32Capture;
        store = this.float32;
        stored = this.float32Count;
        continue;
      }
      if (capturing) {
        const value = float32OfDecimal(negative, mantissa, digits, exponent, bytes, start, j);
        if (store !== undefined && stored < store.length) store[stored++] = value;
        else {
          this.float32Count = stored;
          this.capture(value);
          capturing = this.float32Capture;
          store = this.float32;
          stored = this.float32Count;
        }
      }
      i = j;
    }
    this.float32Count = stored;
    top.count = count;
    top.lastComma = lastComma;
    this.pos = i;
  }

  /**
   * Rule 8: adds one converted value. The first one borrows the shared store (or makes one when another reader holds
   * it); a full store grows (into a store of this reader's own) up to MAX_FLOAT32_VALUES; past that, conversion stops.
   */
  private capture(value: number): void {
    let store = this.float32;
    if (store === undefined) {
      if (sharedStoreLent) store = new Float32Array(FIRST_FLOAT32_VALUES);
      else {
        store = sharedStore ??= new Float32Array(FIRST_FLOAT32_VALUES);
        sharedStoreLent = true;
        this.borrowed = true;
      }
      this.float32 = store;
    } else if (this.float32Count === store.length) {
      if (this.float32Count >= MAX_FLOAT32_VALUES) {
        this.giveBackStore();
        this.float32Capture = false;
        return;
      }
      const grown = new Float32Array(store.length * 2);
      grown.set(store);
      this.giveBackStore();
      this.float32 = store = grown;
    }
    store[this.float32Count++] = value;
  }

  /** Stops using the store; the shared one becomes free for the next reader. */
  private giveBackStore(): void {
    this.float32 = undefined;
    if (this.borrowed) {
      this.borrowed = false;
      sharedStoreLent = false;
    }
  }

  private completeScalar(kind: PackedKind, value: boolean): void {
    const top = this.frames[this.depth - 1];
    if (top?.isArray && top.items === undefined && this.pack(top, EMPTY_SHAPE, kind)) return;
    this.complete(value);
  }

  private push(isArray: boolean): void {
    const depth = (this.range.depthBase ?? 0) + this.depth + 1;
    if (depth > this.maxDepth) {
      throw parseError(`Nesting depth ${depth} exceeds the maximum depth ${this.maxDepth}.`, this.pos);
    }
    let frame = this.frames[this.depth];
    if (!frame) {
      frame = new Frame();
      this.frames[this.depth] = frame;
    }
    frame.isArray = isArray;
    frame.start = this.pos++;
    frame.key = '';
    frame.count = 0;
    frame.elementShape = EMPTY_SHAPE;
    frame.elementKind = 'empty';
    frame.lastComma = frame.start;
    frame.float32Start = this.float32Count;
    if (isArray) {
      frame.object = undefined;
      frame.items = this.range.prefixOfArray && this.depth === 0 ? [] : undefined;
      if (frame.items) this.charge(ARRAY_COST);
    } else {
      // No prototype: a "__proto__" key is an ordinary member.
      frame.object = Object.create(null) as JsonObject;
      frame.items = undefined;
      this.charge(OBJECT_COST);
    }
    this.depth++;
  }

  private closeObject(): void {
    this.pos++;
    const frame = this.frames[--this.depth] as Frame;
    const object = frame.object as JsonObject;
    frame.object = undefined;
    this.complete(object);
  }

  private closeArray(): void {
    this.pos++;
    const frame = this.frames[--this.depth] as Frame;
    if (frame.items) {
      const items = frame.items;
      frame.items = undefined;
      this.complete(items);
      return;
    }
    const shape = frame.count === 0 ? [0] : [frame.count, ...frame.elementShape];
    const kind = frame.count === 0 ? 'empty' : frame.elementKind;
    const parent = this.frames[this.depth - 1];
    if (parent?.isArray && parent.items === undefined && this.pack(parent, shape, kind)) return;
    // Every number since the array opened is one of its elements, in order (a nested array that is not packed
    // would have made this one ordinary too). A copy: the store is reused.
    const float32 =
      kind === 'number' && this.float32Capture && this.float32
        ? this.float32.slice(frame.float32Start, this.float32Count)
        : undefined;
    this.complete(new PackedArray(this.bytes, frame.start, this.pos, shape, kind, float32));
  }

  /** Adds an element of `shape`/`kind` to a still-packed array; false when it does not fit (the array demotes). */
  private pack(frame: Frame, shape: readonly number[], kind: PackedKind): boolean {
    this.state = AFTER_VALUE;
    if (frame.count === 0) {
      frame.elementShape = shape;
      frame.elementKind = kind;
      frame.count = 1;
      return true;
    }
    if (!sameShape(frame.elementShape, shape) || !compatibleKinds(frame.elementKind, kind)) return false;
    if (frame.elementKind === 'empty') frame.elementKind = kind;
    frame.count++;
    return true;
  }

  /** A finished value: the root, an object member, or an array element. */
  private complete(value: JsonValue): void {
    this.state = AFTER_VALUE;
    if (this.depth === 0) {
      this.root = value;
      this.rootSet = true;
      this.state = DONE;
      return;
    }
    const top = this.frames[this.depth - 1] as Frame;
    if (!top.isArray) {
      const object = top.object as JsonObject;
      // rapidjson keeps every member and TF Serving's FindMember takes the first; so does this.
      if (!(top.key in object)) object[top.key] = value;
      this.countItem();
      this.charge(MEMBER_COST + (value instanceof PackedArray ? PACKED_COST : 0));
      return;
    }
    if (top.items === undefined) {
      if (value instanceof PackedArray && this.pack(top, value.shape, value.kind)) return;
      if (top.count > 0) {
        // The elements so far were only checked, not kept: re-read them before this one is added.
        this.demotion = { frame: top, value };
        this.interrupted = true;
        return;
      }
      top.items = [];
      this.charge(ARRAY_COST);
    }
    this.countItem();
    top.items.push(value);
    this.charge(ELEMENT_COST + (value instanceof PackedArray ? PACKED_COST : 0));
  }

  /** Re-reads the packed prefix [ '[' … last ',' ) of `frame` as ordinary items, then adds `value`. */
  private async demote(frame: Frame, value: JsonValue): Promise<void> {
    this.demotion = undefined;
    const prefix = new JsonReader(
      this.bytes,
      {
        start: frame.start,
        end: frame.lastComma,
        prefixOfArray: true,
        depthBase: (this.range.depthBase ?? 0) + this.depth - 1,
      },
      { maxDepth: this.maxDepth, sliceBytes: this.sliceBytes, longText: this.longText },
      this.budget,
    );
    const items = (await prefix.read()) as JsonValue[];
    frame.items = items;
    this.countItem();
    items.push(value);
    this.charge(ELEMENT_COST);
  }
}

/**
 * Reads a request body's JSON document: readJson with at most MAX_REQUEST_JSON_ITEMS ordinary items, the bound every
 * request the server reads gets (a reply a client reads has none).
 */
export function readRequestJson(bytes: Uint8Array, options: Omit<JsonReadOptions, 'maxItems'>): Promise<JsonValue> {
  return readJson(bytes, { ...options, maxItems: MAX_REQUEST_JSON_ITEMS });
}

/** Reads one JSON document from `bytes` (see the rules above), yielding to the event loop as it goes. */
export function readJson(bytes: Uint8Array, options: JsonReadOptions = {}): Promise<JsonValue> {
  const budget = { used: 0, max: options.maxValueBytes ?? Infinity, items: 0, maxItems: options.maxItems ?? Infinity };
  return new JsonReader(bytes, { start: 0, end: bytes.length }, options, budget).read();
}
