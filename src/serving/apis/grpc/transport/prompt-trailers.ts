/**
 * A unary reply's OK trailers, sent in the same turn of the event loop as its headers and message.
 *
 * node:http2 emits 'wantTrailers' from inside nghttp2's data callback, once the stream's last DATA frame is being
 * sent. Its public `sendTrailers` then defers the trailers with setImmediate, so that they are not submitted "on
 * nghttp2's stack". The trailers wait for the next turn of the event loop: one more pass of the loop (an
 * epoll_pwait and the timers) for every call, and the client waits for them. nghttp2 itself documents
 * `nghttp2_submit_trailer` as callable from that data callback. So this submits them there, through the stream's
 * native handle (its `trailers` method, which the public call reaches a turn later with the same list).
 *
 * That handle is node:http2's internal, not its API. Anything unexpected (no handle, no `trailers`, a non-zero
 * return, a throw) answers false, and the caller sends the trailers the public way. The list's format (each header
 * as name, value and flags, NUL-separated, then the count) is the one node:http2's own header mapping builds in the
 * Node.js that CI runs (20); test/serving/apis/grpc/prompt-trailers.test.ts checks on the running Node.js
 * that the client receives exactly these trailers, in the reply's turn. Measured: docs/performance.md, "Round 19".
 */
import type { ServerHttp2Stream } from 'node:http2';

/** `grpc-status: 0` in node:http2's native header-list format. */
const OK_TRAILER_LIST: readonly [string, number] = Object.freeze(['grpc-status\0' + '0\0' + '\0', 1]);

type NativeStreamHandle = { trailers?: (list: readonly [string, number]) => unknown };

/** node:http2's symbol for a stream's native handle: undefined until looked up, null when this Node.js has none. */
let handleKey: symbol | null | undefined;

function nativeHandle(stream: ServerHttp2Stream): NativeStreamHandle | undefined {
  if (handleKey === undefined)
    handleKey = Object.getOwnPropertySymbols(stream).find((key) => key.description === 'kHandle') ?? null;
  if (handleKey === null) return undefined;
  const handle = (stream as unknown as Record<symbol, unknown>)[handleKey];
  return typeof handle === 'object' && handle !== null ? (handle as NativeStreamHandle) : undefined;
}

/**
 * Submits `grpc-status: 0` trailers on `stream` now. Call it only from the stream's 'wantTrailers' listener.
 * Returns false when it could not, and then has sent nothing.
 */
export function submitOkTrailersNow(stream: ServerHttp2Stream): boolean {
  const handle = nativeHandle(stream);
  if (typeof handle?.trailers !== 'function') return false;
  try {
    return handle.trailers(OK_TRAILER_LIST) === 0;
  } catch {
    return false;
  }
}
