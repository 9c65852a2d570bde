/** Questions asked of read JSON values, and their bounded previews for error messages. */
import { PackedArray } from './json-packed.js';
import { LongText } from './long-text.js';
import { takenInSlices } from '../../request-buffers.js';
import { LONG_STRING_BYTES, yieldToEventLoop, type JsonObject, type JsonValue } from './json-reader.js';

/** Error messages quote at most this many characters of any value or name from a request. */
export const PREVIEW_CHARS = 64;

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof PackedArray) &&
    !(value instanceof LongText)
  );
}

/** Whether `value` is a string: a JavaScript one or a request's long one left in its body (long-text.ts). */
export function isJsonString(value: JsonValue | undefined): value is string | LongText {
  return typeof value === 'string' || value instanceof LongText;
}

export function isJsonArray(value: JsonValue | undefined): value is JsonValue[] | PackedArray {
  return Array.isArray(value) || value instanceof PackedArray;
}

/** Whether `value` is `{"b64": "..."}`: an object with exactly that one string key. */
export function isB64Object(value: JsonValue): value is { b64: string | LongText } {
  if (!isJsonObject(value) || !isJsonString(value.b64)) return false;
  for (const key in value) if (key !== 'b64') return false;
  return true;
}

/** The bytes of `{"b64": "..."}` (isB64Object) of a short string, decoded; undefined for any other value. */
export function b64Value(value: JsonValue): Buffer | undefined {
  return isB64Object(value) && typeof value.b64 === 'string' ? Buffer.from(value.b64, 'base64') : undefined;
}

/**
 * Room for a long text (the reader's LONG_STRING_BYTES) once encoded as `encoding`, in turns of the event loop of
 * their own: the text, made of the reader's pieces, is joined first (reading a character of it does that), then the
 * room's fresh pages are taken a slice a turn. Encoding or decoding a 30 MiB string in one call, joining and fresh
 * pages included, took 40–60 ms of one turn on this project's machine.
 */
async function roomFor(text: string, encoding: 'utf8' | 'base64'): Promise<Buffer> {
  text.charCodeAt(text.length - 1);
  await yieldToEventLoop();
  const room = Buffer.from(await takenInSlices(Buffer.byteLength(text, encoding)));
  await yieldToEventLoop();
  return room;
}

/** The UTF-8 bytes of a long text, as Buffer.from(text, 'utf8') gives them (LongText.utf8, or roomFor). */
export async function longUtf8Value(text: string | LongText): Promise<Uint8Array> {
  if (text instanceof LongText) return text.utf8();
  const out = await roomFor(text, 'utf8');
  out.write(text, 'utf8');
  return out;
}

/** Buffer.from(text, 'base64') of a long text (LongText.base64, or roomFor). */
export async function longBase64Value(text: string | LongText): Promise<Buffer> {
  if (text instanceof LongText) return text.base64();
  const out = await roomFor(text, 'base64');
  const written = out.write(text, 'base64');
  return written === out.byteLength ? out : out.subarray(0, written);
}

/** rapidjson's type names, as TF Serving's messages print them. */
export function jsonTypeName(value: JsonValue): string {
  if (value === null) return 'Null';
  if (isJsonArray(value)) return 'Array';
  if (typeof value === 'object') return 'Object';
  if (isJsonString(value)) return 'String';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return 'Number';
}

/** `text`, cut to PREVIEW_CHARS with '…' when longer: for names and strings a client sent. */
export function previewText(text: string, maxChars = PREVIEW_CHARS): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

/**
 * A string's opening characters, quoted. A long one (json-reader.ts, LONG_STRING_BYTES) is made of pieces, and
 * taking any part of it first copies the whole into one (30 MB: about 100 ms on a machine where fresh memory is dear):
 * its preview gives its length instead.
 */
function previewString(v: string, maxChars: number): string {
  if (v.length > LONG_STRING_BYTES) return `<a string of ${v.length} characters>`;
  return JSON.stringify(v.slice(0, maxChars + 1));
}

/**
 * The value as compact JSON, cut to PREVIEW_CHARS with '…'. Builds no more than that much text, however large
 * the value (a request's 2 MB string or million-element array costs the same as a short one).
 */
export function previewJson(value: JsonValue, maxChars = PREVIEW_CHARS): string {
  let out = '';
  const full = () => out.length > maxChars;
  const visit = (v: JsonValue): void => {
    if (full()) return;
    if (v instanceof PackedArray) out += v.preview(maxChars + 1);
    else if (v instanceof LongText) out += JSON.stringify(v.opening(maxChars + 1));
    else if (typeof v === 'string') out += previewString(v, maxChars);
    else if (typeof v === 'number') out += Number.isFinite(v) ? JSON.stringify(v) : String(v);
    else if (v === null || typeof v === 'boolean') out += String(v);
    else if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length && !full(); i++) {
        if (i > 0) out += ',';
        visit(v[i] as JsonValue);
      }
      out += ']';
    } else {
      out += '{';
      let first = true;
      for (const key in v) {
        if (full()) break;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(key.slice(0, maxChars + 1))}:`;
        visit(v[key] as JsonValue);
      }
      out += '}';
    }
  };
  visit(value);
  return previewText(out, maxChars);
}
