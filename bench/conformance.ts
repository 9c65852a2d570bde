/**
 * npm run conformance [-- --write] [--root DIR] [--batch N] [--concurrency N] [--workers N]: runs ONNX's backend
 * test models (Debian's libonnx-testdata) through plain ONNX Runtime and through a started flowserve server over v2
 * REST binary and gRPC raw, prints the counts and the bar, and with --write regenerates docs/onnx-conformance.md.
 * Exits 1 when the bar is not met (a model ONNX Runtime runs correctly that flowserve serves wrong).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TESTDATA_ROOT, testdataMissing } from './conformance/cases.js';
import { barViolations, conformanceMarkdown, countsOf, reasonOf } from './conformance/report.js';
import { runConformance } from './conformance/run.js';
import { V2_TRANSPORTS } from './conformance/transports.js';

export const CONFORMANCE_DOC = fileURLToPath(new URL('../../docs/onnx-conformance.md', import.meta.url));

const { values } = parseArgs({
  options: {
    write: { type: 'boolean', default: false },
    root: { type: 'string', default: process.env.FLOWSERVE_ONNX_TESTDATA ?? DEFAULT_TESTDATA_ROOT },
    batch: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    workers: { type: 'string', default: '2' },
  },
});

const missing = await testdataMissing(values.root);
if (missing) {
  console.error(missing);
  process.exit(2);
}
const run = await runConformance({
  root: values.root,
  transports: V2_TRANSPORTS,
  batchSize: Number(values.batch),
  concurrency: Number(values.concurrency),
  numWorkers: Number(values.workers),
});
console.table(
  Object.fromEntries(
    Object.entries(countsOf(run)).map(([dir, c]) => [
      dir,
      Object.fromEntries(Object.entries(c).map(([k, v]) => [k, `${v.passed}/${v.passed + v.failed}`])),
    ]),
  ),
);
console.log(`reference ${run.seconds.reference.toFixed(1)} s, served ${run.seconds.served.toFixed(1)} s`);
const violations = barViolations(run);
for (const v of violations)
  console.log(`BAR ${v.testCase.dir}/${v.testCase.name} over ${v.transport}: ${reasonOf(v.testCase.name, v.outcome)}`);
if (values.write) {
  await writeFile(CONFORMANCE_DOC, conformanceMarkdown(run));
  console.log(`wrote ${CONFORMANCE_DOC}`);
}
process.exitCode = violations.length > 0 ? 1 : 0;
