/**
 * Bounds a Predict reply's size from its output tensors before it is encoded (--max_response_bytes). A reply can
 * be far larger than its request: a TensorProto's last value repeats to fill the shape, and JSON writes a control
 * byte as six characters. The bounds are exact for strings and generous for numbers, so a refused reply was truly
 * larger than the limit, or close to it. (A long JSON string element counts its bytes here; the REST reply that holds
 * one is assembled by ../rest/reply-assembler.ts, which refuses it as exactly once its escapes are written.)
 */
import { ResourceExhausted } from '../../../errors.js';
import { dtypeInfo, type DType, type StringData } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { isUtf8 } from '../../../graph/utf8.js';
import { formatBytes } from '../../core/request-limits.js';
import { LONG_ELEMENT_BYTES } from '../rest/json-format.js';
import { escapedBytes } from '../rest/reply-assembler.js';

/** Protobuf overhead of a tensor beyond its values: dtype, shape, field tags. */
const TENSOR_OVERHEAD = 64 + 11 * 255;

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Most bytes one numeric element takes in a TensorProto's typed field (varints up to 10). */
function protoElementBytes(dtype: DType): number {
  if (dtype === 'float32' || dtype === 'float64') return dtypeInfo(dtype).bytesPerElement;
  return dtype === 'bool' ? 1 : 10;
}

/** The largest a TensorProto of `tensor` can be on the gRPC wire. */
export function protoTensorBytes(tensor: HostTensor): number {
  let bytes = TENSOR_OVERHEAD;
  if (tensor.dtype === 'string') {
    for (const s of tensor.data as StringData) bytes += 1 + varintBytes(s.byteLength) + s.byteLength;
    return bytes;
  }
  return bytes + tensor.size * protoElementBytes(tensor.dtype);
}

/** Most characters of a JSON number of `dtype` (`-1.17549435e-38`, `-9223372036854775808`, …). */
function jsonNumberChars(dtype: DType): number {
  if (dtype === 'float32' || dtype === 'float16') return 16;
  if (dtype === 'float64') return 24;
  if (dtype === 'bool') return 5;
  return dtypeInfo(dtype).bytesPerElement === 8 ? 20 : 11;
}

/**
 * Characters of `bytes` as a JSON string (quotes included), as JSON.stringify escapes UTF-8 text. A long element
 * counts only its bytes: counting its escapes would take a turn of the event loop of its own (35 ms for 20 MiB),
 * and ../rest/reply-assembler.ts, which writes every reply holding one, counts them exactly as it escapes them.
 */
function jsonStringChars(bytes: Uint8Array): number {
  if (bytes.byteLength >= LONG_ELEMENT_BYTES) return bytes.byteLength + 2;
  return escapedBytes(bytes, 0, bytes.byteLength) + 2;
}

/** `{"b64": "…"}` of `bytes`. */
function b64JsonChars(bytes: Uint8Array): number {
  return 12 + Math.ceil(bytes.byteLength / 3) * 4;
}

/**
 * The largest `tensor` can be in TF Serving's JSON under output alias `alias` (json-format.ts): each element plus
 * a separator and its share of brackets.
 */
export function jsonTensorBytes(tensor: HostTensor, alias: string): number {
  const perElement = 4;
  let bytes = 64 + alias.length * 2;
  if (tensor.dtype !== 'string') return bytes + tensor.size * (jsonNumberChars(tensor.dtype) + perElement);
  const asB64 = alias.endsWith('_bytes');
  for (const s of tensor.data as StringData) {
    bytes += perElement + (asB64 || !isUtf8(s) ? b64JsonChars(s) : jsonStringChars(s));
  }
  return bytes;
}

/**
 * RESOURCE_EXHAUSTED when the reply of `outputs` would be larger than `maxResponseBytes`; otherwise the most it can
 * take.
 */
export function checkReplyBytes(
  outputs: Record<string, HostTensor>,
  maxResponseBytes: number,
  bytesOf: (tensor: HostTensor, alias: string) => number,
): number {
  let total = 0;
  for (const [alias, tensor] of Object.entries(outputs)) {
    total += bytesOf(tensor, alias);
    if (total > maxResponseBytes) {
      throw new ResourceExhausted(
        `the reply would take ${formatBytes(total)} or more (output '${alias}' and before), more than ` +
          `--max_response_bytes=${maxResponseBytes}`,
      );
    }
  }
  return total;
}
