/**
 * The reader's float32 conversion during the scan (json-reader.ts rule 8): every value exactly
 * Math.fround(Number(literal)), the same tensors and the same errors as the conversion after the scan, and a bounded
 * store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PackedArray } from '../../../src/serving/apis/rest/json-packed.js';
import {
  MAX_FLOAT32_SCAN_BYTES,
  MAX_FLOAT32_VALUES,
  readJson,
  type JsonObject,
  type JsonValue,
} from '../../../src/serving/apis/rest/json-reader.js';
import { decodePredictBody, jsonToTensor } from '../../../src/serving/apis/rest/json-tensors.js';
import { xorshift32 as random } from '../../helpers/xorshift.js';

const readFloat32 = (text: string, sliceBytes?: number) =>
  readJson(Buffer.from(text), { float32Values: true, sliceBytes });

/** The float32 next to `f` away from zero (its bit pattern plus one). */
function nextFloat32(f: number): number {
  const view = new Float32Array([f]);
  const bits = new Uint32Array(view.buffer);
  bits[0] = (bits[0] as number) + 1;
  return view[0] as number;
}

/** Literals of every form a client may print: shortest, 17 digits, fixed, exponents, midpoints, long, tokens. */
function literals(seed: number, count: number): string[] {
  const next = random(seed);
  const out: string[] = [];
  while (out.length < count) {
    const value = (next() - 0.5) * 10 ** Math.floor(next() * 16 - 8);
    const low = Math.fround(Math.abs(value) + 1e-30);
    const midpoint = (low + nextFloat32(low)) / 2;
    const forms = [
      JSON.stringify(value),
      value.toPrecision(17),
      value.toFixed(Math.min(20, Math.max(0, 12 - Math.floor(Math.log10(Math.abs(value) || 1))))),
      value.toExponential(8),
      midpoint.toPrecision(17),
      midpoint.toPrecision(21),
      String(Math.round(value)),
      `0.${'0'.repeat(Math.floor(next() * 12))}${Math.floor(next() * 1e9)}`,
    ];
    out.push(forms[Math.floor(next() * forms.length)] as string);
  }
  return out;
}

const SPECIAL = [
  '0',
  '-0',
  '0.0',
  '-0.000',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e-50',
  '3.4028235677973366e38',
  '16777217',
];
// Longer than numberRun's own literals (300 bytes): scanNumber converts them.
const LONG = [`0.${'3'.repeat(400)}`, `-${'1'.repeat(30)}.${'7'.repeat(300)}`];

function assertFloat32Values(packed: JsonValue, texts: readonly string[], context: string): void {
  assert.ok(packed instanceof PackedArray, `${context}: packed`);
  assert.ok(packed.float32, `${context}: the scan converted the elements`);
  assert.equal(packed.float32.length, texts.length, context);
  texts.forEach((text, i) => {
    const expected = Math.fround(Number(text));
    const actual = packed.float32?.[i];
    assert.ok(Object.is(actual, expected), `${context}: ${text} → ${actual}, Math.fround(Number()) ${expected}`);
  });
}

test('packed numbers converted during the scan equal Math.fround(Number(literal)), whatever the spacing', async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const texts = [...literals(seed, 500), ...SPECIAL, ...LONG];
    for (const separator of [',', ', ', ',\n    ', ' , ']) {
      const text = `[${texts.join(separator)}]`;
      assertFloat32Values(await readFloat32(text), texts, `seed ${seed} '${separator}'`);
      assertFloat32Values(await readFloat32(text, 1 + (seed % 13)), texts, `seed ${seed} '${separator}', slices`);
    }
  }
});

test('nested packed arrays carry their elements in row-major order', async () => {
  const texts = literals(3, 24);
  const rows = [0, 1, 2, 3].map((r) => `[${texts.slice(r * 6, r * 6 + 6).join(', ')}]`);
  const body = (await readFloat32(
    `{"signature_name": "s", "instances": [${rows.join(', ')}], "x": [1.5]}`,
  )) as JsonObject;
  assertFloat32Values(body.instances as JsonValue, texts, 'instances');
  assert.deepEqual((body.instances as PackedArray).shape, [4, 6]);
  assertFloat32Values(body.x as JsonValue, ['1.5'], 'x');
});

