/**
 * Discovers versions on disk (TF Serving's FileSystemStoragePathSource, spec §4.1): every poll lists each model's
 * base path, keeps the children whose names are all digits, applies the version policy, and reports the aspired
 * versions. The aspired list is the whole desired state: a version that disappears is unloaded.
 *
 * Difference from TF Serving: a missing base path only skips that model's poll (TF aborts the cycle for all models).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../config/model-server-config.js';
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
}

/**
 * Version dirs under `basePath`: all-digit names (TF's SimpleAtoi also takes signs; flowserve docs say digits).
 * Names past 2^53-1 are skipped, as TF skips names past int64: a double would round them onto another number.
 */
export async function listVersionDirs(basePath: string): Promise<Map<number, string>> {
  const entries = await readdir(basePath, { withFileTypes: true });
  const versions = new Map<number, string>();
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || !/^\d+$/.test(entry.name)) continue;
    const version = Number(entry.name);
    if (Number.isSafeInteger(version)) versions.set(version, join(basePath, entry.name));
  }
  return versions;
}

export class StoragePathSource {
  private models = new Map<string, ModelConfig>();
  /** The last aspired list sent per model, to report changes only. */
  private readonly lastSent = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: StoragePathSourceOptions) {}

  /** Replaces the monitored models: removed ones get an empty aspired list; all are polled before this resolves. */
  async setModels(models: readonly ModelConfig[]): Promise<void> {
    const next = new Map(models.map((m) => [m.name, m]));
    for (const name of this.models.keys()) {
      if (!next.has(name)) {
        this.lastSent.delete(name);
        this.options.onAspiredVersions(name, []);
      }
    }
    for (const [name, model] of next) {
      const old = this.models.get(name);
      if (
        old &&
        (old.basePath !== model.basePath || JSON.stringify(old.versionPolicy) !== JSON.stringify(model.versionPolicy))
      ) {
        this.lastSent.delete(name);
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

  private async pollAll(): Promise<void> {
    await Promise.all([...this.models.values()].map((m) => this.pollModel(m)));
  }

  private async pollModel(model: ModelConfig): Promise<void> {
    let dirs: Map<number, string>;
    try {
      dirs = await listVersionDirs(model.basePath);
    } catch (err) {
      this.options.log(
        'error',
        `Could not find base path ${model.basePath} for servable ${model.name} with error ${(err as Error).message}`,
      );
      return;
    }
    if (this.closed || this.models.get(model.name) !== model) return;
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
    const aspired = aspiredVersions(model.versionPolicy, present).map((version) => ({
      version,
      path: dirs.get(version) as string,
    }));
    const key = JSON.stringify(aspired);
    if (this.lastSent.get(model.name) === key) return;
    this.lastSent.set(model.name, key);
    this.options.onAspiredVersions(model.name, aspired);
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
