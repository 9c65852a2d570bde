/**
 * Discovers versions (TF Serving's FileSystemStoragePathSource, spec §4.1): every poll lists each model's base path
 * through its storage (src/serving/storage: a local directory, or `s3://`), keeps the children whose names are all
 * digits, applies the version policy, and reports the aspired versions. The aspired list is the whole desired
 * state: a version that disappears is unloaded.
 *
 * Versions in object storage are first copied whole into the local version cache; the manager sees only versions
 * already there, so for them the rules are:
 *  1. `wanted` = the version policy over the versions listed; each wanted version not yet cached is fetched (the
 *     highest first). A version whose upload is not complete is not fetched (VersionIncomplete) and is looked at
 *     again next poll; a failed fetch is retried after a delay that doubles per failure (retryDelayMs up to
 *     maxRetryDelayMs), its error shown in the version's status meanwhile (pendingStatuses).
 *  2. The aspired list = the version policy over the versions listed that are cached. So while a new version is
 *     being fetched the previous one stays aspired and serving (latest 1: v1 serves until v2 is cached).
 *  3. A listing that fails reports nothing: the last aspired list stands, so a storage outage never unloads a
 *     serving version. The error is logged and kept for status (listingError).
 *  4. Cached versions neither wanted, aspired nor still loaded (isInUse) are removed from the cache.
 *
 * Difference from TF Serving: a missing base path only skips that model's poll (TF aborts the cycle for all models).
 */
import type { ModelConfig } from '../config/model-server-config.js';
import { VersionIncomplete, type ModelStorage } from '../storage/model-storage.js';
import type { Storages } from '../storage/storages.js';
import { VersionCache } from '../storage/version-cache.js';
import type { VersionStatus } from './types.js';
import { aspiredVersions, missingSpecificVersions } from './version-policy.js';

export interface AspiredVersion {
  version: number;
  path: string;
}

export type AspiredVersionsCallback = (model: string, versions: AspiredVersion[]) => void;
export type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface StoragePathSourceOptions {
  /** Seconds between polls: 0 = poll once, < 0 = never poll on a timer (call pollNow). */
  pollWaitSeconds: number;
  onAspiredVersions: AspiredVersionsCallback;
  log: Log;
  storages: Storages;
  /** Whether the manager still holds `version` of `model` (loading, serving or unloading): its files must stay. */
  isInUse?: (model: string, version: number) => boolean;
}

export { listVersionDirs } from '../storage/local-storage.js';

/** A wanted version of an object-storage model that is not cached yet. */
interface PendingFetch {
  /** Why it is not served yet: the last fetch error, or why the version is not complete. */
  message?: string;
  failed: boolean;
  failures: number;
  /** No fetch before this time (ms since the epoch). */
  notBefore: number;
}

