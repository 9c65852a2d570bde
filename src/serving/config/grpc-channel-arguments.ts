/**
 * --grpc_channel_arguments: TF Serving's `k=v,k=v` list of gRPC channel arguments, a value an integer where it parses
 * as one and a string otherwise (model_servers/server.cc). With --grpc_transport=grpc-js they go to the grpc-js
 * Server, which reads only keys in the `grpc.` and `grpc-node.` namespaces: any other key is refused, so a typo cannot
 * pass silently. flowserve's own transport (the default) maps the arguments that mean something to a gRPC server to
 * node:http2 settings and its own limits and timers (transportSettings), and refuses every other key by name.
 */
import type { Settings } from 'node:http2';
import { InvalidArgument } from '../../errors.js';

const KNOWN_NAMESPACES = /^grpc(-node)?\./;

export function parseGrpcChannelArguments(text: string): Record<string, string | number> {
  const options: Record<string, string | number> = {};
  if (text.trim() === '') return options;
  for (const entry of text.split(',')) {
    const equals = entry.indexOf('=');
    const key = equals < 0 ? '' : entry.slice(0, equals).trim();
    const value = equals < 0 ? '' : entry.slice(equals + 1).trim();
    if (key === '') {
      throw new InvalidArgument(`invalid entry in --grpc_channel_arguments: '${entry}' (expected key=value)`);
    }
    if (!KNOWN_NAMESPACES.test(key)) {
      throw new InvalidArgument(
        `invalid key in --grpc_channel_arguments: '${key}' (expected a grpc.* or grpc-node.* channel argument)`,
      );
    }
    options[key] = /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }
  return options;
}

/**
 * The receive windows flowserve's transport opens by default, for each stream (SETTINGS_INITIAL_WINDOW_SIZE) and for
 * each connection (a WINDOW_UPDATE on stream 0 when the session starts): 1 MiB, where HTTP/2's default is 64 KiB.
 * With 64 KiB a client's request bodies stall behind the connection's window: at 64 calls in flight on one
 * connection, each with a 3 KB MNIST image, about 20 bodies fit and the rest wait for WINDOW_UPDATEs: h2load's p99
 * was 38 ms, against 8 ms with 1 MiB (docs/performance.md, "Round 23"). gRPC's C++ core, which TF Serving runs,
 * grows its windows from the connection's bandwidth-delay product for the same reason. Unary calls read their data as
 * it arrives, and the message limits bound what they keep; a paused stream (ModelStreamInfer's back-pressure) lets
 * node:http2 hold up to 1 MiB of it instead of 64 KiB.
 */
export const DEFAULT_FLOW_CONTROL_WINDOW = 1 << 20;
/** HTTP/2's smallest initial connection window and its largest window (RFC 9113, 6.9.1 and 6.9.2). */
const HTTP2_DEFAULT_WINDOW = 65_535;
const HTTP2_MAX_WINDOW = 2 ** 31 - 1;

export interface TransportSettings {
  /** HTTP/2 SETTINGS sent to clients (max_concurrent_streams, frame size, window, header list size). */
  settings: Settings;
  /** The connection's receive window, opened by a WINDOW_UPDATE when a session starts. */
  connectionWindowBytes: number;
  /** node:http2's per-session buffer limit; unlimited by default as in grpc-js (Node degrades badly at the limit). */
  maxSessionMemory: number;
  maxReceiveBytes?: number;
  maxSendBytes?: number;
  /** Server-initiated PING every keepaliveTimeMs; the connection is dropped if one goes unanswered this long. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs: number;
  /** Whether keepalive pings are sent while the connection has no call in flight (gRPC's default: no). */
  keepalivePermitWithoutCalls: boolean;
  /** GOAWAY to a connection without calls for this long. */
  maxConnectionIdleMs?: number;
  /** GOAWAY to a connection this old; its calls get maxConnectionAgeGraceMs more before it is cut. */
  maxConnectionAgeMs?: number;
  maxConnectionAgeGraceMs?: number;
}

