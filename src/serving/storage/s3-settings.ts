/**
 * The S3 client's settings from the environment, read as TensorFlow Serving reads them (its S3 file system), plus
 * the AWS SDK's own endpoint variables. Precedence for the endpoint:
 *  1. S3_ENDPOINT (TF Serving's): `host:port` or a URL. Without a scheme, S3_USE_HTTPS picks it (default https;
 *     `0`/`false` = http). With a scheme, the scheme wins.
 *  2. AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL (the SDK's): a URL.
 *  3. Neither: AWS's own endpoint for the region.
 * A custom endpoint (1 or 2) uses path-style addressing (`http://host/bucket/key`), which MinIO, Ceph and s3rver
 * need; AWS itself gets virtual-hosted style. Region: AWS_REGION, then AWS_DEFAULT_REGION, else us-east-1 (TF
 * Serving's default). S3_VERIFY_SSL=0 accepts any TLS certificate (self-signed test endpoints). Credentials:
 * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) when set, else the SDK's default chain (shared
 * config files, container and instance roles).
 */
import { InvalidArgument } from '../../errors.js';
import { quoteForMessage } from '../config/untrusted-text.js';
import type { Redactor } from './redact.js';

export interface S3Settings {
  /** Undefined: AWS's endpoint for the region. */
  endpoint?: string;
  /** Which variable the endpoint came from (for the start-up log line). */
  endpointFrom?: string;
  forcePathStyle: boolean;
  region: string;
  verifyTls: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

function flag(value: string | undefined, defaultValue: boolean): boolean {
  if (value === undefined || value.trim() === '') return defaultValue;
  return !FALSE_WORDS.has(value.trim().toLowerCase());
}

function endpointUrl(name: string, value: string, useHttps: boolean, redact: Redactor): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${useHttps ? 'https' : 'http'}://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgument(`${name}=${quoteForMessage(redact(value))} is not a host:port or an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgument(`${name}=${quoteForMessage(redact(value))} must use http or https`);
  }
  return text.replace(/\/+$/, '');
}

export function s3SettingsFromEnv(env: Readonly<Record<string, string | undefined>>, redact: Redactor): S3Settings {
  const useHttps = flag(env.S3_USE_HTTPS, true);
  const candidates: [string, string | undefined][] = [
    ['S3_ENDPOINT', env.S3_ENDPOINT],
    ['AWS_ENDPOINT_URL_S3', env.AWS_ENDPOINT_URL_S3],
    ['AWS_ENDPOINT_URL', env.AWS_ENDPOINT_URL],
  ];
  const chosen = candidates.find(([, value]) => value !== undefined && value.trim() !== '');
  const settings: S3Settings = {
    forcePathStyle: chosen !== undefined,
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    verifyTls: flag(env.S3_VERIFY_SSL, true),
  };
  if (chosen) {
    const [name, value] = chosen as [string, string];
    settings.endpoint = endpointUrl(name, value.trim(), name === 'S3_ENDPOINT' ? useHttps : true, redact);
    settings.endpointFrom = name;
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId && secretAccessKey) {
    settings.credentials = {
      accessKeyId,
      secretAccessKey,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return settings;
}
