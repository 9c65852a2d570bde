/**
 * Turns aspired versions into loaded ones (TF Serving's AspiredVersionsManager with the availability-preserving
 * policy, spec §4.2). Per model, one action at a time:
 *  1. unload the lowest un-aspired AVAILABLE version — unless no aspired version is AVAILABLE while some aspired
 *     version is still loading or failed (so the old version serves until the new one can);
 *  2. otherwise load the highest aspired version not yet tried.
 * A failed load is retried `maxNumLoadRetries` times, then ends in END with the error; it is not retried while it
 * stays aspired, only after it leaves the aspired list and comes back. Unloading waits for in-flight requests.
 *  3. a cancelled load (cancelPendingLoads: a reload whose client went away; close: shutdown) never serves: a version
 *     still in START is not loaded; the wait before a retry ends at once and no retry follows; an attempt already
 *     running cannot be interrupted (ONNX Runtime has no cancel), so when it succeeds its servable is unloaded at
 *     once, before it is AVAILABLE. The version ends in END with a CANCELLED error that gives the reason.
 *     AVAILABLE versions are not touched by a cancel.
 */
import { Cancelled, toFlowserveError } from '../../errors.js';
import { RefCount } from './ref-count.js';
import type { LoaderFactory, Servable } from './servable.js';
import { VersionStateMachine, type TransitionListener } from './state-machine.js';
import type { AspiredVersion, Log } from './storage-path-source.js';
import type { VersionStatus } from './types.js';

export interface AspiredVersionsManagerOptions {
  loaderFactory: LoaderFactory;
  /** Retries after the first failed attempt (0 = one attempt). */
  maxNumLoadRetries: number;
  loadRetryIntervalMs: number;
  onTransition: TransitionListener;
  log: Log;
  /** Called after every load attempt (metrics). */
  onLoadAttempt?: (model: string, versionPath: string, ok: boolean, seconds: number) => void;
}

/** A version in use by a request; release() lets it unload. */
export interface ServableHandle {
  readonly model: string;
  readonly version: number;
  readonly servable: Servable;
  release(): void;
}

interface VersionRecord {
  version: number;
  path: string;
  machine: VersionStateMachine;
  servable?: Servable;
  refs: RefCount;
  /** Cancels waiting between load retries. */
  abort: AbortController;
  /** Why the load was cancelled (rule 3); set once, never cleared. */
  cancelled?: string;
}

interface ModelEntry {
  name: string;
  /** version → path. */
  aspired: Map<number, string>;
  versions: Map<number, VersionRecord>;
  reconciling: Promise<void> | undefined;
  dirty: boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class AspiredVersionsManager {
  private readonly models = new Map<string, ModelEntry>();
  private readonly settleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: AspiredVersionsManagerOptions) {}

  /** Replaces the aspired versions of `model` (an empty list unloads everything). */
  setAspiredVersions(model: string, versions: readonly AspiredVersion[]): void {
    if (this.closed) return;
    let entry = this.models.get(model);
    if (!entry) {
      entry = { name: model, aspired: new Map(), versions: new Map(), reconciling: undefined, dirty: false };
      this.models.set(model, entry);
    }
    const previous = entry.aspired;
    entry.aspired = new Map(versions.map((v) => [v.version, v.path]));
    for (const [version, path] of entry.aspired) {
      const record = entry.versions.get(version);
      // A version that ended (failed or unloaded) and is newly aspired again gets a fresh try.
      if (record && record.machine.state === 'END' && !previous.has(version)) entry.versions.delete(version);
      if (!entry.versions.has(version)) entry.versions.set(version, this.newRecord(model, version, path));
    }
    for (const [version, record] of entry.versions) {
      if (!entry.aspired.has(version)) record.abort.abort();
    }
    this.kick(entry);
  }

  private newRecord(model: string, version: number, path: string): VersionRecord {
    return {
      version,
      path,
      machine: new VersionStateMachine(model, version, this.options.onTransition),
      refs: new RefCount(),
      abort: new AbortController(),
    };
  }

  /** Every model the source has reported, in the order first seen. */
  modelNames(): string[] {
    return [...this.models.keys()];
  }

  hasModel(model: string): boolean {
    return this.models.has(model);
  }

  /** AVAILABLE versions, highest first. */
  availableVersions(model: string): number[] {
    const entry = this.models.get(model);
    if (!entry) return [];
    return [...entry.versions.values()]
      .filter((r) => r.machine.state === 'AVAILABLE')
      .map((r) => r.version)
      .sort((a, b) => b - a);
  }

  /** Whether `version` is loading, serving or unloading (its files may still be read). */
  holds(model: string, version: number): boolean {
    const state = this.models.get(model)?.versions.get(version)?.machine.state;
    return state !== undefined && state !== 'END' && state !== 'START';
  }

