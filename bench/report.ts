import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured comparison: flowserve against a peer on the same work, in the same run. */
export interface BenchRow {
  name: string;
  unit: string;
  flowserve: number;
  peer: number;
  peerName: string;
  /** True when a larger value is better (throughput); false for times. */
  higherIsBetter: boolean;
  target?: string;
}

/** flowserve/peer, oriented so that higher is better. */
export function ratio(row: BenchRow): number {
  return row.higherIsBetter ? row.flowserve / row.peer : row.peer / row.flowserve;
}

/** Prints the table and writes bench/results/NAME.json with a top-level `ratios` object. */
export function report(name: string, rows: readonly BenchRow[], extra: Record<string, unknown> = {}): string {
  const header = ['benchmark', 'flowserve', 'peer', 'unit', 'ratio (higher is better)', 'target'];
  const lines = rows.map((r) => [
    r.name,
    r.flowserve.toPrecision(4),
    `${r.peer.toPrecision(4)} (${r.peerName})`,
    r.unit,
    ratio(r).toFixed(3),
    r.target ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  lines.forEach((l) => console.log(fmt(l)));
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const file = path.join(root, 'bench', 'results', `${name}.json`);
  writeResultJson(file, name, {
    ratios: Object.fromEntries(rows.map((r) => [r.name, Number(ratio(r).toFixed(4))])),
    rows,
    ...extra,
  });
  return file;
}

/** Writes a run's JSON: the benchmark's name, the date and the machine (with its load), then `content`. */
export function writeResultJson(file: string, name: string, content: Record<string, unknown>): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const json = {
    benchmark: name,
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadavg: os.loadavg(),
    },
    ...content,
  };
  writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

/** Median of per-iteration times (ms) after warmup, for `iterations` runs or until `budgetMs` is spent. */
export async function timeIt(
  fn: () => Promise<unknown>,
  options: { warmup?: number; iterations?: number; budgetMs?: number } = {},
): Promise<number> {
  const { warmup = 3, iterations = 50, budgetMs = 3000 } = options;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < iterations && performance.now() - start < budgetMs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/**
 * Times two contenders in alternating rounds (A B B A …) and returns each one's best round median (ms), so that a
 * noisy neighbour or a warming cache does not favour whichever runs first.
 */
export async function compareTimes(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  options: { warmup?: number; iterations?: number; budgetMs?: number; rounds?: number } = {},
): Promise<[number, number]> {
  const rounds = options.rounds ?? 4;
  let bestA = Infinity;
  let bestB = Infinity;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    for (const who of order) {
      const ms = await timeIt(who === 'a' ? a : b, options);
      if (who === 'a') bestA = Math.min(bestA, ms);
      else bestB = Math.min(bestB, ms);
    }
  }
  return [bestA, bestB];
}
