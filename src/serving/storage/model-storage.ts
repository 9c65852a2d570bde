/**
 * Where a model's versions live, behind one interface (DESIGN.md, src/serving/storage/): the storage path source
 * lists versions through it and, for storages that are not local directories, has each version copied whole into
 * the local version cache before the manager sees it. A storage is chosen by the base path's URL scheme; adding
 * `gs://` means one more implementation and one more entry in `storageSchemes`.
 */
import { Unimplemented } from '../../errors.js';
import { quoteForMessage } from '../config/untrusted-text.js';

/** A log sink (the serving core's Log, declared here so the storage layer imports nothing above it). */
export type StorageLog = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface ModelStorage {
  /**
   * True when versions are local directories the loader reads in place (nothing is copied); false when each version
   * is fetched into the version cache first.
   */
  readonly servesInPlace: boolean;
  /**
   * The versions under `basePath`: version number → its location (a local directory, or a URL such as
   * `s3://bucket/prefix/7/`). Only names that are all digits and at most 2^53-1, as TF Serving takes them.
   */
  listVersions(basePath: string): Promise<Map<number, string>>;
  /**
   * Writes the whole version at `location` into the empty local directory `dir`. Rejects with VersionIncomplete
   * while the version is still being uploaded, and with the storage's error otherwise (credentials redacted).
   */
  fetchVersion(location: string, dir: string): Promise<void>;
  /** Stops requests in flight; later calls reject. */
  close(): void;
}

/** The version cannot be fetched yet (upload in progress, no model file): not an error, try again next poll. */
export class VersionIncomplete extends Error {
  override readonly name = 'VersionIncomplete';
}

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The lower-case scheme of a URL base path (`s3`), or undefined for a local path. */
export function schemeOf(basePath: string): string | undefined {
  return URL_SCHEME.exec(basePath)?.[1]?.toLowerCase();
}

/** URL schemes flowserve reads versions from. */
export const storageSchemes: readonly string[] = ['s3'];

/** UNIMPLEMENTED naming the scheme and the ones that work, for a base path no storage can read. */
export function unsupportedScheme(basePath: string, model: string): Unimplemented {
  const scheme = schemeOf(basePath) ?? '';
  return new Unimplemented(
    `base_path ${quoteForMessage(basePath)} of model ${model} uses the ${scheme}:// scheme, which flowserve cannot ` +
      `read; supported: local directories and ${storageSchemes.map((s) => `${s}://`).join(', ')}`,
  );
}
