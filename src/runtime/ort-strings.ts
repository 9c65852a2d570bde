/**
 * String elements across ONNX Runtime's JavaScript API, which takes and returns string tensors as JavaScript
 * strings (UTF-8 inside ONNX Runtime). flowserve's string elements are bytes, so each is written as a JavaScript
 * string that ONNX Runtime's UTF-8 round-trip keeps exactly, and read back to the same bytes:
 * - bytes that are UTF-8 text go as that text, so string ops (StringNormalizer, RegexFullMatch, …) see the text;
 * - any other bytes (a serialized proto, an image, invalid UTF-8) go as ESCAPE followed by one character per byte
 *   (U+0000–U+00FF). ONNX Runtime moves such an element through Identity, Reshape, Gather, Concat, Where, … and it
 *   comes back byte for byte; an op that reads string contents sees the escaped form (docs/string-tensors.md).
 * ESCAPE is a Unicode noncharacter that text does not carry; text that starts with it is escaped too, so the
 * mapping is one-to-one.
 */
import { utf8Bytes, utf8Text } from '../graph/utf8.js';

/** U+FDD0, a noncharacter: valid UTF-8, never assigned, not expected at the start of real text. */
export const ORT_BYTES_ESCAPE = '\uFDD0';

/** The JavaScript strings that ONNX Runtime gets for `elements`. */
export function ortStringsOf(elements: readonly Uint8Array[]): string[] {
  const out = new Array<string>(elements.length);
  for (let i = 0; i < elements.length; i++) out[i] = ortStringOf(elements[i] as Uint8Array);
  return out;
}

function ortStringOf(bytes: Uint8Array): string {
  const text = utf8Text(bytes);
  if (text !== undefined && !text.startsWith(ORT_BYTES_ESCAPE)) return text;
  return ORT_BYTES_ESCAPE + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The bytes of the strings ONNX Runtime returned (escaped elements back to their bytes, text as UTF-8). */
export function bytesOfOrtStrings(strings: readonly string[]): Uint8Array[] {
  const out = new Array<Uint8Array>(strings.length);
  for (let i = 0; i < strings.length; i++) out[i] = bytesOfOrtString(strings[i] as string);
  return out;
}

function bytesOfOrtString(s: string): Uint8Array {
  // eslint-disable-next-line no-control-regex
  if (s.startsWith(ORT_BYTES_ESCAPE) && /^[\u0000-\u00ff]*$/.test(s.slice(1))) {
    return new Uint8Array(Buffer.from(s.slice(1), 'latin1'));
  }
  return utf8Bytes(s);
}
