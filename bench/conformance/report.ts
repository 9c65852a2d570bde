/**
 * docs/onnx-conformance.md, generated from a run (`npm run conformance -- --write`) so it cannot drift: counts per
 * directory and transport, failures grouped by reason, and the bar of issue 11 (every model plain onnxruntime-node
 * runs correctly is served correctly). Only deterministic facts go in: no timings, no mismatching values.
 */
import { CONFORMANCE_DIRS } from './cases.js';
import { ATOL, RTOL } from './compare.js';
import type { Outcome } from './reference.js';
import type { CaseResult, ConformanceRun } from './run.js';

export const REFERENCE = 'ONNX Runtime direct';

/**
 * Tests whose outputs are random draws (numpy's generator made the golden values; ONNX Runtime's differs): never
 * comparable, so always reported under their own reason, whether or not the draws happen to agree.
 */
const RANDOM_OUTPUT_TEST = /^test_(bernoulli|training_dropout(?!_zero_ratio))/;
const RANDOM_REASON =
  'random output (Bernoulli, Dropout in training mode): golden values are numpy draws, not comparable';

const REASONS: { pattern: RegExp; label: string }[] = [
  {
    pattern: /Could not find an implementation for/,
    label: 'ONNX Runtime has no kernel for an op at this opset and type ("Could not find an implementation for …")',
  },
  {
    pattern: /is not a registered function\/op/,
    label: 'op of ai.onnx.preview.training, which ONNX Runtime does not register ("… is not a registered function/op")',
  },
  {
    pattern: /Unsupported data type: 16/,
    label: 'bfloat16 tensor: onnxruntime-node has no bfloat16 ("Unsupported data type: 16")',
  },
  {
    pattern: /is not a tensor|is of type (seq|optional|map)/,
    label:
      'sequence or optional input/output: onnxruntime-node feeds and returns tensors only (flowserve: load error naming the input and its ONNX type)',
  },
  {
    pattern: /Batchwise recurrent operations \(layout == 1\) are not supported/,
    label:
      'RNN/GRU/LSTM with layout=1: ONNX Runtime\'s CPU kernels refuse it ("Batchwise recurrent operations (layout == 1) are not supported")',
  },
  {
    pattern: /StringNormalizer.*Failed to construct locale/,
    label:
      'StringNormalizer needs the en_US.UTF-8 locale, which this machine lacks ("Failed to construct locale with name:en_US.UTF-8")',
  },
  {
    pattern: /differs|expected/,
    label: `output differs from the golden output (rtol ${RTOL}, atol ${ATOL}; strings exactly)`,
  },
];

/** The reason group of a failed outcome: a fixed label for the known causes, else the stage and the message. */
export function reasonOf(testName: string, outcome: Outcome): string | undefined {
  if (RANDOM_OUTPUT_TEST.test(testName) && (outcome.ok || outcome.stage === 'compare')) return RANDOM_REASON;
  if (outcome.ok) return undefined;
  // The served load error says which file failed ahead of ONNX Runtime's reason; the reason alone is compared.
  const reason = outcome.reason
    .replace(/^Could not load ONNX model [^:]*: /, '')
    .replace(/^Load model from \S+ failed:/, '');
  const known = REASONS.find((r) => r.pattern.test(reason));
  if (known) return known.label;
  // Paths differ between runs (temporary model directories): keep the message without them.
  return `${outcome.stage}: ${reason.replace(/\/[^\s:'"]+/g, '…')}`;
}

export interface Counts {
  passed: number;
  failed: number;
}

/** Per directory, then per column (the reference and each transport): passed and failed models. */
export function countsOf(run: ConformanceRun): Record<string, Record<string, Counts>> {
  const columns = [REFERENCE, ...run.transports];
  const counts: Record<string, Record<string, Counts>> = {};
  for (const dir of [...CONFORMANCE_DIRS, 'total']) {
    counts[dir] = Object.fromEntries(columns.map((c) => [c, { passed: 0, failed: 0 }]));
  }
  for (const c of run.cases) {
    for (const column of columns) {
      const outcome = column === REFERENCE ? c.reference : c.served[column];
      const ok = outcome !== undefined && reasonOf(c.name, outcome) === undefined;
      for (const dir of [c.dir, 'total']) (counts[dir]?.[column] as Counts)[ok ? 'passed' : 'failed']++;
    }
  }
  return counts;
}