export class StoragePathSource {
  private models = new Map<string, ModelConfig>();
  /** The last aspired list sent per model, to report changes only. */
  private readonly lastSent = new Map<string, string>();
  /** Per model: its wanted versions not yet cached (rule 1). */
  private readonly pending = new Map<string, Map<number, PendingFetch>>();
  /** Per model: the last listing error, cleared by a listing that works (rule 3). */
  private readonly listingErrors = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: StoragePathSourceOptions) {}

  /** Replaces the monitored models: removed ones get an empty aspired list; all are polled before this resolves. */
  async setModels(models: readonly ModelConfig[]): Promise<void> {
    const next = new Map(models.map((m) => [m.name, m]));
    for (const [name, old] of this.models) {
      if (!next.has(name)) {
        this.forget(name);
        this.options.onAspiredVersions(name, []);
        await this.evict(old, new Set(), true);
      }
    }
    for (const [name, model] of next) {
      const old = this.models.get(name);
      if (
        old &&
        (old.basePath !== model.basePath || JSON.stringify(old.versionPolicy) !== JSON.stringify(model.versionPolicy))
      ) {
        this.forget(name);
      }
    }
    this.models = next;
    await this.pollNow();
    this.scheduleNext();
  }

  /**
   * Polls every model once. Polls run one after another, and this one starts after any poll in flight, so a caller
   * that just changed the model list gets a poll that includes it.
   */
  pollNow(): Promise<void> {
    const poll = this.polling.then(() => this.pollAll());
    this.polling = poll.catch(() => undefined);
    return poll;
  }

  /** Wanted versions of `model` still being fetched from object storage, as START with the reason (rule 1). */
  pendingStatuses(model: string): VersionStatus[] {
    return [...(this.pending.get(model) ?? new Map<number, PendingFetch>())]
      .sort(([a], [b]) => b - a)
      .map(([version, p]) => ({
        version,
        state: 'START' as const,
        ...(p.message ? { error: { code: p.failed ? 'UNAVAILABLE' : 'OK', message: p.message } } : {}),
      }));
  }

  /** The last failed listing of `model`'s base path, while no listing has worked since (rule 3). */
  listingError(model: string): string | undefined {
    return this.listingErrors.get(model);
  }

  private forget(name: string): void {
    this.lastSent.delete(name);
    this.pending.delete(name);
    this.listingErrors.delete(name);
  }

  private async pollAll(): Promise<void> {
    await Promise.all([...this.models.values()].map((m) => this.pollModel(m)));
  }

  private async pollModel(model: ModelConfig): Promise<void> {
    let storage: ModelStorage;
    let dirs: Map<number, string>;
    try {
      storage = this.options.storages.forPath(model.basePath, model.name);
      dirs = await storage.listVersions(model.basePath);
    } catch (err) {
      const message = this.options.storages.redact((err as Error).message);
      if (this.models.get(model.name) === model) this.listingErrors.set(model.name, message);
      this.options.log(
        'error',
        `Could not find base path ${model.basePath} for servable ${model.name} with error ${message}`,
      );
      return;
    }
    if (this.closed || this.models.get(model.name) !== model) return;
    this.listingErrors.delete(model.name);
    const present = [...dirs.keys()];
    if (present.length === 0) {
      this.options.log(
        'warn',
        `No versions of servable ${model.name} found under base path ${model.basePath}. ` +
          `Did you forget to name your leaf directory as a number (eg. '/1/')?`,
      );
    }
    for (const v of missingSpecificVersions(model.versionPolicy, present)) {
      this.options.log('warn', `Version ${v} of servable ${model.name} is not present under ${model.basePath}`);
    }
    const wanted = aspiredVersions(model.versionPolicy, present);
    let aspired: AspiredVersion[];
    if (storage.servesInPlace) {
      aspired = wanted.map((version) => ({ version, path: dirs.get(version) as string }));
    } else {
      const cached = await this.fetchWanted(model, storage, wanted, dirs);
      if (this.closed || this.models.get(model.name) !== model) return;
      aspired = aspiredVersions(
        model.versionPolicy,
        present.filter((v) => cached.has(v)),
      ).map((version) => ({ version, path: cached.get(version) as string }));
    }
    const key = JSON.stringify(aspired);
    if (this.lastSent.get(model.name) !== key) {
      this.lastSent.set(model.name, key);
      this.options.onAspiredVersions(model.name, aspired);
    }
    if (!storage.servesInPlace) await this.evict(model, new Set([...wanted, ...aspired.map((a) => a.version)]));
  }

  /** Rule 1: fetches the wanted versions not cached yet; returns every cached version of the model. */
  private async fetchWanted(
    model: ModelConfig,
    storage: ModelStorage,
    wanted: readonly number[],
    locations: ReadonlyMap<number, string>,
  ): Promise<Map<number, string>> {
    const { cache } = this.options.storages;
    const key = VersionCache.keyOf(model.name, model.basePath);
    const previous = this.pending.get(model.name) ?? new Map<number, PendingFetch>();
    const pending = new Map<number, PendingFetch>();
    this.pending.set(model.name, pending);
    for (const version of wanted) {
      if (cache.get(key, version) !== undefined) continue;
      const state = previous.get(version) ?? { failed: false, failures: 0, notBefore: 0 };
      pending.set(version, state);
      if (Date.now() < state.notBefore || this.closed) continue;
      const location = locations.get(version) as string;
      try {
        await cache.add(key, version, (dir) => storage.fetchVersion(location, dir));
        pending.delete(version);
        this.options.log('info', `Fetched version ${version} of servable ${model.name} from ${location}`);
      } catch (err) {
        const message = this.options.storages.redact((err as Error).message);
        if (err instanceof VersionIncomplete) {
          Object.assign(state, { message: `waiting for the upload to complete: ${message}`, failed: false });
          this.options.log('info', `Version ${version} of servable ${model.name} is not complete yet: ${message}`);
          continue;
        }
        const delayMs = this.retryDelayMs(state.failures);
        Object.assign(state, {
          failed: true,
          failures: state.failures + 1,
          notBefore: Date.now() + delayMs,
          message: `fetching version ${version} from ${location} failed (attempt ${state.failures + 1}), retrying in ${(delayMs / 1000).toFixed(1)} s: ${message}`,
        });
        this.options.log('error', `Servable ${model.name}: ${state.message}`);
      }
    }
    if (pending.size === 0) this.pending.delete(model.name);
    const cached = new Map<number, string>();
    for (const version of locations.keys()) {
      const path = cache.get(key, version);
      if (path !== undefined) cached.set(version, path);
    }
    return cached;
  }

  private retryDelayMs(failures: number): number {
    const { retryDelayMs = 1000, maxRetryDelayMs = 60_000 } = this.options.storages.options;
    return Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(failures, 30));
  }

  /** Rule 4. */
  private async evict(model: ModelConfig, keep: ReadonlySet<number>, removed = false): Promise<void> {
    const key = VersionCache.keyOf(model.name, model.basePath);
    const inUse = (!removed && this.options.isInUse) || (() => false);
    const cache = this.options.storages.cache;
    const stay = new Set(keep);
    for (const version of cache.versions(key)) if (inUse(model.name, version)) stay.add(version);
    const gone = await cache.evict(key, stay);
    if (gone.length > 0) {
      this.options.log('info', `Removed version(s) ${gone.join(', ')} of servable ${model.name} from the model cache`);
    }
  }

  private scheduleNext(): void {
    if (this.timer || this.closed || this.options.pollWaitSeconds <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollNow().finally(() => this.scheduleNext());
    }, this.options.pollWaitSeconds * 1000);
    // The server's listening sockets keep the process alive; a poll timer alone should not.
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }
}