type Apply = (target: TransportSettings, value: number) => void;

/** A message length of -1 means "no limit" in gRPC. */
const length = (value: number) => (value < 0 ? Number.MAX_SAFE_INTEGER : value);

const SUPPORTED: Record<string, Apply> = {
  'grpc.max_concurrent_streams': (t, v) => (t.settings.maxConcurrentStreams = v),
  'grpc.max_receive_message_length': (t, v) => (t.maxReceiveBytes = length(v)),
  'grpc.max_send_message_length': (t, v) => (t.maxSendBytes = length(v)),
  'grpc.keepalive_time_ms': (t, v) => (t.keepaliveTimeMs = v),
  'grpc.keepalive_timeout_ms': (t, v) => (t.keepaliveTimeoutMs = v),
  'grpc.keepalive_permit_without_calls': (t, v) => (t.keepalivePermitWithoutCalls = v !== 0),
  'grpc.max_connection_idle_ms': (t, v) => (t.maxConnectionIdleMs = v),
  'grpc.max_connection_age_ms': (t, v) => (t.maxConnectionAgeMs = v),
  'grpc.max_connection_age_grace_ms': (t, v) => (t.maxConnectionAgeGraceMs = v),
  'grpc.max_metadata_size': (t, v) => (t.settings.maxHeaderListSize = v),
  'grpc.http2.max_frame_size': (t, v) => (t.settings.maxFrameSize = v),
  'grpc.http2.lookahead_bytes': (t, v) =>
    (t.settings.initialWindowSize = windowSize('grpc.http2.lookahead_bytes', v, 0)),
  'grpc.http2.hpack_table_size.decoder': (t, v) => (t.settings.headerTableSize = v),
  'grpc-node.max_session_memory': (t, v) => (t.maxSessionMemory = v),
  // grpc-js's own key (its client's windows): here the server's stream and connection windows.
  'grpc-node.flow_control_window': (t, v) => {
    t.settings.initialWindowSize = t.connectionWindowBytes = windowSize(
      'grpc-node.flow_control_window',
      v,
      HTTP2_DEFAULT_WINDOW,
    );
  },
};

/** A stream's window may be as small as 0 (HTTP/2 allows it); the connection's starts at 65,535 and only grows. */
function windowSize(key: string, value: number, least: number): number {
  if (value < least || value > HTTP2_MAX_WINDOW) {
    throw new InvalidArgument(
      `--grpc_channel_arguments: '${key}' must be a window of ${least} to ${HTTP2_MAX_WINDOW} bytes; got ${value}`,
    );
  }
  return value;
}

/** The keys this transport honours, for messages and docs. */
export const SUPPORTED_CHANNEL_ARGUMENTS = Object.keys(SUPPORTED);

export function transportSettings(args: Record<string, string | number> = {}): TransportSettings {
  const target: TransportSettings = {
    settings: { initialWindowSize: DEFAULT_FLOW_CONTROL_WINDOW },
    connectionWindowBytes: DEFAULT_FLOW_CONTROL_WINDOW,
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
    keepaliveTimeoutMs: 20_000,
    keepalivePermitWithoutCalls: false,
  };
  for (const [key, value] of Object.entries(args)) {
    const apply = SUPPORTED[key];
    if (apply === undefined) {
      throw new InvalidArgument(
        `--grpc_channel_arguments: '${key}' is not supported by the flowserve gRPC transport (it supports ` +
          `${SUPPORTED_CHANNEL_ARGUMENTS.join(', ')}); use --grpc_transport=grpc-js to pass it to grpc-js`,
      );
    }
    if (typeof value !== 'number') {
      throw new InvalidArgument(`--grpc_channel_arguments: '${key}' takes an integer; got '${value}'`);
    }
    apply(target, value);
  }
  return target;
}