/** The bar: cases plain ONNX Runtime runs correctly that some transport does not serve correctly. */
export function barViolations(run: ConformanceRun): { testCase: CaseResult; transport: string; outcome: Outcome }[] {
  const out = [];
  for (const testCase of run.cases) {
    if (reasonOf(testCase.name, testCase.reference) !== undefined) continue;
    for (const transport of run.transports) {
      const outcome = testCase.served[transport] ?? { ok: false, stage: 'run', reason: 'not served' };
      if (reasonOf(testCase.name, outcome) !== undefined) out.push({ testCase, transport, outcome });
    }
  }
  return out;
}

export function conformanceMarkdown(run: ConformanceRun): string {
  const columns = [REFERENCE, ...run.transports];
  const counts = countsOf(run);
  const lines = [
    "# ONNX conformance: ONNX's backend test models served by flowserve",
    '',
    "<!-- Generated by `npm run conformance -- --write` from Debian's libonnx-testdata; do not edit by hand. -->",
    '',
    "Every model under `node/`, `simple/`, `pytorch-converted/` and `pytorch-operator/` of Debian's",
    "`libonnx-testdata` (ONNX 1.12's backend test data) is run twice: by plain onnxruntime-node with its golden",
    'inputs (the reference), and through a started flowserve server over the Open Inference Protocol: REST with the',
    'binary tensor data extension and gRPC ModelInfer with raw contents. Outputs are compared with the golden outputs',
    `as ONNX's test runner does (rtol ${RTOL}, atol ${ATOL}; NaN equals NaN; integers, bools and strings exactly).`,
    'Each test model is version 1 of its own model (`<dir>__<test>`), its signature derived from the graph.',
    '`test/e2e/onnx-conformance.test.ts` reruns it in `npm test` and fails when this page no longer matches.',
    '',
    '## Passed / failed models',
    '',
    `| directory | ${columns.join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
  ];
  for (const [dir, byColumn] of Object.entries(counts)) {
    const cells = columns.map((c) => `${byColumn[c]?.passed} passed, ${byColumn[c]?.failed} failed`);
    lines.push(`| ${dir === 'total' ? '**total**' : `\`${dir}/\``} | ${cells.join(' | ')} |`);
  }
  const violations = barViolations(run);
  lines.push('', '## The bar: what ONNX Runtime runs correctly, flowserve serves correctly', '');
  if (violations.length === 0) {
    lines.push(
      'Met: every model that plain onnxruntime-node runs correctly is also correct when served, over both transports.',
    );
  } else {
    lines.push(`Not met for ${violations.length} model/transport pair(s) (each a flowserve bug):`, '');
    for (const v of violations) {
      lines.push(
        `- \`${v.testCase.dir}/${v.testCase.name}\` over ${v.transport}: ${reasonOf(v.testCase.name, v.outcome)}`,
      );
    }
  }
  lines.push('', '## Failures by reason', '');
  lines.push('A model is listed once per reason; the counts say on which paths it failed for that reason.', '');
  const groups = new Map<string, Map<string, Set<string>>>();
  for (const c of run.cases) {
    for (const column of columns) {
      const outcome = column === REFERENCE ? c.reference : c.served[column];
      const reason = outcome && reasonOf(c.name, outcome);
      if (!reason) continue;
      const byColumn = groups.get(reason) ?? new Map<string, Set<string>>();
      groups.set(reason, byColumn);
      const models = byColumn.get(column) ?? new Set<string>();
      byColumn.set(column, models);
      models.add(`${c.dir}/${c.name}`);
    }
  }
  const sorted = [...groups.entries()].sort((a, b) => size(b[1]) - size(a[1]) || a[0].localeCompare(b[0]));
  for (const [reason, byColumn] of sorted) {
    const models = [...new Set([...byColumn.values()].flatMap((s) => [...s]))].sort();
    const where = columns.map((c) => `${c}: ${byColumn.get(c)?.size ?? 0}`).join(', ');
    lines.push(`### ${reason}`, '', `${models.length} model(s) (${where}):`, '');
    lines.push(models.map((m) => `\`${m}\``).join(', '), '');
  }
  return lines.join('\n').replace(/\n+$/, '\n');
}

function size(byColumn: Map<string, Set<string>>): number {
  return new Set([...byColumn.values()].flatMap((s) => [...s])).size;
}
