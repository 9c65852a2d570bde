/**
 * GET /api/dashboard/runs: the loss and accuracy curves of the training runs in --runs_dir — the curves.json that
 * `flowserve train --checkpoint_dir DIR` writes beside curves.svg (src/train/curves.ts). --runs_dir may be one such
 * DIR (its run is named ".") or a folder of them (each subfolder holding a curves.json is a run).
 *
 * The files are untrusted: only regular files (no symlinks) directly in those folders are read, each at most
 * MAX_CURVES_FILE_BYTES, at most MAX_RUNS runs and MAX_TOTAL_BYTES per answer; anything else is skipped with its
 * reason. A file is parsed again only when its size or modification time changed.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CURVES_JSON_FILE, CURVES_JSON_FORMAT } from '../../train/curves.js';
import type { DashboardRun, DashboardRuns } from './api-types.js';

export const MAX_CURVES_FILE_BYTES = 8 * 1024 * 1024;
export const MAX_TOTAL_BYTES = 32 * 1024 * 1024;
export const MAX_RUNS = 100;
/** Subfolders looked at, at most (a huge folder is not listed whole on every request). */
export const MAX_FOLDERS = 1000;
const MAX_TITLE_CHARS = 200;

interface Cached {
  size: number;
  mtimeMs: number;
  run: DashboardRun;
}

function curve(value: unknown, field: string): (number | null)[] {
  if (!Array.isArray(value)) throw new Error(`'${field}' is not an array`);
  return value.map((v, i) => {
    if (v === null || (typeof v === 'number' && Number.isFinite(v))) return v as number | null;
    throw new Error(`'${field}[${i}]' is not a number or null`);
  });
}

/** Checks one parsed curves.json; throws naming the bad field. */
export function parseCurvesJson(text: string, name: string, updatedAt: string): DashboardRun {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null) throw new Error('not a JSON object');
  const json = value as Record<string, unknown>;
  if (json.format !== CURVES_JSON_FORMAT) throw new Error(`'format' is not "${CURVES_JSON_FORMAT}"`);
  return {
    name,
    title: typeof json.title === 'string' ? json.title.slice(0, MAX_TITLE_CHARS) : name,
    updatedAt,
    loss: curve(json.loss, 'loss'),
    accuracy: curve(json.accuracy, 'accuracy'),
    xLabel: typeof json.xLabel === 'string' ? json.xLabel.slice(0, MAX_TITLE_CHARS) : 'step',
  };
}

export class RunsView {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly runsDir: string | undefined) {}

  async list(): Promise<DashboardRuns> {
    if (!this.runsDir) return { enabled: false, runs: [], skipped: [] };
    const candidates: { name: string; path: string }[] = [{ name: '.', path: join(this.runsDir, CURVES_JSON_FILE) }];
    const entries = await readdir(this.runsDir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.filter((e) => e.isDirectory()).slice(0, MAX_FOLDERS)) {
      candidates.push({ name: entry.name, path: join(this.runsDir, entry.name, CURVES_JSON_FILE) });
    }
    const runs: { run: DashboardRun; mtimeMs: number }[] = [];
    const skipped: DashboardRuns['skipped'] = [];
    let total = 0;
    const seen = new Set<string>();
    for (const { name, path } of candidates) {
      const info = await lstat(path).catch(() => undefined);
      if (!info) continue; // not a run folder
      if (!info.isFile()) {
        skipped.push({ name, reason: `${CURVES_JSON_FILE} is not a regular file` });
        continue;
      }
      if (info.size > MAX_CURVES_FILE_BYTES) {
        skipped.push({ name, reason: `${CURVES_JSON_FILE} is ${info.size} bytes, over ${MAX_CURVES_FILE_BYTES}` });
        continue;
      }
      if (runs.length >= MAX_RUNS || total + info.size > MAX_TOTAL_BYTES) {
        skipped.push({ name, reason: `more than ${MAX_RUNS} runs or ${MAX_TOTAL_BYTES} bytes of curves` });
        continue;
      }
      total += info.size;
      seen.add(path);
      const cached = this.cache.get(path);
      if (cached && cached.size === info.size && cached.mtimeMs === info.mtimeMs) {
        runs.push({ run: cached.run, mtimeMs: info.mtimeMs });
        continue;
      }
      try {
        const text = await readFile(path, 'utf8');
        const run = parseCurvesJson(text, name, new Date(info.mtimeMs).toISOString());
        this.cache.set(path, { size: info.size, mtimeMs: info.mtimeMs, run });
        runs.push({ run, mtimeMs: info.mtimeMs });
      } catch (err) {
        skipped.push({ name, reason: `${CURVES_JSON_FILE}: ${(err as Error).message}` });
      }
    }
    for (const path of this.cache.keys()) if (!seen.has(path)) this.cache.delete(path);
    runs.sort((a, b) => b.mtimeMs - a.mtimeMs || a.run.name.localeCompare(b.run.name));
    return { enabled: true, runs: runs.map((r) => r.run), skipped };
  }
}
