// @ts-check
/**
 * The page's only way to the server: JSON over fetch, with the bearer token the user typed (kept in this tab's
 * sessionStorage only) when the server asks for one. Errors carry the server's own message.
 */

const TOKEN_KEY = 'flowserve.dashboard.token';

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status  HTTP status, 0 when the server could not be reached
   */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** @returns {string | null} */
export function bearerToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string | null} token */
export function setBearerToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** @returns {Record<string, string>} */
function authHeaders() {
  const token = bearerToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * GET (or POST a JSON body) and parse the JSON answer.
 * @param {string} path  absolute path on this server, e.g. /api/dashboard/models
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal }} [options]
 * @returns {Promise<unknown>}
 */
export async function requestJson(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...authHeaders() };
  /** @type {RequestInit} */
  const init = { method: options.method ?? 'GET', headers, signal: options.signal ?? null, cache: 'no-store' };
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(`${path}: the server could not be reached (${String(error)})`, 0);
  }
  const text = await response.text();
  /** @type {unknown} */
  let body = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    throw new ApiError(`${path}: ${response.status} ${errorMessage(body) ?? response.statusText}`, response.status);
  }
  return body;
}

/**
 * The `error` field of TF Serving / Open Inference Protocol error bodies, or the text itself.
 * @param {unknown} body
 * @returns {string | undefined}
 */
function errorMessage(body) {
  if (typeof body === 'string') return body.slice(0, 2000);
  if (body && typeof body === 'object' && 'error' in body) return String(body.error);
  return undefined;
}

/**
 * Live stats: Server-Sent Events from `streamPath` (one event named `stats` a second), falling back to polling
 * `pollPath` every second when EventSource is missing, when the stream fails, or when a bearer token is needed
 * (EventSource cannot send headers). Returns a function that stops it.
 * @param {{ streamPath: string, pollPath: string, onStats: (stats: unknown) => void,
 *   onMode: (mode: 'stream' | 'polling' | 'error', detail?: string) => void }} options
 * @returns {() => void}
 */
export function subscribeStats({ streamPath, pollPath, onStats, onMode }) {
  let stopped = false;
  /** @type {EventSource | null} */
  let source = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let pollTimer = null;

  const poll = async () => {
    if (stopped) return;
    try {
      onStats(await requestJson(pollPath));
      onMode('polling');
    } catch (error) {
      onMode('error', error instanceof Error ? error.message : String(error));
    }
    if (!stopped) pollTimer = setTimeout(poll, 1000);
  };

  if (typeof EventSource === 'function' && bearerToken() === null) {
    source = new EventSource(streamPath);
    source.addEventListener('stats', (event) => {
      try {
        onStats(JSON.parse(/** @type {MessageEvent<string>} */ (event).data));
        onMode('stream');
      } catch (error) {
        onMode('error', `${streamPath}: an event that is not JSON (${String(error)})`);
      }
    });
    source.addEventListener('error', () => {
      // The stream broke (server gone, auth required, proxy that buffers): poll instead, which reports why.
      source?.close();
      source = null;
      if (!stopped && pollTimer === null) void poll();
    });
  } else {
    void poll();
  }

  return () => {
    stopped = true;
    source?.close();
    if (pollTimer !== null) clearTimeout(pollTimer);
  };
}
