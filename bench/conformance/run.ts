/** One conformance run: every case through plain ONNX Runtime (the reference), then through a started server. */
import { listCases, type ConformanceCase, type ConformanceDir } from './cases.js';
import { runReference } from './reference.js';
import type { Outcome } from './reference.js';
import { caseKey, runServed, type ServedOptions } from './served.js';

export interface CaseResult {
  dir: ConformanceDir;
  name: string;
  reference: Outcome;
  /** By transport name. */
  served: Record<string, Outcome>;
}

export interface ConformanceRun {
  transports: string[];
  cases: CaseResult[];
  seconds: { reference: number; served: number };
}

export interface RunOptions extends ServedOptions {
  root: string;
  /** Only cases whose `dir/name` passes this (a test's subset); default all. */
  filter?: (c: ConformanceCase) => boolean;
}

export async function runConformance(options: RunOptions): Promise<ConformanceRun> {
  const cases = (await listCases(options.root)).filter(options.filter ?? (() => true));
  let startedAt = performance.now();
  const references = [];
  // In this thread, one at a time: onnxruntime-node blocks it while it loads and runs, and no server runs yet.
  for (const testCase of cases) references.push({ testCase, ...(await runReference(testCase)) });
  const referenceSeconds = (performance.now() - startedAt) / 1000;
  startedAt = performance.now();
  // Every case is served, the ones ONNX Runtime itself fails too: their load errors are part of the report.
  const served = await runServed(references, options);
  const servedSeconds = (performance.now() - startedAt) / 1000;
  const transports = [...new Set([...served.values()].flatMap((r) => Object.keys(r)))];
  return {
    transports,
    cases: references.map(({ testCase, outcome }) => ({
      dir: testCase.dir,
      name: testCase.name,
      reference: outcome,
      served: served.get(caseKey(testCase)) ?? {},
    })),
    seconds: { reference: referenceSeconds, served: servedSeconds },
  };
}