  isAvailable(model: string, version: number): boolean {
    return this.models.get(model)?.versions.get(version)?.machine.state === 'AVAILABLE';
  }

  /** Every version ever seen (END ones included, as TF Serving), highest first; undefined for an unknown model. */
  versionStatuses(model: string): VersionStatus[] | undefined {
    const entry = this.models.get(model);
    if (!entry || entry.versions.size === 0) return undefined;
    return [...entry.versions.values()]
      .sort((a, b) => b.version - a.version)
      .map((r) => ({
        version: r.version,
        state: r.machine.state,
        ...(r.machine.error ? { error: r.machine.error } : {}),
      }));
  }

  /** A handle on `version`, or on the highest AVAILABLE version when none is given; undefined if not AVAILABLE. */
  acquire(model: string, version?: number): ServableHandle | undefined {
    const entry = this.models.get(model);
    if (!entry) return undefined;
    // Every request comes here: the latest AVAILABLE version is found without building availableVersions' arrays.
    const record = version === undefined ? latestAvailable(entry.versions) : entry.versions.get(version);
    if (!record || record.machine.state !== 'AVAILABLE' || !record.servable) return undefined;
    return { model, version: record.version, servable: record.servable, release: record.refs.acquire() };
  }

  /**
   * Resolves once `model` has no pending action (every aspired version AVAILABLE or END). Models never reported by
   * the source resolve at once.
   */
  async whenSettled(model: string): Promise<void> {
    for (;;) {
      const entry = this.models.get(model);
      if (!entry || (!entry.reconciling && !entry.dirty) || this.closed) return;
      await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
    }
  }

  /** Errors of aspired versions that failed to load, for startup and config reload reports. */
  failedAspiredVersions(model: string): { version: number; message: string }[] {
    const entry = this.models.get(model);
    if (!entry) return [];
    return [...entry.aspired.keys()]
      .map((v) => entry.versions.get(v))
      .filter((r): r is VersionRecord => r?.machine.state === 'END' && r.machine.error !== undefined)
      .map((r) => ({ version: r.version, message: r.machine.error?.message ?? '' }));
  }

  aspiredVersionCount(model: string): number {
    return this.models.get(model)?.aspired.size ?? 0;
  }

  /** Whether every aspired version of `model` is AVAILABLE (false while the source has reported none). */
  allAspiredAvailable(model: string): boolean {
    const entry = this.models.get(model);
    if (!entry || entry.aspired.size === 0) return false;
    return [...entry.aspired.keys()].every((v) => entry.versions.get(v)?.machine.state === 'AVAILABLE');
  }

  /** Rule 3: cancels every version of `model` in START or LOADING; `reason` becomes their CANCELLED error. */
  cancelPendingLoads(model: string, reason: string): void {
    const entry = this.models.get(model);
    if (!entry) return;
    for (const record of entry.versions.values()) this.cancel(record, reason);
    this.kick(entry);
  }

  /** Rule 3 for every model: what close() does first, and what a drain does as soon as it begins. */
  cancelAll(reason: string): void {
    for (const name of this.models.keys()) this.cancelPendingLoads(name, reason);
  }

  private cancel(record: VersionRecord, reason: string): void {
    const state = record.machine.state;
    if (state !== 'START' && state !== 'LOADING') return;
    record.cancelled ??= reason;
    record.abort.abort();
  }

  private endCancelled(record: VersionRecord, lastError?: string): void {
    const reason = record.cancelled ?? 'cancelled';
    const error = new Cancelled(
      `Loading was cancelled: ${reason}${lastError ? `; last load error: ${lastError}` : ''}`,
    );
    record.machine.transition('END', { code: error.codeName, message: error.message });
  }

  private kick(entry: ModelEntry): void {
    entry.dirty = true;
    if (entry.reconciling) return;
    entry.reconciling = this.reconcile(entry).finally(() => {
      entry.reconciling = undefined;
      const waiters = this.settleWaiters.splice(0);
      for (const w of waiters) w();
    });
  }

  private async reconcile(entry: ModelEntry): Promise<void> {
    while (entry.dirty && !this.closed) {
      entry.dirty = false;
      while (!this.closed && (await this.step(entry))) {
        // one action per step; the loop re-reads the aspired set after each
      }
    }
  }

