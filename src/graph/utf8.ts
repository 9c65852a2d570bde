/**
 * UTF-8 between JavaScript text and the bytes of string elements. String elements are bytes (dtype.ts); these are
 * the only conversions, used where a protocol or a library speaks text: JSON, ONNX Runtime's JavaScript API,
 * messages.
 */
import { isUtf8 as nodeIsUtf8 } from 'node:buffer';

const encoder = new TextEncoder();
const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The UTF-8 bytes of a JavaScript string (a lone surrogate becomes U+FFFD, as every UTF-8 encoder writes it). */
export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Whether `bytes` are well-formed UTF-8 (no overlong forms, no surrogates). */
export function isUtf8(bytes: Uint8Array): boolean {
  return bytes.byteLength === 0 || nodeIsUtf8(bytes);
}

/** The text of well-formed UTF-8 bytes, or undefined: never a lossy U+FFFD reading. A leading BOM is kept. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0) return '';
  if (!nodeIsUtf8(bytes)) return undefined;
  return fatalDecoder.decode(bytes);
}

/** `bytes` as text for a message: the text when it is UTF-8, else Python's b'…' form with \xNN escapes. */
export function bytesForMessage(bytes: Uint8Array): string {
  const text = utf8Text(bytes);
  if (text !== undefined) return text;
  let out = "b'";
  for (const b of bytes) {
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x27) out += "\\'";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}
