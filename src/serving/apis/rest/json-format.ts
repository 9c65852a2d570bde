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
import { utf8Text } from '../../../graph/utf8.js';

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

export function formatFloat(value: number, single: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  let text = formatG(value, 6);
  const back = Number(text);
  if ((single ? Math.fround(back) : back) !== value) text = formatG(value, single ? 9 : 17);
  return /^-?\d+$/.test(text) ? `${text}.0` : text;
}

function elementWriter(tensor: HostTensor, alias: string): (i: number) => string {
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
      if (alias.endsWith('_bytes')) return (i) => b64Json(strings[i] as Uint8Array);
      return (i) => {
        const bytes = strings[i] as Uint8Array;
        const text = utf8Text(bytes);
        return text === undefined ? b64Json(bytes) : JSON.stringify(text);
      };
    }
    default: {
      const ints = data as Int32Array | BigInt64Array;
      return (i) => String(ints[i]);
    }
  }
}

function b64Json(bytes: Uint8Array): string {
  return `{"b64": "${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`;
}

/** The tensor (or, with `index`, its slice `index` along dim 0) as nested JSON arrays. */
export function tensorJson(tensor: HostTensor, alias: string, index?: number): string {
  const write = elementWriter(tensor, alias);
  const shape = index === undefined ? tensor.shape : tensor.shape.slice(1);
  const inner = shape.reduce((n, d) => n * d, 1);
  const offset = index === undefined ? 0 : index * inner;
  const walk = (axis: number, start: number): string => {
    if (axis === shape.length) return write(start);
    const dim = shape[axis] as number;
    const stride = shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const parts: string[] = [];
    for (let i = 0; i < dim; i++) parts.push(walk(axis + 1, start + i * stride));
    return `[${parts.join(', ')}]`;
  };
  return walk(0, offset);
}
