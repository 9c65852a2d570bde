/**
 * TF Serving's REST URL grammar (http_rest_api_handler.cc), matched case-insensitively on the raw path:
 *   POST /v1/models/{m}[/versions/{v}|/labels/{l}]:(classify|regress|predict)
 *   GET  /v1/models[/{m}][/versions/{v}|/labels/{l}][/metadata]
 */
import { InvalidArgument } from '../../../errors.js';
import type { ModelSelector } from '../../core/types.js';

const POST_PATH =
  /^\/v1\/models\/([^/:]+)(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?:(classify|regress|predict)$/i;
const GET_PATH = /^\/v1\/models(?:\/([^/:]+))?(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?(?:\/(metadata))?$/i;

export type RestAction = 'predict' | 'classify' | 'regress' | 'status' | 'metadata';

export interface RestRoute {
  action: RestAction;
  selector: ModelSelector;
}

function malformed(method: string, path: string): InvalidArgument {
  return new InvalidArgument(`Malformed request: ${method} ${path}`);
}

/** A percent-encoded path segment, decoded; a bad escape (`%3n`, `%E0%A4`) is the client's error, not a URIError. */
function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidArgument(
      `Malformed request: ${what} '${segment.slice(0, 256)}' is not valid percent-encoded UTF-8`,
    );
  }
}

function selectorOf(name: string, version: string | undefined, label: string | undefined): ModelSelector {
  const selector: ModelSelector = { name: decodeSegment(name, 'model name') };
  if (version !== undefined) {
    const n = Number(version);
    if (!Number.isSafeInteger(n)) throw new InvalidArgument(`Failed to convert version: ${version} to numeric.`);
    selector.version = n;
  }
  if (label !== undefined) selector.label = decodeSegment(label, 'version label');
  return selector;
}

export function parseRestPath(method: string, path: string): RestRoute {
  if (method === 'POST') {
    const m = POST_PATH.exec(path);
    // The verb suffix itself is compared exactly: ":PREDICT" is malformed.
    const verb = m?.[4];
    if (!m || (verb !== 'predict' && verb !== 'classify' && verb !== 'regress')) throw malformed(method, path);
    return { action: verb, selector: selectorOf(m[1] as string, m[2], m[3]) };
  }
  if (method === 'GET') {
    const m = GET_PATH.exec(path);
    if (!m) throw malformed(method, path);
    if (!m[1]) throw new InvalidArgument('Missing model name in request.');
    return { action: m[4] ? 'metadata' : 'status', selector: selectorOf(m[1], m[2], m[3]) };
  }
  throw malformed(method, path);
}
