import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import { parseTextFormat, type TextMessage } from '../../../src/serving/config/text-format.js';

describe('protobuf text format', () => {
  it('parses scalars, nested messages in {} and <>, repeated fields, lists and comments', () => {
    const msg = parseTextFormat(`
      # a comment
      name: "a\\tb\\"c\\x41\\101"  'single' # trailing comment
      count: -12, ratio: 1.5e3; hex: 0x1F
      flag: true
      kind: ENUM_VALUE
      inner { a: 1 b < c: 2 > }
      inner: { a: 3 }
      list: [1, 2, 3]
    `);
    const byName = (m: TextMessage, n: string) => m.fields.filter((f) => f.name === n).map((f) => f.value);
    assert.deepEqual(byName(msg, 'name'), [{ kind: 'string', value: 'a\tb"cAAsingle' }]);
    assert.equal((byName(msg, 'count')[0] as { value: number }).value, -12);
    assert.equal((byName(msg, 'ratio')[0] as { value: number }).value, 1500);
    assert.equal((byName(msg, 'hex')[0] as { value: number }).value, 31);
    assert.deepEqual(byName(msg, 'flag'), [{ kind: 'identifier', value: 'true' }]);
    assert.deepEqual(byName(msg, 'kind'), [{ kind: 'identifier', value: 'ENUM_VALUE' }]);
    const inner = byName(msg, 'inner') as TextMessage[];
    assert.equal(inner.length, 2);
    const nested = (inner[0] as TextMessage).fields.find((f) => f.name === 'b')?.value as TextMessage;
    assert.equal((nested.fields[0]?.value as { value: number }).value, 2);
    assert.deepEqual(
      byName(msg, 'list').map((v) => (v as { value: number }).value),
      [1, 2, 3],
    );
    assert.equal(msg.fields.find((f) => f.name === 'inner')?.line, 7);
  });

  it('names the file and line of a syntax error', () => {
    assert.throws(
      () => parseTextFormat('a: 1\nb {\n  c: "unterminated\n}', 'cfg.txt'),
      (err: unknown) => err instanceof InvalidArgument && /^cfg\.txt: line 3: unterminated string/.test(err.message),
    );
    assert.throws(() => parseTextFormat('a {\n b: 1\n', 'f'), /f: line 3: expected '}' before end of input/);
    assert.throws(() => parseTextFormat('a 1', 'f'), /line 1: expected ':' or '\{' after field name 'a'/);
    assert.throws(() => parseTextFormat('a: }', 'f'), /line 1: expected a value/);
  });
});
