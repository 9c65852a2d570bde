/**
 * Response headers and trailers, prepared once where they do not vary. `grpc-message` is percent-encoded as
 * PROTOCOL-HTTP2.md says (UTF-8, every byte outside printable ASCII and '%' itself), which any client's decoder reads
 * and which, unlike encodeURI, cannot throw on a lone surrogate.
 */
import { constants, type OutgoingHttpHeaders } from 'node:http2';
import type { Metadata } from '@grpc/grpc-js';
import { wellFormed } from '../../../../errors.js';

const { HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE } = constants;

export const CONTENT_TYPE = 'application/grpc+proto';

/**
 * The headers of every response that carries messages: only what the spec requires (node:http2 copies, validates and
 * encodes each header on every respond()). grpc-accept-encoding goes only with the refusal of an unknown encoding.
 */
export const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  [HTTP2_HEADER_CONTENT_TYPE]: CONTENT_TYPE,
});

/** The trailers of a call that ended OK with no trailing metadata. */
export const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });

/** A status as a handler gives it (grpc-js's ServerErrorResponse / StatusObject shape). */
export interface CallStatus {
  code: number;
  details: string;
  metadata?: Metadata | null;
}

export function percentEncodeMessage(message: string): string {
  // Fast path: most messages need no escaping.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(wellFormed(message), 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Trailers of a status, after messages were sent. */
export function statusTrailers(status: CallStatus): OutgoingHttpHeaders {
  if (status.code === 0 && !status.details && !status.metadata) return OK_TRAILERS;
  return {
    ...status.metadata?.toHttp2Headers(),
    'grpc-status': String(status.code),
    'grpc-message': percentEncodeMessage(status.details ?? ''),
  };
}

/** A Trailers-Only response: the status in the one HEADERS frame that ends the stream. */
export function trailersOnly(status: CallStatus, extra?: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return {
    ...status.metadata?.toHttp2Headers(),
    ...extra,
    [HTTP2_HEADER_STATUS]: 200,
    [HTTP2_HEADER_CONTENT_TYPE]: CONTENT_TYPE,
    'grpc-status': String(status.code),
    'grpc-message': percentEncodeMessage(status.details ?? ''),
  };
}
