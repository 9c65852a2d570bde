/**
 * The local copies of versions fetched from object storage (--model_cache_dir). Layout:
 *   <cache dir>/flowserve-versions/<key>/<version>/   a complete version, what the loader reads
 *   <cache dir>/flowserve-versions/.partial-XXXXXX/    a version being fetched
 * `key` is derived from the model name and base path, so two models never share or evict each other's copies.
 * A version is fetched into a fresh partial directory and renamed into place only once whole (rename within one
 * file system is atomic): the loader never sees a half-written version. The cache's own subtree is emptied when it
 * is first used, so a restarted server reuses nothing a previous process left (possibly half-written or stale).
 * One server per cache directory.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SUBTREE = 'flowserve-versions';

export class VersionCache {
  private root: Promise<string> | undefined;
  /** key → version → local directory. */
  private readonly entries = new Map<string, Map<number, string>>();

  /** `dir` undefined: a fresh directory under the OS temp dir, removed by close(). */
  constructor(private readonly dir?: string) {}

  static keyOf(model: string, basePath: string): string {
    return createHash('sha256').update(`${model}\0${basePath}`).digest('hex').slice(0, 20);
  }

  /** The local directory of a cached version, or undefined. */
  get(key: string, version: number): string | undefined {
    return this.entries.get(key)?.get(version);
  }

  /** The cached versions under `key`. */
  versions(key: string): number[] {
    return [...(this.entries.get(key)?.keys() ?? [])];
  }

  /** Fetches a version through `fill` (into an empty partial directory), then renames it into place. */
  async add(key: string, version: number, fill: (dir: string) => Promise<void>): Promise<string> {
    const root = await this.ensureRoot();
    const partial = await mkdtemp(join(root, '.partial-'));
    try {
      await fill(partial);
      const target = join(root, key, String(version));
      await mkdir(join(root, key), { recursive: true });
      await rm(target, { recursive: true, force: true });
      await rename(partial, target);
      let versions = this.entries.get(key);
      if (!versions) this.entries.set(key, (versions = new Map()));
      versions.set(version, target);
      return target;
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes the copies under `key` whose versions are not in `keep` (bounded disk: only aspired versions stay). */
  async evict(key: string, keep: ReadonlySet<number>): Promise<number[]> {
    const versions = this.entries.get(key);
    if (!versions) return [];
    const gone = [...versions.keys()].filter((v) => !keep.has(v));
    for (const version of gone) {
      const dir = versions.get(version) as string;
      versions.delete(version);
      await rm(dir, { recursive: true, force: true });
    }
    if (versions.size === 0) this.entries.delete(key);
    return gone;
  }

  /** Removes the cache's subtree (the whole directory when it was created here). */
  async close(): Promise<void> {
    const root = this.root;
    this.root = undefined;
    this.entries.clear();
    if (!root) return;
    const path = await root.catch(() => undefined);
    if (path === undefined) return;
    await rm(this.dir === undefined ? join(path, '..') : path, { recursive: true, force: true });
  }

  private ensureRoot(): Promise<string> {
    this.root ??= (async () => {
      const base = this.dir ?? (await mkdtemp(join(tmpdir(), 'flowserve-model-cache-')));
      const root = join(base, SUBTREE);
      await rm(root, { recursive: true, force: true });
      await mkdir(root, { recursive: true });
      return root;
    })();
    return this.root;
  }

  /** The keys and versions on disk (tests). */
  async onDisk(): Promise<string[]> {
    if (!this.root) return [];
    const root = await this.root;
    const out: string[] = [];
    for (const key of await readdir(root)) {
      if (key.startsWith('.partial-')) out.push(key);
      else for (const version of await readdir(join(root, key))) out.push(`${key}/${version}`);
    }
    return out.sort();
  }
}
