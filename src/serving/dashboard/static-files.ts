/**
 * The dashboard page's files, served from the repository's `dashboard/` folder: `dashboard/index.html` and the
 * files directly in `dashboard/assets/`. The folder is found by walking up from this module (so it works from src/
 * and dist/src/), listed and read ONCE at start-up: a request never touches the file system, so no request path can
 * reach a file that was not in the list (no traversal, no symlink surprises, no new files appearing later).
 *
 * Only names matching SAFE_ASSET_NAME are listed (no '/', no '..',
 * names starting with '.' are hidden files and refused too), only regular files, at most MAX_ASSET_FILES of them and MAX_ASSET_BYTES in all.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SAFE_ASSET_NAME = /^[A-Za-z0-9_.-]+$/;
export const MAX_ASSET_FILES = 256;
export const MAX_ASSET_BYTES = 32 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** The content type of a file by its extension; unknown ones are bytes (and `nosniff` keeps browsers from guessing). */
export function contentTypeOf(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

export interface StaticFile {
  body: Buffer;
  contentType: string;
  /** A strong ETag (sha256 of the bytes), for If-None-Match → 304. */
  etag: string;
}

export interface DashboardFiles {
  /** dashboard/index.html; undefined when the folder has none. */
  index?: StaticFile;
  /** dashboard/assets/NAME by NAME. */
  assets: ReadonlyMap<string, StaticFile>;
  /** Names found in dashboard/assets/ but not served, with why (logged at start). */
  skipped: { name: string; reason: string }[];
}

/** The `dashboard/` folder above this module, or undefined when there is none (an install without the page). */
export function findDashboardRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'dashboard');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function staticFile(name: string, body: Buffer): StaticFile {
  return {
    body,
    contentType: contentTypeOf(name),
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

/** Lists and reads the page's files once. A missing folder gives no files (the page paths then 404). */
export async function loadDashboardFiles(root: string | undefined = findDashboardRoot()): Promise<DashboardFiles> {
  const assets = new Map<string, StaticFile>();
  const skipped: { name: string; reason: string }[] = [];
  if (root === undefined) return { assets, skipped };
  let total = 0;
  const read = async (path: string, name: string): Promise<StaticFile | undefined> => {
    const info = await lstat(path);
    if (!info.isFile()) {
      skipped.push({ name, reason: 'not a regular file' });
      return undefined;
    }
    if (total + info.size > MAX_ASSET_BYTES) {
      skipped.push({ name, reason: `the page's files would exceed ${MAX_ASSET_BYTES} bytes` });
      return undefined;
    }
    total += info.size;
    return staticFile(name, await readFile(path));
  };
  const index = existsSync(join(root, 'index.html')) ? await read(join(root, 'index.html'), 'index.html') : undefined;
  const assetDir = join(root, 'assets');
  const names = existsSync(assetDir) ? (await readdir(assetDir)).sort() : [];
  for (const name of names) {
    if (!SAFE_ASSET_NAME.test(name) || name.startsWith('.')) {
      skipped.push({ name, reason: `the name does not match ${SAFE_ASSET_NAME.source}` });
      continue;
    }
    if (assets.size >= MAX_ASSET_FILES) {
      skipped.push({ name, reason: `more than ${MAX_ASSET_FILES} files` });
      continue;
    }
    const file = await read(join(assetDir, name), name);
    if (file) assets.set(name, file);
  }
  return { ...(index ? { index } : {}), assets, skipped };
}
