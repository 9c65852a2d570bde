/**
 * Credentials never reach a log line or a status message: every message the storage layer builds from an error or
 * an endpoint passes through a redactor that replaces the secret values it was configured with.
 */
const REDACTED = '[REDACTED]';

/** Environment variables whose values are secrets (the access key id too: it names the account and key). */
export const SECRET_ENV_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

export type Redactor = (text: string) => string;

/** Replaces every occurrence of each secret (ignoring empty ones) and any `user:password@` in URLs. */
export function redactorFor(secrets: readonly (string | undefined)[]): Redactor {
  // Longest first, so that a secret containing another one is replaced whole.
  const values = [...new Set(secrets.filter((s): s is string => s !== undefined && s.length > 0))].sort(
    (a, b) => b.length - a.length,
  );
  return (text) => {
    let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, `$1${REDACTED}@`);
    for (const value of values) out = out.split(value).join(REDACTED);
    return out;
  };
}

export function redactorForEnv(env: Readonly<Record<string, string | undefined>>): Redactor {
  return redactorFor(SECRET_ENV_VARS.map((name) => env[name]));
}
