/** A request's long string values left in its body (rest/long-text.ts): exact bytes, in turns of their own. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LONG_STRING_BYTES,
  readJson,
  type JsonObject,
  type JsonValue,
} from '../../../src/serving/apis/rest/json-reader.js';
import { examplesFromJson } from '../../../src/serving/apis/rest/json-examples.js';
import { decodePredictBody } from '../../../src/serving/apis/rest/json-tensors.js';
import type { ExampleFeatures } from '../../../src/serving/apis/shared/examples.js';
import { previewJson } from '../../../src/serving/apis/rest/json-values.js';
import { LongText } from '../../../src/serving/apis/rest/long-text.js';
import { turnsWhile } from '../../helpers/turns.js';

/** The LongText the reader makes of `literal`, a JSON string literal's contents as a client writes them. */
async function longText(literal: string): Promise<LongText> {
  const value = (await readJson(Buffer.from(`{"v": ["${literal}"]}`), { longText: true })) as JsonObject;
  const text = (value.v as JsonValue[])[0];
  assert.ok(text instanceof LongText, `${literal.length} bytes read as a LongText`);
  return text;
}

const repeatTo = (unit: string, bytes: number) => unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));

test('a long string value stays in the body; a long key and the same string without the option are strings', async () => {
  const long = 'k'.repeat(LONG_STRING_BYTES + 1);
  const body = Buffer.from(JSON.stringify({ [long]: long, short: 'x'.repeat(LONG_STRING_BYTES) }));
  const read = (await readJson(body, { longText: true })) as JsonObject;
  assert.ok(read[long] instanceof LongText, 'the value');
  assert.equal(read.short, 'x'.repeat(LONG_STRING_BYTES), 'a string of exactly LONG_STRING_BYTES is read as before');
  const plain = (await readJson(body)) as JsonObject;
  assert.equal(plain[long] === long, true);
});

test('utf8() and utf8ByteLength() give what Buffer.from(text) gives, for every kind of long string', async () => {
  const bytes = 3 * LONG_STRING_BYTES + 17;
  const cases: [string, string][] = [
    ['ASCII', repeatTo('abc', bytes)],
    // 'é' is 2 bytes, '€' 3 and '😀' 4: pieces land inside characters unless cut between them.
    ['UTF-8', repeatTo('é€x😀', bytes)],
    // Escapes, as JSON.stringify writes them and as other clients do: \u pairs may be cut between their halves.
    ['escaped', repeatTo(String.raw`yx\"\\\n\u00e9\ud83d\ude00é€\/\t`, bytes)],
    ['escaped, the escapes at its end alone', 's'.repeat(bytes) + String.raw`\"\n\u0001é`],
  ];
  for (const [what, literal] of cases) {
    const text = await longText(literal);
    const expected = Buffer.from(JSON.parse(`"${literal}"`) as string, 'utf8');
    assert.equal(await text.utf8ByteLength(), expected.byteLength, `${what}: the length`);
    assert.deepEqual(Buffer.from(await text.utf8()), expected, `${what}: the bytes`);
    assert.equal(await text.text(), JSON.parse(`"${literal}"`) as string, `${what}: the text`);
    assert.equal(text.opening(5), (JSON.parse(`"${literal}"`) as string).slice(0, 5), `${what}: its opening`);
  }
  // Bytes that are not UTF-8 are decoded as Buffer's toString decodes them (U+FFFD), as a short string's are.
  const invalid = Buffer.concat([
    Buffer.from('{"v": ["'),
    Buffer.alloc(LONG_STRING_BYTES + 3, 0xff),
    Buffer.from('"]}'),
  ]);
  const read = (await readJson(invalid, { longText: true })) as JsonObject;
  const text = (read.v as JsonValue[])[0] as LongText;
  assert.deepEqual(Buffer.from(await text.utf8()), Buffer.from('\ufffd'.repeat(LONG_STRING_BYTES + 3), 'utf8'));
});

test('base64() gives what Buffer.from(text, "base64") gives, with or without padding, whitespace or escapes', async () => {
  const payload = Buffer.from(Array.from({ length: LONG_STRING_BYTES * 3 + 2 }, (_, i) => (i * 7919) % 256));
  for (const cut of [0, 1, 2]) {
    const data = payload.subarray(0, payload.length - cut);
    const encoded = data.toString('base64');
    for (const [what, literal] of [
      ['plain', encoded],
      ['unpadded', encoded.replace(/=+$/, '')],
      ['URL-safe', data.toString('base64url')],
      [
        'with escaped slashes and a newline',
        `${encoded.slice(0, 1000)}\\n${encoded.slice(1000)}`.replaceAll('/', '\\/'),
      ],
    ]) {
      const text = await longText(literal as string);
      assert.deepEqual(await text.base64(), data, `${data.length} bytes, ${what}`);
    }
  }
});

test('no step joins a long string whole: measuring and encoding 8 MiB take turns of their own', async () => {
  for (const literal of [repeatTo('é€x', 8 << 20), repeatTo(String.raw`ab\n`, 8 << 20), 's'.repeat(8 << 20)]) {
    const text = await longText(literal);
    const { turns } = await turnsWhile(() => text.utf8());
    assert.ok(turns >= 4, `${turns} turns for ${literal.length} bytes`);
  }
});

test("a Predict body's long strings become string tensor elements; its preview quotes its opening, as a short string's does", async () => {
  const long = repeatTo('é"\n', 2 * LONG_STRING_BYTES);
  const body = (await readJson(
    Buffer.from(JSON.stringify({ instances: [long, { b64: 'QUJD'.repeat(LONG_STRING_BYTES) }] })),
    {
      longText: true,
    },
  )) as JsonObject;
  const decoded = await decodePredictBody(body, { x: { name: 'x', dtype: 'string', shape: [-1] } });
  const elements = decoded.inputs.x?.data as Uint8Array[];
  assert.deepEqual(Buffer.from(elements[0] as Uint8Array), Buffer.from(long, 'utf8'));
  assert.deepEqual(Buffer.from(elements[1] as Uint8Array), Buffer.from('ABC'.repeat(LONG_STRING_BYTES)));
  const first = (body.instances as JsonValue[])[0] as JsonValue;
  assert.equal(previewJson(first, 8), previewJson(long.slice(0, 20), 8));
});

test("a Classify or Regress body's long strings become bytes_list elements, decoded in turns of their own", async () => {
  const long = repeatTo('é"\n', 4 << 20);
  const data = Buffer.from('ABC'.repeat(2 << 20));
  const body = (await readJson(
    Buffer.from(
      JSON.stringify({
        context: { c: long },
        examples: [{ s: long, b: { b64: data.toString('base64') }, list: ['short', long], n: 1 }],
      }),
    ),
    { longText: true },
  )) as JsonObject;
  const { turns, value: examples } = await turnsWhile(() => examplesFromJson(body, 'classify'));
  assert.ok(turns >= 4, `${turns} turns`);
  const features = examples[0] as ExampleFeatures;
  const bytes = (name: string, i = 0) => Buffer.from(features[name]?.values[i] as Uint8Array);
  assert.deepEqual(bytes('s'), Buffer.from(long, 'utf8'));
  assert.deepEqual(bytes('c'), Buffer.from(long, 'utf8'));
  assert.deepEqual(bytes('b'), data);
  assert.equal(features.list?.values[0], 'short');
  assert.deepEqual(bytes('list', 1), Buffer.from(long, 'utf8'));
  assert.deepEqual(features.n?.values, [1]);
});
