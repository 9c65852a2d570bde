/**
 * The storages of one server, chosen by base path scheme, with the shared version cache. The S3 client is created
 * on first use of an `s3://` path, so a server with only local models never reads the AWS environment.
 */
import { localStorage } from './local-storage.js';
import { schemeOf, unsupportedScheme, type ModelStorage, type StorageLog } from './model-storage.js';
import { redactorForEnv, type Redactor } from './redact.js';
import { s3SettingsFromEnv } from './s3-settings.js';
import { S3Storage } from './s3-storage.js';
import { VersionCache } from './version-cache.js';

export interface StorageOptions {
  /** Where versions from object storage are copied (--model_cache_dir); default a fresh temporary directory. */
  cacheDir?: string;
  /** The environment the S3 settings and credentials are read from; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** S3 completeness rule 2: the gap between the two listings of a new version. Default 1000 ms. */
  settleMs?: number;
  /** Per S3 call: connection, response and idle timeout. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Attempts per S3 call. Default 3. */
  maxAttempts?: number;
  /** First wait after a failed fetch of a version; doubled per failure up to maxRetryDelayMs. Default 1000. */
  retryDelayMs?: number;
  /** Default 60 000. */
  maxRetryDelayMs?: number;
}

export class Storages {
  readonly cache: VersionCache;
  readonly redact: Redactor;
  private s3: S3Storage | undefined;

  constructor(
    readonly options: StorageOptions,
    private readonly log: StorageLog,
    private readonly modelFiles: readonly string[],
  ) {
    this.cache = new VersionCache(options.cacheDir);
    this.redact = redactorForEnv(options.env ?? process.env);
  }

  /** The storage for `basePath`; throws UNIMPLEMENTED for a scheme no storage reads. */
  forPath(basePath: string, model: string): ModelStorage {
    const scheme = schemeOf(basePath);
    if (scheme === undefined) return localStorage;
    if (scheme === 's3') return (this.s3 ??= this.createS3());
    throw unsupportedScheme(basePath, model);
  }

  private createS3(): S3Storage {
    const settings = s3SettingsFromEnv(this.options.env ?? process.env, this.redact);
    this.log(
      'info',
      this.redact(
        `S3: endpoint ${settings.endpoint ?? `AWS (region ${settings.region})`}` +
          `${settings.endpointFrom ? ` from ${settings.endpointFrom}` : ''}, ` +
          `${settings.forcePathStyle ? 'path-style' : 'virtual-hosted-style'} addressing, region ${settings.region}, ` +
          `credentials from ${settings.credentials ? 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY' : "the SDK's default chain"}` +
          `${settings.verifyTls ? '' : ', TLS certificates not verified (S3_VERIFY_SSL=0)'}`,
      ),
    );
    return new S3Storage({
      settings,
      redact: this.redact,
      log: this.log,
      modelFiles: this.modelFiles,
      ...(this.options.settleMs === undefined ? {} : { settleMs: this.options.settleMs }),
      ...(this.options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: this.options.requestTimeoutMs }),
      ...(this.options.maxAttempts === undefined ? {} : { maxAttempts: this.options.maxAttempts }),
    });
  }

  /** Stops storage requests in flight (a poll waiting on them ends soon after). */
  abort(): void {
    this.s3?.close();
    this.s3 = undefined;
  }

  /** Aborts, and removes the version cache's files. */
  async close(): Promise<void> {
    this.abort();
    await this.cache.close();
  }
}
