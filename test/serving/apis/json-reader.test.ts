/** The REST body reader: TF Serving's JSON rules, bounded depth, packed numeric arrays, bounded messages. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PackedArray } from '../../../src/serving/apis/rest/json-packed.js';
import {
  LONG_STRING_BYTES,
  MAX_JSON_DEPTH,
  readJson,
  type JsonObject,
  type JsonValue,
} from '../../../src/serving/apis/rest/json-reader.js';
import { decodePredictBody, jsonToTensor } from '../../../src/serving/apis/rest/json-tensors.js';
import { previewJson } from '../../../src/serving/apis/rest/json-values.js';
import { turnsWhile } from '../../helpers/turns.js';

const read = (text: string, sliceBytes?: number) => readJson(Buffer.from(text), { sliceBytes });

/** Packed arrays back to plain JS values (their text is plain JSON when it holds no NaN tokens). */
function plain(value: JsonValue): unknown {
  if (value instanceof PackedArray) {
    return JSON.parse(Buffer.from(value.bytes.subarray(value.start, value.end)).toString('utf8'));
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** A seeded generator of JSON documents mixing every kind of value, ragged and rectangular arrays. */
function randomDocument(seed: number): unknown {
  let s = seed >>> 0;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const scalar = (): unknown => {
    const r = rand();
    if (r < 0.4) return Math.round((rand() - 0.5) * 1e6) / 10 ** Math.floor(rand() * 8);
    if (r < 0.5) return rand() < 0.5;
    if (r < 0.55) return null;
    if (r < 0.6) return Math.floor(rand() * 1e15) * 1e10;
    return ['', 'a', 'é\u00e9', 'line\nbreak', '"quoted"', '\\', '\u2028', '😀', '\u0000x'][Math.floor(rand() * 9)];
  };
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 5 || r < 0.35) return scalar();
    if (r < 0.55) {
      // A rectangular numeric block: packed by the reader.
      const rows = Math.floor(rand() * 4);
      const cols = Math.floor(rand() * 4);
      return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.round(rand() * 1000) / 8));
    }
    if (r < 0.8) return Array.from({ length: Math.floor(rand() * 5) }, () => value(depth + 1));
    const object: Record<string, unknown> = {};
    const n = Math.floor(rand() * 5);
    for (let i = 0; i < n; i++) object[`k${i}${rand() < 0.2 ? ' é' : ''}`] = value(depth + 1);
    return object;
  };
  return { doc: value(0) };
}

test('documents read back equal to JSON.parse, at any slice size', async () => {
  for (let seed = 1; seed <= 300; seed++) {
    const text = JSON.stringify(randomDocument(seed), null, seed % 3 === 0 ? 2 : undefined);
    const expected = JSON.parse(text) as unknown;
    assert.deepEqual(plain(await read(text)), expected, `seed ${seed}`);
    assert.deepEqual(plain(await read(text, 1 + (seed % 7))), expected, `seed ${seed}, tiny slices`);
  }
});

