/**
 * npm run docs:ops — prints the TF op types flowserve imports (src/import/tf-ops.ts's rows and the flowserve ops of
 * the same type) as a markdown table; `npm run docs:ops -- --write` puts it into docs/tensorflow-models.md between
 * its markers. test/import/tf-op-table.test.ts fails when the committed table is stale.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tfOpTableMarkdown, withOpTable } from '../src/import/tf-op-table.js';

const DOC = fileURLToPath(new URL('../../docs/tensorflow-models.md', import.meta.url));

const table = tfOpTableMarkdown();
if (process.argv.includes('--write')) {
  const doc = await readFile(DOC, 'utf8');
  const updated = withOpTable(doc, table, DOC);
  if (updated !== doc) await writeFile(DOC, updated);
  console.log(`${DOC}: op table ${updated === doc ? 'already up to date' : 'updated'}`);
} else {
  process.stdout.write(table);
}
