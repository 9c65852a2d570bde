import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { committedOpTable, tfOpTableMarkdown, withOpTable } from '../../src/import/tf-op-table.js';
import { supportedTfOpTypes } from '../../src/import/tf-ops.js';

function docPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'docs', 'tensorflow-models.md');
}

describe('the TF op table in docs/tensorflow-models.md', () => {
  it('is the one generated from the mapping (run `npm run docs:ops -- --write` when this fails)', () => {
    const doc = readFileSync(docPath(), 'utf8');
    assert.equal(committedOpTable(doc, docPath()), tfOpTableMarkdown());
  });

  it('has one row per importable op type, table rows and same-named definitions alike', () => {
    const table = tfOpTableMarkdown();
    for (const type of supportedTfOpTypes()) assert.match(table, new RegExp(`^\\| \`${type}\` \\|`, 'm'));
    assert.match(table, /^\| `AddV2` \| a row of `TF_OP_MAPPINGS` \|$/m);
    assert.match(table, /^\| `Relu` \| the flowserve op of the same type/m);
    assert.equal(table.trim().split('\n').length, supportedTfOpTypes().length + 2);
  });

  it('notices a stale table: replacing it changes the document', () => {
    const doc = readFileSync(docPath(), 'utf8');
    const stale = withOpTable(doc, '| TF op type | imported as |\n| --- | --- |\n', docPath());
    assert.notEqual(committedOpTable(stale, docPath()), tfOpTableMarkdown());
    assert.equal(withOpTable(stale, tfOpTableMarkdown(), docPath()), doc);
  });
});
