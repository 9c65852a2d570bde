/**
 * The table of TF op types flowserve imports, rendered from the mapping itself (tf-ops.ts) so the documentation
 * cannot drift from it: `npm run docs:ops` prints it (and with --write puts it into docs/tensorflow-models.md),
 * and a test fails when the committed table differs.
 */
import { InvalidArgument } from '../errors.js';
import { supportedTfOpTypes, TF_IGNORED_OPS, TF_OP_MAPPINGS } from './tf-ops.js';

export const OP_TABLE_BEGIN =
  '<!-- tf-op-table: generated from src/import/tf-ops.ts by `npm run docs:ops -- --write`; do not edit by hand -->';
export const OP_TABLE_END = '<!-- /tf-op-table -->';

function howImported(type: string): string {
  if (TF_IGNORED_OPS.has(type)) return 'dropped: runs nothing at inference';
  if (type in TF_OP_MAPPINGS) return 'a row of `TF_OP_MAPPINGS`';
  return 'the flowserve op of the same type, with TF’s attrs';
}

/** The markdown table: one row per TF op type the importer maps, sorted. */
export function tfOpTableMarkdown(): string {
  const rows = supportedTfOpTypes().map((type) => `| \`${type}\` | ${howImported(type)} |`);
  return ['| TF op type | imported as |', '| --- | --- |', ...rows].join('\n') + '\n';
}

function markerRange(doc: string, fileName: string): [number, number] {
  const begin = doc.indexOf(OP_TABLE_BEGIN);
  const end = doc.indexOf(OP_TABLE_END);
  if (begin < 0 || end < begin) {
    throw new InvalidArgument(`${fileName}: no op table markers (${OP_TABLE_BEGIN} … ${OP_TABLE_END})`);
  }
  return [begin + OP_TABLE_BEGIN.length + 1, end];
}

/** The table as committed between the markers of `doc`. */
export function committedOpTable(doc: string, fileName: string): string {
  const [from, to] = markerRange(doc, fileName);
  return doc.slice(from, to);
}

/** `doc` with the table between its markers replaced by `table`. */
export function withOpTable(doc: string, table: string, fileName: string): string {
  const [from, to] = markerRange(doc, fileName);
  return doc.slice(0, from) + table + doc.slice(to);
}
