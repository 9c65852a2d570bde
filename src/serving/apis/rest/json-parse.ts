/**
 * Request body → JSON value. TF Serving's parser (rapidjson) accepts the bare tokens NaN, Infinity and -Infinity;
 * JSON.parse does not, so outside strings they are rewritten to marker strings that the converters read as numbers.
 */
import { InvalidArgument } from '../../../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

const MARKER = '\u0000flowserve:';
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** The number a NaN/Infinity marker stands for, or undefined for any other value. */
export function nonFiniteMarker(value: JsonValue): number | undefined {
  if (typeof value !== 'string' || !value.startsWith(MARKER)) return undefined;
  return NON_FINITE[value.slice(MARKER.length)];
}

function rewriteNonFinite(text: string): string {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(token, i)) {
        out += text.slice(last, i) + JSON.stringify(MARKER + token);
        i += token.length - 1;
        last = i + 1;
        break;
      }
    }
  }
  return out + text.slice(last);
}

/** Parses a request body with TF Serving's error messages; the top level must be an object. */
export function parseJsonBody(text: string): JsonObject {
  if (text.trim() === '') throw new InvalidArgument('JSON Parse error: The document is empty');
  let value: JsonValue;
  try {
    value = JSON.parse(/NaN|Infinity/.test(text) ? rewriteNonFinite(text) : text) as JsonValue;
  } catch (err) {
    throw new InvalidArgument(`JSON Parse error: ${(err as Error).message}`);
  }
  if (!isJsonObject(value)) throw new InvalidArgument(`JSON Value: ${text.slice(0, 200)} Is not object`);
  return value;
}

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{"b64": "..."}` — an object with exactly that one string key. */
export function b64Value(value: JsonValue): Buffer | undefined {
  if (!isJsonObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'b64' || typeof value.b64 !== 'string') return undefined;
  return Buffer.from(value.b64, 'base64');
}

export function jsonTypeName(value: JsonValue): string {
  if (value === null) return 'Null';
  if (Array.isArray(value)) return 'Array';
  if (typeof value === 'object') return 'Object';
  if (typeof value === 'string') return nonFiniteMarker(value) === undefined ? 'String' : 'Number';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return 'Number';
}
