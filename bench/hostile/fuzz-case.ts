/** One hostile request, of either protocol, as the generators make it and the runner sends and judges it. */
import type { HttpRequest } from './transport.js';

export type ServerRole = 'plain' | 'batched';

export interface FuzzCase {
  /** Row of the results table, e.g. grpc.predict.tensor, rest.json.malformed. */
  category: string;
  server: ServerRole;
  grpc?: { method: string; bytes: Buffer };
  http?: HttpRequest;
  /** What was sent, readable (long values cut), for a violation report. */
  summary: () => string;
}

/** Categories whose requests are judged by the REST JSON reader (src/serving/apis/rest/json-*.ts). */
export function isRestJsonReaderCategory(category: string): boolean {
  return category.startsWith('rest.json.');
}

/** JSON of `value` for humans: Buffers as their length, long strings and arrays cut, at most `max` characters. */
export function summarize(value: unknown, max = 600): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') {
      return `<${((v as { data: unknown[] }).data ?? []).length} bytes>`;
    }
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `<${v.length} bytes>`;
    if (typeof v === 'string' && v.length > 80) return `${v.slice(0, 60)}…<${v.length} chars>`;
    if (Array.isArray(v) && v.length > 12) return [...v.slice(0, 8), `…<${v.length} items>`];
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
  return (text ?? String(value)).length > max ? `${(text ?? '').slice(0, max)}…` : (text ?? String(value));
}