test('arrays before, across and after a growth of the store keep their own values', async () => {
  const arrays = [700, 700, 1500, 3, 5000].map((n, k) => literals(100 + k, n));
  const text = `{${arrays.map((texts, k) => `"a${k}": [${texts.join(',')}]`).join(', ')}}`;
  const body = (await readFloat32(text)) as JsonObject;
  arrays.forEach((texts, k) => assertFloat32Values(body[`a${k}`] as JsonValue, texts, `a${k}`));
});

test('values converted for one body stay as they were while other bodies are read, one after another or together', async () => {
  const bodies = [1, 2, 3, 4, 5, 6].map((seed) => literals(200 + seed, 300 + 50 * seed));
  const text = (texts: readonly string[]) => `{"instances": [[${texts.join(',')}]]}`;
  const first = (await readFloat32(text(bodies[0] as string[]))) as JsonObject;
  const second = (await readFloat32(text(bodies[1] as string[]))) as JsonObject;
  assertFloat32Values(first.instances as JsonValue, bodies[0] as string[], 'first body, after the second was read');
  assertFloat32Values(second.instances as JsonValue, bodies[1] as string[], 'second body');
  // Read in slices of a few bytes, the bodies' reads interleave at every yield.
  const together = await Promise.all(bodies.map((texts, k) => readFloat32(text(texts), 5 + k)));
  together.forEach((body, k) =>
    assertFloat32Values((body as JsonObject).instances as JsonValue, bodies[k] as string[], `body ${k}, together`),
  );
  await assert.rejects(readFloat32('{"instances": [[0.5, 1.5, x]]}'), /Invalid value/);
  const after = (await readFloat32(text(bodies[2] as string[]))) as JsonObject;
  assertFloat32Values(after.instances as JsonValue, bodies[2] as string[], 'a body after a refused one');
});

test('a tensor takes the converted values as its storage; the array converts again from its text', async () => {
  const packed = (await readFloat32('[[0.25, 1.5], [2.75, -4]]')) as PackedArray;
  const values = packed.float32;
  const tensor = await jsonToTensor(packed, 'float32', 'x');
  assert.equal(tensor.data, values, 'no copy');
  assert.equal(packed.float32, undefined);
  assert.deepEqual((await jsonToTensor(packed, 'float32', 'x')).toNumbers(), [0.25, 1.5, 2.75, -4]);
});

test('float32 tensors decoded from the scan equal those converted after it, bit for bit', async () => {
  const specs = { x: { name: 'x', dtype: 'float32' as const, shape: [-1, 50] } };
  for (let seed = 1; seed <= 20; seed++) {
    const texts = [...literals(seed, 98), 'NaN', '-0'];
    const text = `{"instances": [[${texts.slice(0, 50).join(',')}], [${texts.slice(50).join(', ')}]]}`;
    const scanned = await decodePredictBody((await readFloat32(text)) as JsonObject, specs);
    const after = await decodePredictBody((await readJson(Buffer.from(text))) as JsonObject, specs);
    const bits = (t: typeof scanned) => Array.from(new Uint32Array((t.inputs.x?.data as Float32Array).slice().buffer));
    assert.deepEqual(bits(scanned), bits(after), `seed ${seed}`);
    assert.deepEqual(scanned.inputs.x?.shape, [2, 50]);
  }
});

test('past MAX_FLOAT32_VALUES the scan stops converting, and the tensor is converted after admission', async () => {
  const first = Array.from({ length: MAX_FLOAT32_VALUES - 10 }, (_, i) => `${i % 10}.5`);
  const second = Array.from({ length: 100 }, (_, i) => `-${i}.5`);
  const body = (await readFloat32(`{"a": [${first.join(',')}], "b": [${second.join(',')}]}`)) as JsonObject;
  assert.ok((body.a as PackedArray).float32, 'the first array fits the store');
  assert.equal((body.b as PackedArray).float32, undefined, 'the store is full: no values for the second');
  const b = await jsonToTensor(body.b as JsonValue, 'float32', 'b');
  assert.deepEqual(b.toNumbers(), second.map(Number));
  const whole = (await readFloat32(`[${[...first, ...second].join(',')}]`)) as PackedArray;
  assert.equal(whole.float32, undefined, 'an array longer than the store is not held twice');
  assert.equal((await jsonToTensor(whole, 'float32', 'x')).toNumbers()[MAX_FLOAT32_VALUES + 50], -60.5);
});

