/**
 * Writes output tensors as TF Serving's JSON (util/json_tensor.cc): floats in the shortest %g form that round-trips
 * (else %.9g for float, %.17g for double), ".0" on whole numbers, NaN/Infinity as bare tokens, int64 exact, strings
 * as JSON strings or {"b64": …} when the output alias ends in "_bytes".
 *
 * A string element that is not UTF-8 has no JSON string form: TF Serving writes its bytes into the JSON as they are
 * (invalid UTF-8 that parsers reject or replace). flowserve writes such an element as {"b64": …}, the form
 * requests use for bytes, so the reply stays valid JSON and the bytes survive (docs/string-tensors.md).
 */
import { float16Value, type StringData } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { isUtf8, utf8Text } from '../../../graph/utf8.js';

/** C's printf %.<precision>g. */
export function formatG(value: number, precision: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exponential = value.toExponential(precision - 1);
  const [mantissa = '', exponentText = '0'] = exponential.split('e');
  const exponent = Number(exponentText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exponent < -4 || exponent >= precision) {
    const sign = exponent < 0 ? '-' : '+';
    return `${strip(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return strip(value.toFixed(Math.max(0, precision - 1 - exponent)));
}

/** Trailing zeros of a fraction, and then its '.', removed (as %g does). */
function stripFraction(text: string): string {
  let end = text.length;
  while (text.charCodeAt(end - 1) === 0x30) end--;
  if (text.charCodeAt(end - 1) === 0x2e) end--;
  return end === text.length ? text : text.slice(0, end);
}

/**
 * %.<precision>g through one toPrecision call where the two agree: at 1e-4 ≤ |value| the rounded exponent is at
 * least -4, and toPrecision switches to exponential notation at the same exponent (≥ precision) as %g, whose form
 * formatG then writes. Both round the exact binary value correctly, so the digits are the same.
 */
function formatGFast(value: number, precision: number): string {
  if (!(Math.abs(value) >= 1e-4)) return formatG(value, precision);
  const text = value.toPrecision(precision);
  if (text.includes('e')) return formatG(value, precision);
  return text.includes('.') ? stripFraction(text) : text;
}

/** No '.', exponent or letter: a whole number, which TF Serving writes with ".0". */
function isWholeNumber(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) return false;
  }
  return true;
}

// 10^0 … 10^22 are exact doubles.
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Whether %.6g of `value` reads back as `value` (as a float32 when `single`), without printing it: undefined when
 * this cannot tell, and the caller prints and reads back. With 10^5 < value·10^k < 10^6 - 1 (k = 5 - its decimal
 * exponent, |k| ≤ 22), the 6 digits are n = round(value·10^k), and n / 10^k is one correctly rounded division of
 * exact doubles: what reading the printed text gives. value·10^k is itself rounded, so n may be off by one when the
 * exact product lies within an ulp of a half; then value lies half a unit of the 6th digit (≥ 5·10^-7 relative) from
 * both candidates, far more than the ½ float32 ulp (≤ 6·10^-8 relative) within which a text reads back as `value`:
 * neither reads back, and the answer is the same.
 */
function sixDigitsRoundTrip(value: number, single: boolean): boolean | undefined {
  const magnitude = Math.abs(value);
  const k = 5 - Math.floor(Math.log10(magnitude));
  if (!(k >= -22 && k <= 22)) return undefined;
  const power = POWERS_OF_TEN[Math.abs(k)] as number;
  const scaled = k >= 0 ? magnitude * power : magnitude / power;
  if (!(scaled > 100_000.5 && scaled < 999_998.5)) return undefined;
  const digits = Math.round(scaled);
  const back = k >= 0 ? digits / power : digits * power;
  return (single ? Math.fround(back) : back) === magnitude;
}

export function formatFloat(value: number, single: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  const six = sixDigitsRoundTrip(value, single);
  let text: string;
  if (six !== undefined) text = formatGFast(value, six ? 6 : single ? 9 : 17);
  else {
    text = formatGFast(value, 6);
    const back = Number(text);
    if ((single ? Math.fround(back) : back) !== value) text = formatGFast(value, single ? 9 : 17);
  }
  return isWholeNumber(text) ? `${text}.0` : text;
}

/** A string element of at least this many bytes is a piece of its own (JsonPiece), escaped a slice at a time. */
export const LONG_ELEMENT_BYTES = 64 * 1024;
/** Text gathered by tensorPieces before it is handed on. */
const PIECE_CHARS = 64 * 1024;

/** A long string element, to be written as a JSON string (UTF-8 `bytes`) or as {"b64": …}. */
export interface LongStringElement {
  bytes: Uint8Array;
  asBase64: boolean;
}

/** A piece of a JSON reply: text, or a long string element that ./reply-assembler.ts escapes in slices. */
export type JsonPiece = string | LongStringElement;

/** Each element's JSON text, or undefined for a long string element (longElement gives it). */
function elementWriter(tensor: HostTensor, alias: string): (i: number) => string | undefined {
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'float32':
    case 'float64': {
      const single = tensor.dtype === 'float32';
      const floats = data as Float32Array;
      return (i) => formatFloat(floats[i] as number, single);
    }
    case 'float16': {
      const bits = data as Uint16Array;
      return (i) => formatFloat(float16Value(bits[i] as number), true);
    }
    case 'bool':
      return (i) => ((data as Uint8Array)[i] ? 'true' : 'false');
    case 'string': {
      const strings = data as StringData;
      const asBase64 = alias.endsWith('_bytes');
      return (i) => {
        const bytes = strings[i] as Uint8Array;
        return bytes.byteLength >= LONG_ELEMENT_BYTES ? undefined : stringElementJson(bytes, asBase64);
      };
    }
    default: {
      const ints = data as Int32Array | BigInt64Array;
      return (i) => String(ints[i]);
    }
  }
}

function longElement(tensor: HostTensor, alias: string, i: number): LongStringElement {
  const bytes = (tensor.data as StringData)[i] as Uint8Array;
  return { bytes, asBase64: alias.endsWith('_bytes') || !isUtf8(bytes) };
}

/** A string element's JSON in one piece of text (what ./reply-assembler.ts writes in slices for a long one). */
function stringElementJson(bytes: Uint8Array, asBase64: boolean): string {
  const text = asBase64 ? undefined : utf8Text(bytes);
  return text === undefined ? b64Json(bytes) : JSON.stringify(text);
}

function b64Json(bytes: Uint8Array): string {
  return `{"b64": "${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`;
}

/** Pieces as one text. */
export function joinPieces(pieces: Iterable<JsonPiece>): string {
  let out = '';
  for (const piece of pieces) out += typeof piece === 'string' ? piece : stringElementJson(piece.bytes, piece.asBase64);
  return out;
}

/** The tensor (or, with `index`, its slice `index` along dim 0) as nested JSON arrays. */
export function tensorJson(tensor: HostTensor, alias: string, index?: number): string {
  return joinPieces(tensorPieces(tensor, alias, index));
}

/**
 * tensorJson's text in pieces of about PIECE_CHARS, with each long string element a piece of its own, for a reply
 * written a slice at a time.
 */
export function* tensorPieces(tensor: HostTensor, alias: string, index?: number): Generator<JsonPiece, void, void> {
  const write = elementWriter(tensor, alias);
  const shape = index === undefined ? tensor.shape : tensor.shape.slice(1);
  const rank = shape.length;
  const inner = shape.reduce((n, d) => n * d, 1);
  let at = index === undefined ? 0 : index * inner;
  if (inner === 0) {
    yield emptyJson(shape);
    return;
  }
  // Row-major order: each element is written after the brackets and separators its position in `shape` calls for.
  const position = new Array<number>(rank).fill(0);
  const last = rank === 0 ? 1 : (shape[rank - 1] as number);
  let out = '['.repeat(rank);
  for (;;) {
    for (let k = 0; k < last; k++, at++) {
      if (k > 0) out += ', ';
      const text = write(at);
      if (text !== undefined) out += text;
      else {
        if (out !== '') yield out;
        out = '';
        yield longElement(tensor, alias, at);
      }
      if (out.length >= PIECE_CHARS) {
        yield out;
        out = '';
      }
    }
    // Carry into the outer axes: close the rows that ended, open the next ones.
    let axis = rank - 2;
    while (axis >= 0 && (position[axis] as number) + 1 === shape[axis]) axis--;
    if (axis < 0) {
      yield `${out}${']'.repeat(rank)}`;
      return;
    }
    position[axis] = (position[axis] as number) + 1;
    for (let k = axis + 1; k < rank - 1; k++) position[k] = 0;
    const depth = rank - 1 - axis;
    out += `${']'.repeat(depth)}, ${'['.repeat(depth)}`;
  }
}

/** A tensor with no elements: its nested lists down to the first 0 in the shape, e.g. [[], []] for [2, 0]. */
function emptyJson(shape: readonly number[]): string {
  const zeroAt = shape.indexOf(0);
  let out = '[]';
  for (let axis = zeroAt - 1; axis >= 0; axis--)
    out = `[${new Array<string>(shape[axis] as number).fill(out).join(', ')}]`;
  return out;
}
