/**
 * `npm run demo:cluster`: 3 replicas reading one S3 bucket behind a real HAProxy, 8 clients, three scenarios (see
 * scenarios.ts). Prints a table per scenario (requests, failures, p50, p99) and writes bench/results/cluster.json.
 *   --storage=s3|local   where the replicas read the model (default s3: a loopback s3rver)
 *   --steady_ms=N        load before and after each scenario's event (default 5000)
 *   --drain_delay_seconds=N  the replicas' flag (default 1; 0 shows what the rolling restart loses without it)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeResultJson } from '../report.js';
import { findHaproxy } from './haproxy.js';
import { DEFAULT_CLUSTER_OPTIONS, runCluster, type ScenarioResult } from './scenarios.js';

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/** One table: a row per scenario. */
export function scenarioTable(scenarios: readonly ScenarioResult[]): string {
  const header = ['scenario', 'requests', 'failures', 'p50 ms', 'p99 ms'];
  const rows = scenarios.map((s) => [
    s.name,
    String(s.summary.requests),
    String(s.summary.failures),
    s.summary.p50Ms.toFixed(1),
    s.summary.p99Ms.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const haproxy = findHaproxy();
  if (!haproxy) {
    console.error('demo:cluster needs HAProxy (Debian: apt-get install haproxy)');
    process.exit(1);
  }
  const storage = flag('storage') === 'local' ? 'local' : 's3';
  const result = await runCluster({
    ...DEFAULT_CLUSTER_OPTIONS,
    haproxy,
    storage,
    steadyMs: Number(flag('steady_ms') ?? 5000),
    drainDelaySeconds: Number(flag('drain_delay_seconds') ?? DEFAULT_CLUSTER_OPTIONS.drainDelaySeconds),
    log: (line) => console.log(line),
  });
  console.log('');
  for (const s of result.scenarios) {
    console.log(scenarioTable([s]));
    console.log(`  ${JSON.stringify(s.details)}`);
    for (const e of s.summary.errors) console.log(`  error: ${e}`);
    console.log('');
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  writeResultJson(path.join(root, 'bench', 'results', 'cluster.json'), 'cluster', { ...result });
}

await main();
