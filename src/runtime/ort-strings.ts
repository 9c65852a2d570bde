/**
 * String elements across ONNX Runtime's JavaScript API, which takes and returns string tensors as JavaScript
 * strings (UTF-8 inside ONNX Runtime). flowserve's string elements are bytes, so each is written as a JavaScript
 * string that ONNX Runtime's UTF-8 round-trip keeps exactly, and read back to the same bytes:
 * - bytes that are UTF-8 text without NUL go as that text, so string ops (StringNormalizer, RegexFullMatch, …)
 *   see the text;
 * - any other bytes (a serialized proto, an image, invalid UTF-8, text with NUL, which ONNX Runtime's Node binding
 *   cuts at as a C string) go as ESCAPE followed by one character per byte, U+0100 + the byte (never NUL). ONNX
 *   Runtime moves such an element through Identity, Reshape, Gather, Concat, Where, … and it comes back byte for
 *   byte; an op that reads string contents sees the escaped form (docs/string-tensors.md).
 * ESCAPE is a Unicode noncharacter that text does not carry; text that starts with it is escaped too, so the
 * mapping is one-to-one.
 */
import { utf8Bytes, utf8Text } from '../graph/utf8.js';

/** U+FDD0, a noncharacter: valid UTF-8, never assigned, not expected at the start of real text. */
export const ORT_BYTES_ESCAPE = '\uFDD0';

/** The JavaScript strings that ONNX Runtime gets for `elements`. */
export function ortStringsOf(elements: readonly Uint8Array[]): string[] {
  const out = new Array<string>(elements.length);
  for (let i = 0; i < elements.length; i++) {
    // A TensorProto's repeated last value fills the shape with one array: convert it once.
    const e = elements[i] as Uint8Array;
    out[i] = i > 0 && e === elements[i - 1] ? (out[i - 1] as string) : ortStringOf(e);
  }
  return out;
}

/** First character of an escaped byte: byte b is U+0100 + b (two UTF-8 bytes, never NUL). */
const ESCAPED_BYTE_BASE = 0x100;

function ortStringOf(bytes: Uint8Array): string {
  const text = bytes.includes(0) ? undefined : utf8Text(bytes);
  if (text !== undefined && !text.startsWith(ORT_BYTES_ESCAPE)) return text;
  // UTF-16LE code units (b, 0x01) are U+0100 + b.
  const units = Buffer.allocUnsafe(bytes.byteLength * 2);
  for (let i = 0; i < bytes.byteLength; i++) {
    units[2 * i] = bytes[i] as number;
    units[2 * i + 1] = ESCAPED_BYTE_BASE >> 8;
  }
  return ORT_BYTES_ESCAPE + units.toString('utf16le');
}

/** The bytes of the strings ONNX Runtime returned (escaped elements back to their bytes, text as UTF-8). */
export function bytesOfOrtStrings(strings: readonly string[]): Uint8Array[] {
  const out = new Array<Uint8Array>(strings.length);
  for (let i = 0; i < strings.length; i++) out[i] = bytesOfOrtString(strings[i] as string);
  return out;
}

function bytesOfOrtString(s: string): Uint8Array {
  if (s.startsWith(ORT_BYTES_ESCAPE) && /^[\u0100-\u01ff]*$/.test(s.slice(1))) {
    const out = new Uint8Array(s.length - 1);
    for (let i = 1; i < s.length; i++) out[i - 1] = s.charCodeAt(i) - ESCAPED_BYTE_BASE;
    return out;
  }
  return utf8Bytes(s);
}
