/**
 * Text that came from a client (model names, base paths, labels) must not be able to forge log lines or flood an
 * error message: it is quoted with its control characters escaped, and cut to a sane length.
 */

/** Longest untrusted value quoted in a message; the rest is elided. */
const MAX_QUOTED_CHARS = 200;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** True when `text` holds a character a log line must not print raw (C0/C1 controls, line/paragraph separators). */
export function hasControlCharacters(text: string): boolean {
  CONTROL_CHARACTERS.lastIndex = 0;
  return CONTROL_CHARACTERS.test(text);
}

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Replaces control characters by their escapes (`\n`, `\u0007`), so one log call stays one line. */
export function escapeControlCharacters(text: string): string {
  return text.replace(
    CONTROL_CHARACTERS,
    (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `"value"` with control characters escaped, at most MAX_QUOTED_CHARS characters of it. */
export function quoteForMessage(text: string): string {
  const cut = text.length > MAX_QUOTED_CHARS ? text.slice(0, MAX_QUOTED_CHARS) : text;
  const more = text.length > MAX_QUOTED_CHARS ? `…(${text.length} characters)` : '';
  return `"${escapeControlCharacters(cut).replace(/"/g, '\\"')}"${more}`;
}