  /** Performs the next action for `entry`; false when there is nothing to do. */
  private async step(entry: ModelEntry): Promise<boolean> {
    const records = [...entry.versions.values()];
    for (const r of records) {
      if (r.machine.state === 'START' && r.cancelled !== undefined) this.endCancelled(r);
      else if (r.machine.state === 'START' && !entry.aspired.has(r.version)) r.machine.transition('END');
    }
    const aspiredRecords = [...entry.aspired.keys()].map((v) => entry.versions.get(v));
    const aspiredServing = aspiredRecords.some((r) => r?.machine.state === 'AVAILABLE');
    const aspiredNotServing = aspiredRecords.some((r) => r?.machine.state !== 'AVAILABLE');
    const unaspiredServing = records
      .filter((r) => r.machine.state === 'AVAILABLE' && !entry.aspired.has(r.version))
      .sort((a, b) => a.version - b.version);
    const lowest = unaspiredServing[0];
    if (lowest && (aspiredServing || !aspiredNotServing)) {
      await this.unload(lowest);
      return true;
    }
    const next = records
      .filter((r) => r.machine.state === 'START' && entry.aspired.has(r.version))
      .sort((a, b) => b.version - a.version)[0];
    if (next) {
      await this.load(entry, next);
      return true;
    }
    return false;
  }

  private async load(entry: ModelEntry, record: VersionRecord): Promise<void> {
    record.machine.transition('LOADING');
    const { maxNumLoadRetries, loadRetryIntervalMs, loaderFactory } = this.options;
    let lastError: unknown;
    for (let attempt = 0; attempt <= maxNumLoadRetries; attempt++) {
      const startedAt = performance.now();
      try {
        const servable = await loaderFactory(entry.name, record.version, record.path).load();
        this.options.onLoadAttempt?.(entry.name, record.path, true, (performance.now() - startedAt) / 1000);
        if (record.cancelled !== undefined) {
          await this.discard(entry.name, record, servable);
          return;
        }
        record.servable = servable;
        record.machine.transition('AVAILABLE');
        this.options.log(
          'info',
          `Successfully loaded servable version {name: ${entry.name} version: ${record.version}}`,
        );
        return;
      } catch (err) {
        lastError = err;
        this.options.onLoadAttempt?.(entry.name, record.path, false, (performance.now() - startedAt) / 1000);
        const retriesLeft = maxNumLoadRetries - attempt;
        const wanted = entry.aspired.has(record.version) && !this.closed && record.cancelled === undefined;
        this.options.log(
          'error',
          `Loading servable: {name: ${entry.name} version: ${record.version}} failed: ${(err as Error).message}` +
            (wanted && retriesLeft > 0
              ? `; retrying in ${loadRetryIntervalMs / 1000} s (${retriesLeft} ${retriesLeft === 1 ? 'retry' : 'retries'} left)`
              : ''),
        );
        if (!wanted || retriesLeft === 0) break;
        await sleep(loadRetryIntervalMs, record.abort.signal);
        if (!entry.aspired.has(record.version) || this.closed || record.cancelled !== undefined) break;
      }
    }
    if (record.cancelled !== undefined) {
      this.endCancelled(record, (lastError as Error | undefined)?.message);
      return;
    }
    const error = toFlowserveError(lastError);
    record.machine.transition('END', { code: error.codeName, message: error.message });
  }

  /** Rule 3: a load that finished after its cancel is released without ever serving. */
  private async discard(model: string, record: VersionRecord, servable: Servable): Promise<void> {
    try {
      await servable.unload();
    } catch (err) {
      this.options.log('error', `Unloading cancelled version ${record.version} failed: ${(err as Error).message}`);
    }
    this.options.log(
      'info',
      `Discarded servable version {name: ${model} version: ${record.version}}: loaded after its load was cancelled (${record.cancelled ?? ''})`,
    );
    this.endCancelled(record);
  }

  private async unload(record: VersionRecord): Promise<void> {
    record.machine.transition('UNLOADING');
    await record.refs.drain();
    try {
      await record.servable?.unload();
    } catch (err) {
      this.options.log('error', `Unloading version ${record.version} failed: ${(err as Error).message}`);
    }
    record.servable = undefined;
    record.machine.transition('END');
  }

  /**
   * Stops loading (every pending load is cancelled, rule 3), waits for running actions, then unloads every version
   * (after in-flight requests finish).
   */
  async close(): Promise<void> {
    this.cancelAll('the server is shutting down');
    this.closed = true;
    await Promise.all([...this.models.values()].map((e) => e.reconciling));
    const serving = [...this.models.values()].flatMap((e) =>
      [...e.versions.values()].filter((r) => r.machine.state === 'AVAILABLE'),
    );
    await Promise.all(serving.map((r) => this.unload(r)));
    const waiters = this.settleWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/** The AVAILABLE version with the highest number, if any. */
function latestAvailable(versions: ReadonlyMap<number, VersionRecord>): VersionRecord | undefined {
  let latest: VersionRecord | undefined;
  for (const record of versions.values()) {
    if (record.machine.state === 'AVAILABLE' && (!latest || record.version > latest.version)) latest = record;
  }
  return latest;
}
