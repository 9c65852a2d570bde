/** Versions in a local directory (TF Serving's FileSystemStoragePathSource on a local file system): served in place. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelStorage } from './model-storage.js';

/**
 * Version dirs under `basePath`: all-digit names (TF's SimpleAtoi also takes signs; flowserve docs say digits).
 * Names past 2^53-1 are skipped, as TF skips names past int64: a double would round them onto another number.
 */
export async function listVersionDirs(basePath: string): Promise<Map<number, string>> {
  const entries = await readdir(basePath, { withFileTypes: true });
  const versions = new Map<number, string>();
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const version = versionNumber(entry.name);
    if (version !== undefined) versions.set(version, join(basePath, entry.name));
  }
  return versions;
}

/** The version a directory name stands for, or undefined when it is not one (not all digits, or past 2^53-1). */
export function versionNumber(name: string): number | undefined {
  if (!/^\d+$/.test(name)) return undefined;
  const version = Number(name);
  return Number.isSafeInteger(version) ? version : undefined;
}

export const localStorage: ModelStorage = {
  servesInPlace: true,
  listVersions: listVersionDirs,
  fetchVersion: () => Promise.reject(new Error('local versions are served in place, not fetched')),
  close: () => undefined,
};
