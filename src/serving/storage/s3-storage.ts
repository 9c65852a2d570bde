/**
 * Versions in S3 or an S3-compatible store (`s3://bucket/prefix`), through the official AWS SDK.
 *
 * Listing: the version numbers are the common prefixes `prefix/<digits>/` (ListObjectsV2 with delimiter '/',
 * paginated).
 *
 * Completeness (a reader may list while a version is being uploaded): a version is fetched only when
 *  1. it holds a model file at its top level (model.onnx, saved_model.pb, …: `modelFiles`), and
 *  2. two listings of its objects, at least `settleMs` apart, are identical (keys, sizes, ETags). A version already
 *     seen unchanged by the previous poll is stable at once; one seen for the first time is listed again after
 *     `settleMs` within the same poll.
 * Otherwise fetchVersion rejects with VersionIncomplete and the next poll looks again.
 *
 * Fetching: every object is downloaded with `If-Match: <listed ETag>` (an object replaced since the listing fails
 * instead of mixing two uploads), streamed to disk, and checked: its size against the listing, and for a
 * single-part ETag (32 hex digits: the MD5 of the body) its MD5. Multipart ETags (`<hex>-<parts>`) are not an MD5 of
 * the body, so only the size is checked for them.
 *
 * Timeouts: each SDK call has a connection timeout, a timeout until the response headers and a socket idle timeout
 * (`requestTimeoutMs`); a body that stalls longer than that fails. The SDK retries each call (3 attempts, its
 * exponential backoff with jitter) on throttling, 5xx, timeouts and network errors. Error messages are redacted.
 *
 * The SDK is imported on the storage's first call, not with this module. Imported with it, it made the server module's
 * V8 heap 15.4 MB instead of 12.3 and its import 0.87–0.93 s instead of 0.64–0.81 (three runs each, 2026-11-30); a
 * server whose models are all local never uses it.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { hasControlCharacters } from '../config/untrusted-text.js';
import { versionNumber } from './local-storage.js';
import { VersionIncomplete, type ModelStorage, type StorageLog } from './model-storage.js';
import type { Redactor } from './redact.js';
import { parseS3Location, s3Url } from './s3-location.js';
import type { S3Settings } from './s3-settings.js';

export interface S3StorageOptions {
  settings: S3Settings;
  redact: Redactor;
  log: StorageLog;
  /** File names that mark a version directory as a model (completeness rule 1). */
  modelFiles: readonly string[];
  /** Completeness rule 2: how far apart the two listings are. Default 1000. */
  settleMs?: number;
  /** Per SDK call: connection, response-headers and socket-idle timeout. Default 30 000. */
  requestTimeoutMs?: number;
  /** Attempts per SDK call (the SDK's retries). Default 3. */
  maxAttempts?: number;
  /** Objects downloaded at once per version. Default 4. */
  downloadConcurrency?: number;
}

interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

/** Bounds a listing, so that a misbehaving endpoint that always says "truncated" cannot loop forever. */
const MAX_LIST_PAGES = 10_000;
const SINGLE_PART_ETAG = /^[0-9a-f]{32}$/i;

type S3Sdk = typeof import('@aws-sdk/client-s3');

/** The SDK module and the storage's client, made together on first use. */
interface Connection {
  sdk: S3Sdk;
  client: S3Client;
}

