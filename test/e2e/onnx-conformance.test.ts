/**
 * Issue 11's bar, measured on ONNX's backend test models (Debian's libonnx-testdata): every model that plain
 * onnxruntime-node runs correctly is served correctly over v2 REST binary and gRPC raw, and docs/onnx-conformance.md
 * says what this run found. Skips, with the reason, where the package is not installed (.ci/run installs it as root).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DEFAULT_TESTDATA_ROOT, testdataMissing } from '../../bench/conformance/cases.js';
import { barViolations, conformanceMarkdown, reasonOf } from '../../bench/conformance/report.js';
import { runConformance } from '../../bench/conformance/run.js';
import { V2_TRANSPORTS } from '../../bench/conformance/transports.js';

const ROOT = process.env.FLOWSERVE_ONNX_TESTDATA ?? DEFAULT_TESTDATA_ROOT;
const DOC = fileURLToPath(new URL('../../../docs/onnx-conformance.md', import.meta.url));
const missing = await testdataMissing(ROOT);

describe('ONNX conformance (libonnx-testdata)', { skip: missing }, () => {
  it(
    'serves every model ONNX Runtime runs correctly, correctly, and docs/onnx-conformance.md matches',
    { timeout: 300_000 },
    async () => {
      // One server, 200 models loaded at a time through a config reload, 8 requests in flight, 2 inference workers.
      const run = await runConformance({
        root: ROOT,
        transports: V2_TRANSPORTS,
        batchSize: 200,
        concurrency: 8,
        numWorkers: 2,
      });
      assert.deepEqual(run.transports, ['REST binary', 'gRPC raw']);
      const violations = barViolations(run).map(
        (v) => `${v.testCase.dir}/${v.testCase.name} over ${v.transport}: ${reasonOf(v.testCase.name, v.outcome)}`,
      );
      assert.deepEqual(violations, [], 'models ONNX Runtime runs correctly but flowserve serves wrong');
      assert.equal(
        await readFile(DOC, 'utf8'),
        conformanceMarkdown(run),
        'docs/onnx-conformance.md differs from this run: regenerate it with `npm run conformance -- --write`',
      );
    },
  );
});
