/**
 * The fuzzer's bar for one reply. A server may refuse anything a hostile client sends, but only as a client error:
 *  - gRPC: never UNKNOWN or INTERNAL (reserved for bugs), always an answer before the deadline, an error message of
 *    at most MAX_ERROR_MESSAGE_CHARS (+ the truncation mark), and an OK reply that decodes as the method's response;
 *  - HTTP: never a 5xx, always an answer, JSON error bodies {"error": "..."} of bounded size, 200 bodies that parse.
 * One exception for load, on both protocols: UNAVAILABLE / 503 with the batch scheduler's "queue is full" message.
 * That is TF Serving's documented back-pressure (the client is told to retry), and the fuzzer's concurrency can
 * legitimately fill the batching server's queue. Any other UNAVAILABLE/503 (worker gone, shutting down) and any
 * 504 (a request not answered within --rest_api_timeout_in_ms) is a violation: no fuzz request should take that
 * long on an idle model.
 */
import protobuf from 'protobufjs';
import { MAX_ERROR_MESSAGE_CHARS } from '../../src/errors.js';
import { QUEUE_FULL_MESSAGE } from '../../src/serving/batching/batch-scheduler.js';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import type { FuzzCase } from './fuzz-case.js';
import { GRPC_CODE_NAMES, type GrpcReply, type HttpReply } from './transport.js';

export interface Verdict {
  /** Outcome label for the tables: OK, INVALID_ARGUMENT, 400, 404, ... */
  outcome: string;
  /** Set when the reply breaks the bar. */
  violation?: string;
  /** The reply, readable and cut, for a report. */
  reply: string;
  /** The request could not even be sent (Node refuses some paths): not counted as sent. */
  notSent?: boolean;
}

const MAX_MESSAGE = MAX_ERROR_MESSAGE_CHARS + '...TRUNCATED'.length;
const GRPC_UNKNOWN = 2;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;
const GRPC_CANCELLED = 1;

const RESPONSE_TYPES: Record<string, string> = {
  Predict: 'tensorflow.serving.PredictResponse',
  Classify: 'tensorflow.serving.ClassificationResponse',
  Regress: 'tensorflow.serving.RegressionResponse',
  MultiInference: 'tensorflow.serving.MultiInferenceResponse',
  GetModelMetadata: 'tensorflow.serving.GetModelMetadataResponse',
  GetModelStatus: 'tensorflow.serving.GetModelStatusResponse',
  HandleReloadConfigRequest: 'tensorflow.serving.ReloadConfigResponse',
};

const responseTypes = new Map<string, protobuf.Type>();
function responseType(method: string): protobuf.Type | undefined {
  const name = RESPONSE_TYPES[method.split('/').pop() ?? ''];
  if (!name) return undefined;
  let t = responseTypes.get(name);
  if (!t) {
    t = protobufRoot().lookupType(name);
    responseTypes.set(name, t);
  }
  return t;
}

function cut(text: string, max = 400): string {
  return text.length > max ? `${text.slice(0, max)}…<${text.length} chars>` : text;
}

export function judgeGrpc(fuzzCase: FuzzCase, reply: GrpcReply): Verdict {
  const name = reply.code === 0 ? 'OK' : (GRPC_CODE_NAMES[reply.code] ?? `code ${reply.code}`);
  const shown = `${name}: ${cut(reply.details)}${reply.response ? ` (${reply.response.length}-byte response)` : ''}`;
  const verdict: Verdict = { outcome: name, reply: shown };
  if (reply.code === GRPC_UNKNOWN || reply.code === GRPC_INTERNAL) verdict.violation = `gRPC ${name}`;
  else if (reply.code === GRPC_DEADLINE_EXCEEDED || reply.code === GRPC_CANCELLED)
    verdict.violation = `no answer (${name})`;
  else if (reply.code === GRPC_UNAVAILABLE && !reply.details.includes(QUEUE_FULL_MESSAGE)) {
    verdict.violation = 'UNAVAILABLE that is not batch back-pressure';
  } else if (reply.details.length > MAX_MESSAGE)
    verdict.violation = `error message of ${reply.details.length} characters`;
  else if (reply.code === 0 && fuzzCase.grpc) {
    const type = responseType(fuzzCase.grpc.method);
    try {
      type?.decode(reply.response ?? Buffer.alloc(0));
    } catch (err) {
      verdict.violation = `OK response does not decode: ${(err as Error).message}`;
    }
  }
  return verdict;
}

/**
 * JSON as TF Serving writes it: RapidJSON with kWriteNanAndInfFlag prints non-finite floats as the bare tokens
 * NaN, Infinity and -Infinity, so those are accepted as values (outside strings). Undefined if it does not parse.
 */
export function parseTfServingJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      return JSON.parse(
        text.replace(/("(?:[^"\\]|\\.)*")|-?Infinity|NaN/g, (_match, quoted: string | undefined) => quoted ?? 'null'),
      );
    } catch {
      return undefined;
    }
  }
}

export function judgeHttp(reply: HttpReply, method = 'POST'): Verdict {
  const text = reply.body.subarray(0, 2000).toString('utf8');
  const shown =
    reply.status <= 0
      ? `no answer: ${reply.transportError ?? ''}`
      : `HTTP ${reply.status} ${reply.contentType}: ${cut(text)}`;
  if (reply.status === -1) return { outcome: 'not sent', reply: shown, notSent: true };
  const verdict: Verdict = { outcome: String(reply.status), reply: shown };
  if (reply.status === 0) {
    verdict.violation = 'no answer';
    return verdict;
  }
  const json = reply.contentType.includes('application/json');
  let parsed: unknown;
  // A HEAD reply has headers only (RFC 9110): nothing to parse.
  if (method === 'HEAD') {
    if (reply.status >= 500) verdict.violation = `HTTP ${reply.status}`;
    return verdict;
  }
  if (json && reply.body.length > 0) {
    parsed = parseTfServingJson(reply.body.toString('utf8'));
    if (parsed === undefined) {
      verdict.violation = 'JSON reply does not parse';
      return verdict;
    }
  }
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (reply.status >= 500 && !(reply.status === 503 && String(error).includes(QUEUE_FULL_MESSAGE))) {
    verdict.violation = `HTTP ${reply.status}`;
  } else if (reply.status >= 400 && json) {
    if (typeof error !== 'string') verdict.violation = 'error body without an "error" string';
    else if (error.length > MAX_MESSAGE) verdict.violation = `error message of ${error.length} characters`;
  }
  return verdict;
}