test('a body larger than MAX_FLOAT32_SCAN_BYTES is not converted during the scan at all', async () => {
  const padding = 'p'.repeat(MAX_FLOAT32_SCAN_BYTES);
  const body = (await readFloat32(`{"x": [0.5, 1.5], "padding": "${padding}"}`)) as JsonObject;
  assert.equal((body.x as PackedArray).float32, undefined);
  assert.deepEqual((await jsonToTensor(body.x as JsonValue, 'float32', 'x')).toNumbers(), [0.5, 1.5]);
  const small = (await readFloat32(`{"x": [0.5, 1.5], "padding": "${padding.slice(100)}"}`)) as JsonObject;
  assert.deepEqual(Array.from((small.x as PackedArray).float32 ?? []), [0.5, 1.5]);
});

/** Packed arrays back to plain values through JSON.parse of their text; their float32 values checked against it. */
function plainChecked(value: JsonValue): unknown {
  if (value instanceof PackedArray) {
    const parsed = JSON.parse(Buffer.from(value.bytes.subarray(value.start, value.end)).toString('latin1')) as unknown;
    const flat = [parsed].flat(Infinity) as number[];
    value.float32?.forEach((v, i) => assert.ok(Object.is(v, Math.fround(flat[i] as number)), `element ${i}`));
    return parsed;
  }
  if (Array.isArray(value)) return value.map(plainChecked);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainChecked(v)]));
  }
  return value;
}

test('arrays that turn out not to be packed read as without the conversion, in order', async () => {
  const texts = [
    '[1.5, 2.5, "x", 3.5]',
    '[[0.5, 1.5], "x", [2.5, 3.5]]',
    '[[1.25], [2.25, 3.25], [4.25]]',
    '[[1, 2], [true, false], [3, 4]]',
    '{"a": [0.1, [0.2]], "b": [[0.3, 0.4], [0.5, 0.6]], "c": [[], [0.7]]}',
    '[[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], 0.7], [[0.8, 0.9], [1.1, 1.2]]]',
  ];
  for (const text of texts) {
    for (const sliceBytes of [undefined, 1, 4]) {
      const expected = JSON.parse(text) as unknown;
      assert.deepEqual(plainChecked(await readFloat32(text, sliceBytes)), expected, `${text} slices ${sliceBytes}`);
    }
  }
  const b = ((await readFloat32(texts[4] as string)) as JsonObject).b as PackedArray;
  assert.deepEqual(Array.from(b.float32 ?? []), [0.3, 0.4, 0.5, 0.6].map(Math.fround));
});

test('malformed numbers after the first element are refused with the same messages and offsets', async () => {
  const cases: [string, string][] = [
    ['[1,01]', "Missing a comma or ']' after an array element. at offset: 4"],
    ['[1,1.]', 'Miss fraction part in number. at offset: 5'],
    ['[1,1.5e]', 'Miss exponent in number. at offset: 7'],
    ['[1,-]', 'Invalid value. at offset: 3'],
    ['[1,-x]', 'Invalid value. at offset: 3'],
    ['[1,2e400]', 'Number too big to be stored in double. at offset: 3'],
    [`[1,${'9'.repeat(400)}]`, 'Number too big to be stored in double. at offset: 3'],
    [`[1,0.${'1'.repeat(5000)}]`, 'Number literal of 5002 bytes is longer than 4096 bytes. at offset: 3'],
    ['[1,1', "Missing a comma or ']' after an array element. at offset: 4"],
    ['[1,1.', 'Miss fraction part in number. at offset: 5'],
    ['[1,2,]', 'Invalid value. at offset: 5'],
    ['[1,-Infinity,-Infinit]', 'Invalid value. at offset: 13'],
    ['[[1,2],[3,4.]]', 'Miss fraction part in number. at offset: 12'],
  ];
  for (const [text, message] of cases) {
    for (const float32Values of [false, true]) {
      for (const sliceBytes of [undefined, 1, 3]) {
        await assert.rejects(
          readJson(Buffer.from(text), { float32Values, sliceBytes }),
          { message: `JSON Parse error: ${message}` },
          `${text.slice(0, 40)} float32Values ${float32Values} slices ${sliceBytes}`,
        );
      }
    }
  }
});