export class S3Storage implements ModelStorage {
  readonly servesInPlace = false;
  private connection: Promise<Connection> | undefined;
  private readonly closing = new AbortController();
  /** The last object listing seen per version location (completeness rule 2). */
  private readonly lastSeen = new Map<string, string>();
  private readonly settleMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: S3StorageOptions) {
    this.settleMs = options.settleMs ?? 1000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** The SDK and the client, imported and made on the first call (the module's doc says why). */
  private connect(): Promise<Connection> {
    // A closed storage makes no client: nothing would destroy it.
    if (this.closing.signal.aborted) return Promise.reject(this.closing.signal.reason as Error);
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: this.createClient(sdk) }));
    return this.connection;
  }

  private createClient(sdk: S3Sdk): S3Client {
    const { settings } = this.options;
    return new sdk.S3Client({
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      maxAttempts: this.options.maxAttempts ?? 3,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      requestHandler: {
        connectionTimeout: this.requestTimeoutMs,
        requestTimeout: this.requestTimeoutMs,
        throwOnRequestTimeout: true,
        socketTimeout: this.requestTimeoutMs,
        httpAgent: { keepAlive: true },
        httpsAgent: { keepAlive: true, rejectUnauthorized: settings.verifyTls },
      },
    });
  }

  async listVersions(basePath: string): Promise<Map<number, string>> {
    const location = parseS3Location(basePath);
    const versions = new Map<number, string>();
    const prefixes: string[] = [];
    await this.listPages(location.bucket, location.prefix, '/', (page) => {
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) prefixes.push(common.Prefix);
    });
    for (const prefix of prefixes.sort()) {
      const version = versionNumber(prefix.slice(location.prefix.length, -1));
      if (version !== undefined) versions.set(version, s3Url({ bucket: location.bucket, prefix }));
    }
    return versions;
  }

  async fetchVersion(url: string, dir: string): Promise<void> {
    const location = parseS3Location(url);
    let objects = await this.listObjects(location.bucket, location.prefix);
    this.checkHasModelFile(url, objects, location.prefix);
    const seen = signature(objects);
    if (this.lastSeen.get(url) !== seen) {
      this.lastSeen.set(url, seen);
      await sleep(this.settleMs, this.closing.signal);
      objects = await this.listObjects(location.bucket, location.prefix);
      const again = signature(objects);
      this.lastSeen.set(url, again);
      if (again !== seen) {
        throw new VersionIncomplete(
          `the objects under ${url} changed between two listings ${this.settleMs} ms apart (upload in progress?)`,
        );
      }
      this.checkHasModelFile(url, objects, location.prefix);
    }
    const files = objects.filter((o) => !(o.key.endsWith('/') && o.size === 0));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const object = files[next++] as ListedObject;
        await this.download(location.bucket, object, join(dir, ...relativeKey(url, object.key, location.prefix)));
      }
    };
    const concurrency = Math.max(1, Math.min(this.options.downloadConcurrency ?? 4, files.length));
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  close(): void {
    this.closing.abort(new Error('the storage is closed'));
    void this.connection?.then(({ client }) => client.destroy());
  }

  private checkHasModelFile(url: string, objects: readonly ListedObject[], prefix: string): void {
    const top = new Set(objects.map((o) => o.key.slice(prefix.length)));
    if (!this.options.modelFiles.some((name) => top.has(name))) {
      throw new VersionIncomplete(
        `no model file (${this.options.modelFiles.join(', ')}) under ${url} yet (upload in progress?)`,
      );
    }
  }

  private async listObjects(bucket: string, prefix: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    await this.listPages(bucket, prefix, undefined, (page) => {
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        objects.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '' });
      }
    });
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async listPages(
    bucket: string,
    prefix: string,
    delimiter: string | undefined,
    onPage: (page: {
      CommonPrefixes?: { Prefix?: string }[];
      Contents?: { Key?: string; Size?: number; ETag?: string }[];
    }) => void,
  ): Promise<void> {
    let token: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const listed = await this.call(`ListObjectsV2 s3://${bucket}/${prefix}`, ({ sdk, client }, abortSignal) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
          { abortSignal },
        ),
      );
      onPage(listed);
      if (!listed.IsTruncated) return;
      token = listed.NextContinuationToken;
      if (!token)
        throw new Error(`ListObjectsV2 s3://${bucket}/${prefix}: a truncated page without a continuation token`);
    }
    throw new Error(`ListObjectsV2 s3://${bucket}/${prefix}: more than ${MAX_LIST_PAGES} pages`);
  }

  private async download(bucket: string, object: ListedObject, file: string): Promise<void> {
    const what = `GetObject s3://${bucket}/${object.key}`;
    await mkdir(dirname(file), { recursive: true });
    const response = await this.call(what, ({ sdk, client }, abortSignal) =>
      client.send(
        new sdk.GetObjectCommand({ Bucket: bucket, Key: object.key, ...(object.etag ? { IfMatch: object.etag } : {}) }),
        { abortSignal },
      ),
    );
    const body = response.Body;
    if (!(body instanceof Readable)) throw new Error(`${what}: the response has no body stream`);
    const md5 = createHash('md5');
    let bytes = 0;
    const stalled = (): void => {
      body.destroy(new Error(`${what}: no data for ${this.requestTimeoutMs} ms`));
    };
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        bytes += chunk.length;
        if (bytes > object.size) {
          callback(new Error(`${what}: more than the ${object.size} bytes listed`));
          return;
        }
        md5.update(chunk);
        idle.refresh();
        callback(null, chunk);
      },
    });
    const idle = setTimeout(stalled, this.requestTimeoutMs);
    const onClose = (): void => {
      body.destroy(new Error('the storage is closed'));
    };
    this.closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      await pipeline(body, counter, createWriteStream(file, { flags: 'wx' }));
    } catch (err) {
      // No `cause`: the SDK's error holds the signed request; only this redacted message may travel on.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(this.options.redact(`${what} failed: ${describe(err)}`));
    } finally {
      clearTimeout(idle);
      this.closing.signal.removeEventListener('abort', onClose);
    }
    if (bytes !== object.size) {
      throw new Error(`${what}: got ${bytes} bytes, the listing says ${object.size}`);
    }
    const etag = object.etag.replace(/"/g, '');
    if (SINGLE_PART_ETAG.test(etag)) {
      const digest = md5.digest('hex');
      if (digest !== etag.toLowerCase()) throw new Error(`${what}: MD5 ${digest} does not match the ETag ${etag}`);
    }
  }

  /** One SDK call with the storage's close signal; its error becomes a redacted one that names the call. */
  private async call<T>(
    what: string,
    send: (connection: Connection, abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      return await send(await this.connect(), this.closing.signal);
    } catch (err) {
      // No `cause`: the SDK's error holds the signed request; only this redacted message may travel on.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(this.options.redact(`${what} failed: ${describe(err)}`));
    }
  }
}

/** What failed, without the SDK's request details: the error name, the HTTP status and the message. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (err as { code?: string }).code;
  const parts = [
    err.name !== 'Error' ? err.name : '',
    status ? `HTTP ${status}` : '',
    code && code !== err.name ? code : '',
  ]
    .filter((p) => p !== '')
    .join(', ');
  return parts === '' ? err.message : `${parts}: ${err.message}`;
}

function signature(objects: readonly ListedObject[]): string {
  return JSON.stringify(objects.map((o) => [o.key, o.size, o.etag]));
}

/** A key's path below the version prefix, as path segments; refuses keys that would leave the version directory. */
function relativeKey(url: string, key: string, prefix: string): string[] {
  const parts = key.slice(prefix.length).split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || hasControlCharacters(p) || p.includes('\\'))) {
    throw new Error(
      `the object key ${JSON.stringify(key)} under ${url} cannot be a file path in the version directory`,
    );
  }
  return parts;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
