/**
 * A small file whose parsed contents the server follows without a restart (the SSL config, the bearer token). The
 * file is stat()ed every `pollMs`; only when its identity, size or times change is it read, and only when the text
 * changed is it parsed. A replacement that fails to read or parse keeps the previous value and is logged, once per
 * distinct failure, so a half-written file never takes the server down.
 */
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { InvalidArgument } from '../../../errors.js';
import type { Log } from '../../core/storage-path-source.js';

export interface WatchedFileOptions<T> {
  /** What the file is, for messages: `--ssl_config_file`. */
  flag: string;
  parse: (text: string, path: string) => T;
  /** Polling period; default 1000 ms. 0 or less: read once, never follow changes. */
  pollMs?: number;
  log: Log;
}

export class WatchedFile<T> {
  private value: T;
  private text: string;
  private stamp = '';
  private lastFailure = '';
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(value: T) => void>();

  /** Reads and parses the file now; throws INVALID_ARGUMENT naming the flag and the path when either fails. */
  constructor(
    readonly path: string,
    private readonly options: WatchedFileOptions<T>,
  ) {
    try {
      // Stat before reading: a change in between then shows as a new stamp on the first poll, never as a lost one.
      this.stamp = stampOf(statSync(path, { bigint: true }));
      this.text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InvalidArgument(`cannot read ${options.flag}=${path}: ${(err as Error).message}`);
    }
    this.value = options.parse(this.text, path);
    const pollMs = options.pollMs ?? 1000;
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.checkNow(), pollMs);
      // The listening sockets keep the process alive; this timer alone must not.
      this.timer.unref();
    }
  }

  get current(): T {
    return this.value;
  }

  /** Called with each new value that parsed; the previous one stays when a change fails. */
  onChange(listener: (value: T) => void): void {
    this.listeners.add(listener);
  }

  /** One poll, queued after any poll in flight (tests call it instead of waiting for the timer). */
  checkNow(): Promise<void> {
    this.checking = this.checking.then(() => this.check());
    return this.checking;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private async statStamp(): Promise<string | undefined> {
    try {
      return stampOf(await stat(this.path, { bigint: true }));
    } catch (err) {
      this.fail(`cannot stat ${this.options.flag}=${this.path}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async check(): Promise<void> {
    const stamp = await this.statStamp();
    if (stamp === undefined || stamp === this.stamp) return;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.fail(`cannot read ${this.options.flag}=${this.path}: ${(err as Error).message}`);
      return;
    }
    this.stamp = stamp;
    if (text === this.text) return;
    let value: T;
    try {
      value = this.options.parse(text, this.path);
    } catch (err) {
      this.text = text;
      this.fail(`${this.options.flag}=${this.path} changed but was not applied: ${(err as Error).message}`);
      return;
    }
    this.text = text;
    this.value = value;
    this.lastFailure = '';
    this.options.log('info', `${this.options.flag}=${this.path} changed: applied to new connections and calls`);
    for (const listener of this.listeners) listener(value);
  }

  private fail(message: string): void {
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.options.log('error', `${message}; keeping the previous one`);
  }
}

/** Changes with any replacement: a rename gives a new inode, an in-place write new times or size. */
function stampOf(s: BigIntStats): string {
  return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