test('syntax errors are refused where JSON.parse refuses them, with rapidjson messages and offsets', async () => {
  const cases: [string, RegExp][] = [
    ['{"a": 1,}', /Missing a name for object member\. at offset: 8/],
    ['[1, 2,]', /Invalid value\. at offset: 6/],
    ['{"a" 1}', /Missing a colon after a name of object member/],
    ['{"a": 1 "b": 2}', /Missing a comma or '}' after an object member/],
    ['[1 2]', /Missing a comma or '\]' after an array element/],
    ['"abc', /Missing a closing quotation mark in string/],
    ['"a\u0001b"', /Invalid encoding in string/],
    ['"\\x"', /Invalid escape character in string/],
    ['"\\u12G4"', /Incorrect hex digit after \\u escape/],
    ['1.', /Miss fraction part in number/],
    ['1e+', /Miss exponent in number/],
    ['{} {}', /The document root must not be followed by other values/],
    ['tru', /Invalid value/],
    ['-', /Invalid value/],
    ['   ', /The document is empty/],
  ];
  for (const [text, message] of cases) {
    await assert.rejects(read(text), message, text);
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse also refuses ${text}`);
  }
});

test('NaN, Infinity and -Infinity are numbers; other spellings and strings are not', async () => {
  const body = (await read(
    '{"x": [NaN, Infinity, -Infinity], "y": NaN, "s": "\\u0000flowserve:Infinity"}',
  )) as JsonObject;
  assert.ok(body.x instanceof PackedArray);
  assert.deepEqual((await jsonToTensor(body.x, 'float64', 'x')).toNumbers(), [NaN, Infinity, -Infinity]);
  assert.ok(Number.isNaN(body.y));
  assert.equal(body.s, '\u0000flowserve:Infinity');
  for (const text of ['nan', '-NaN', 'Inf', 'infinity', '+1']) await assert.rejects(read(`[${text}]`), /Invalid value/);
});

test('a number too big for a double is refused as rapidjson does; tiny ones round to zero', async () => {
  for (const text of ['1e400', '-1e400', '[1, 2e309]', `{"a": ${'9'.repeat(400)}}`]) {
    await assert.rejects(read(text), /JSON Parse error: Number too big to be stored in double\. at offset: \d+/, text);
  }
  assert.equal(await read('1e-400'), 0);
  assert.equal(await read('1.7976931348623157e308'), Number.MAX_VALUE);
});

test('numbers convert exactly as Number() does', async () => {
  const literals = [
    '0.1',
    '-0.30000000000000004',
    '123456789012345',
    '1234567890123456789',
    '5e-324',
    '2.5e-7',
    '0.000001234',
    '9007199254740993',
    '1e22',
    '1e23',
    '-0',
    '3.14159265358979323846',
  ];
  const body = (await read(`[${literals.join(',')}]`)) as PackedArray;
  const values = (await jsonToTensor(body, 'float64', 'x')).toNumbers();
  literals.forEach((literal, i) => assert.ok(Object.is(values[i], Number(literal)), literal));
});

test('nesting deeper than the limit is a 400 naming the depth and the limit, not a stack overflow', async () => {
  const depth = 100_000;
  for (const open of ['[', '{"a":']) {
    const text = open.repeat(depth);
    const err = await read(text).then(
      () => assert.fail('accepted'),
      (e: unknown) => e as Error & { httpStatus: number },
    );
    assert.equal(err.httpStatus, 400);
    assert.match(err.message, new RegExp(`depth ${MAX_JSON_DEPTH + 1} exceeds the maximum depth ${MAX_JSON_DEPTH}`));
  }
  const deepest = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
  assert.ok((await read(deepest)) instanceof PackedArray);
});

test('rectangular numeric arrays are packed; ragged or mixed ones are ordinary arrays in order', async () => {
  const packed = (await read('[[1, 2, 3], [4, 5, 6]]')) as PackedArray;
  assert.ok(packed instanceof PackedArray);
  assert.deepEqual(packed.shape, [2, 3]);
  assert.equal(packed.kind, 'number');
  assert.deepEqual(((await read('[[true], [false]]')) as PackedArray).shape, [2, 1]);
  assert.deepEqual(((await read('[[], []]')) as PackedArray).shape, [2, 0]);
  const ragged = (await read('[[1, 2], [3]]', 3)) as JsonValue[];
  assert.ok(Array.isArray(ragged));
  assert.deepEqual(plain(ragged), [[1, 2], [3]]);
  assert.deepEqual(plain(await read('[1, 2, 3, "x", 4]', 2)), [1, 2, 3, 'x', 4]);
  assert.deepEqual(plain(await read('[true, 1]')), [true, 1]);
  assert.deepEqual(plain(await read('[[[1], [2]], [[3], [4, 5]]]')), [
    [[1], [2]],
    [[3], [4, 5]],
  ]);
});

test('"__proto__" is an ordinary member; duplicate members keep the first, as TF Serving reads them', async () => {
  const body = (await read('{"__proto__": {"polluted": 1}, "a": 1, "a": 2}')) as JsonObject;
  assert.equal(Object.getPrototypeOf(body), null);
  assert.deepEqual(plain(body.__proto__ as JsonValue), { polluted: 1 });
  assert.equal(body.a, 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('ordinary values past the memory budget are refused; packed numbers do not count', async () => {
  const strings = JSON.stringify({ s: Array.from({ length: 10_000 }, () => 'abc') });
  await assert.rejects(readJson(Buffer.from(strings), { maxValueBytes: 100_000 }), /more than 100000 bytes/);
  const numbers = JSON.stringify({ x: Array.from({ length: 100_000 }, (_, i) => i) });
  assert.ok(((await readJson(Buffer.from(numbers), { maxValueBytes: 1000 })) as JsonObject).x instanceof PackedArray);
});

test('the marker string and other strings are refused as floats, quoting a short prefix', async () => {
  const specs = { x: { name: 'x', dtype: 'float32' as const, shape: [-1] } };
  const marker = (await read('{"instances": ["\\u0000flowserve:Infinity"]}')) as JsonObject;
  await assert.rejects(decodePredictBody(marker, specs), /Type: String is not of expected type: float/);
  const long = (await read(JSON.stringify({ instances: ['y'.repeat(2_000_000)] }))) as JsonObject;
  const err = await decodePredictBody(long, specs).then(
    () => assert.fail('accepted'),
    (e: unknown) => e as Error,
  );
  assert.ok(err.message.length < 200, `message of ${err.message.length} chars`);
  assert.ok(previewJson('z'.repeat(1_000_000)).length <= 70);
});

test('packed values are checked against the dtype in order, naming the first bad one', async () => {
  const ints = { x: { name: 'x', dtype: 'int32' as const, shape: [-1] } };
  const body = (await read('{"inputs": [1, 2, 2.5, 3e10]}')) as JsonObject;
  await assert.rejects(decodePredictBody(body, ints), /JSON Value: 2.5 Type: Number is not of expected type: int32/);
  const bools = (await read('{"inputs": [true, false]}')) as JsonObject;
  await assert.rejects(decodePredictBody(bools, ints), /JSON Value: true Type: True is not of expected type: int32/);
  const big = (await read(`{"inputs": [${'1'.repeat(300)}]}`)) as JsonObject;
  const err = await decodePredictBody(big, ints).then(
    () => assert.fail('accepted'),
    (e: unknown) => e as Error,
  );
  assert.ok(err.message.length < 200);
});

/** How many turns of the event loop pass while `text` is read in slices of `sliceBytes`. */
async function turnsWhileReading(text: string, sliceBytes: number): Promise<{ turns: number; value: JsonValue }> {
  return turnsWhile(() => read(text, sliceBytes));
}

test('a body of short strings yields in proportion to its values, not only its bytes', async () => {
  // Each string is made and kept (and copied by the scavenges): a 256 KiB slice of `"a",` held the event loop for
  // 20–27 ms, one of numbers 8–10 ms.
  const strings = 50_000;
  const sliceBytes = 16 * 1024;
  const { turns, value } = await turnsWhileReading(JSON.stringify(new Array<string>(strings).fill('a')), sliceBytes);
  assert.equal((value as string[]).length, strings);
  // Each ordinary value spends 32 bytes of the slice: here the string and its place in the array, 64 per string.
  assert.ok(turns >= (strings * 64) / sliceBytes - 1, `${turns} turns for ${strings} strings`);
  // Packed numbers are read by bytes alone: the same bytes of them take a fraction of those turns.
  const numbers = await turnsWhileReading(JSON.stringify(new Array<number>(strings * 2).fill(0)), sliceBytes);
  assert.ok(numbers.value instanceof PackedArray);
  assert.ok(numbers.turns <= (strings * 4) / sliceBytes + 2, `${numbers.turns} turns for ${strings * 2} numbers`);
});

test('a long string is decoded a piece a turn, whole and exact (UTF-8 and escapes kept whole), as a value or a key', async () => {
  const ascii = 's'.repeat(LONG_STRING_BYTES * 5 + 5);
  // 'é' is 2 bytes, '€' 3: pieces of 2 MiB land inside characters unless cut between them.
  const utf8 = 'é€x'.repeat(LONG_STRING_BYTES);
  for (const long of [ascii, utf8]) {
    const { turns, value } = await turnsWhileReading(JSON.stringify({ a: [long, 1], [long]: 'key' }), 1 << 30);
    const object = value as JsonObject;
    assert.equal((object.a as JsonValue[])[0] === long, true, 'the value decodes exactly');
    assert.equal(object[long], 'key', 'so does the key');
    // Two long strings of 3 or more pieces each: a turn between pieces, though the slice is the whole body.
    assert.ok(turns >= 4, `${turns} turns while decoding ${Buffer.byteLength(long)} bytes twice`);
  }
  // Escapes, as a JSON text writes them: pieces are cut between escapes (and characters), and a surrogate pair
  // written as two \u escapes may be cut between its halves. 35 bytes a repeat: the 2 MiB cuts fall inside escapes.
  const escapes = String.raw`yx\"\\\n\u00e9\ud83d\ude00é€\/\t`;
  const body = `{"a": ["${escapes.repeat(Math.ceil((3 * LONG_STRING_BYTES) / escapes.length))}", 1]}`;
  const expected = (JSON.parse(body) as { a: string[] }).a[0];
  const { turns, value } = await turnsWhileReading(body, 1 << 30);
  assert.equal(((value as JsonObject).a as JsonValue[])[0] === expected, true, 'an escaped string decodes exactly');
  assert.ok(turns >= 2, `${turns} turns while decoding an escaped string of ${body.length} bytes`);
  // Taking part of a string of pieces copies it whole first: the preview gives its length instead.
  assert.equal(previewJson([ascii]), `[<a string of ${ascii.length} characters>]`);
  assert.equal(previewJson(['short']), '["short"]');
});

test('array elements and object members past maxItems are refused; packed numbers do not count', async () => {
  const items = (count: number) => JSON.stringify({ s: new Array<string>(count).fill('a') });
  // The object member "s" is one item, its elements the others.
  const atLimit = (await readJson(Buffer.from(items(999)), { maxItems: 1000 })) as JsonObject;
  assert.equal((atLimit.s as string[]).length, 999);
  await assert.rejects(
    readJson(Buffer.from(items(1000)), { maxItems: 1000 }),
    /JSON body: more than 1000 array elements and object members outside arrays of numbers, at offset: \d+/,
  );
  // A packed prefix demoted by a later string is counted when it is re-read as ordinary items.
  const mixed = JSON.stringify({ s: [...new Array<number>(1500).fill(0), 'a'] });
  await assert.rejects(readJson(Buffer.from(mixed), { maxItems: 1000 }), /more than 1000 array elements/);
  const numbers = JSON.stringify({ x: new Array<number>(100_000).fill(1) });
  assert.ok(((await readJson(Buffer.from(numbers), { maxItems: 10 })) as JsonObject).x instanceof PackedArray);
});
