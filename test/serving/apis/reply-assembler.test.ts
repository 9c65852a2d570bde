/** Large REST replies assembled a slice at a time: the same bytes as the one-string encoders, limits counted exactly. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceExhausted } from '../../../src/errors.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { LONG_ELEMENT_BYTES, tensorPieces } from '../../../src/serving/apis/rest/json-format.js';
import { encodePredictResponse, predictResponsePieces } from '../../../src/serving/apis/rest/json-tensors.js';
import { WorkSlices } from '../../../src/serving/apis/rest/json-reader.js';
import { isB64Object, longBase64Value, longUtf8Value } from '../../../src/serving/apis/rest/json-values.js';
import { assembleJson, ReplyAssembler, SLICE_BYTES } from '../../../src/serving/apis/rest/reply-assembler.js';
import { checkReplyBytes, jsonTensorBytes } from '../../../src/serving/apis/shared/reply-limit.js';
import { xorshift32 } from '../../helpers/xorshift.js';
import { turnsWhile } from '../../helpers/turns.js';

/** Text with every character JSON escapes (all controls, quote, backslash), multi-byte ones, and plain runs. */
function awkwardText(chars: number, seed: number): string {
  const next = xorshift32(seed);
  const alphabet = ['"', '\\', '\u007f', 'é', '€', '😀', '\u2028', 'a', 'plain run of text '];
  for (let c = 0; c < 0x20; c++) alphabet.push(String.fromCharCode(c));
  let text = '';
  while (text.length < chars) text += alphabet[Math.floor(next() * alphabet.length)];
  return text;
}

async function assembled(write: (reply: ReplyAssembler) => Promise<void> | void, maxBytes = Infinity) {
  const reply = new ReplyAssembler(maxBytes);
  await write(reply);
  return (await reply.toBuffer()).toString('utf8');
}

test('a long UTF-8 string is escaped slice by slice into what JSON.stringify writes', async () => {
  for (const text of [
    awkwardText(100, 1),
    awkwardText(SLICE_BYTES + 3, 2),
    'x'.repeat(2 * SLICE_BYTES + 1),
    `${'y'.repeat(SLICE_BYTES - 1)}"\n${'z'.repeat(SLICE_BYTES)}\u0001`,
    '',
  ]) {
    const bytes = Buffer.from(text, 'utf8');
    assert.equal(await assembled((r) => r.writeJsonString(bytes)), JSON.stringify(text), `${text.length} chars`);
  }
});

test('long bytes as {"b64": …} are encoded in slices with no padding inside', async () => {
  for (const length of [0, 1, 2, SLICE_BYTES - 1, SLICE_BYTES, SLICE_BYTES + 1, 2 * SLICE_BYTES + 5]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 7919) & 0xff);
    const expected = `{"b64": "${Buffer.from(bytes).toString('base64')}"}`;
    assert.equal(await assembled((r) => r.writeBase64Json(bytes)), expected, `${length} bytes`);
  }
});

test('text, bytes and escaped strings come out in the order written', async () => {
  const text = await assembled(async (r) => {
    r.write('{"a": ');
    await r.writeJsonString(Buffer.from('x\ty'));
    r.writeBytes(Buffer.from(', "b": 1'));
    r.write('}');
  });
  assert.equal(text, '{"a": "x\\ty", "b": 1}');
});

test('the reply is refused as soon as it passes its limit, naming the flag; the limit itself fits', async () => {
  const bytes = Buffer.from('a'.repeat(1000));
  assert.equal((await assembled((r) => r.writeJsonString(bytes), 1002)).length, 1002);
  await assert.rejects(
    assembled((r) => r.writeJsonString(bytes), 1001),
    (err: unknown) => err instanceof ResourceExhausted && /--max_response_bytes=1001/.test(err.message),
  );
  await assert.rejects(
    assembled((r) => r.write('x'.repeat(100_000)), 99_999),
    /the reply takes more than --max_response_bytes=99999 bytes/,
  );
});

/** The reply through both encoders: one string (small replies) and assembled (large ones). */
async function bothWays(format: 'row' | 'columnar', outputs: Record<string, HostTensor>) {
  const text = encodePredictResponse(format, outputs);
  const buffer = await assembleJson(predictResponsePieces(format, outputs), Infinity);
  assert.equal(buffer.toString('utf8'), text);
  return text;
}

test('assembled predict replies are byte for byte the one-string encoding, long elements included', async () => {
  const floats = new HostTensor(
    'float32',
    [300, 7, 11],
    Float32Array.from({ length: 300 * 77 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4)),
  );
  const long = awkwardText(LONG_ELEMENT_BYTES + 10, 3);
  const notUtf8 = Uint8Array.from({ length: LONG_ELEMENT_BYTES * 2 }, (_, i) => (i % 3 === 0 ? 0xff : 0x41));
  const strings = new HostTensor('string', [2, 2], [Buffer.from(long), Buffer.from('short'), notUtf8, Buffer.from('')]);
  const ints = HostTensor.from('int64', [[1n], [-9223372036854775808n]]);
  for (const format of ['row', 'columnar'] as const) {
    await bothWays(format, { y: floats });
    const text = await bothWays(format, { s: strings });
    const parsed = JSON.parse(text) as Record<string, unknown[][]>;
    const rows = parsed[format === 'row' ? 'predictions' : 'outputs'] as unknown[][];
    assert.equal(rows[0]?.[0], long);
    assert.deepEqual(rows[1]?.[0], { b64: Buffer.from(notUtf8).toString('base64') });
    await bothWays(format, {
      out_bytes: strings,
      ints: HostTensor.from('int64', [
        [1n, 2n],
        [3n, 4n],
      ]),
    });
    await bothWays(format, { a: ints, b: HostTensor.from('bool', [[true], [false]]) });
    await bothWays(format, { empty: new HostTensor('float32', [2, 0], new Float32Array(0)) });
  }
  await bothWays('columnar', { scalar: HostTensor.from('float32', 2.5) });
});

test('tensor pieces stay bounded: long elements alone, text in pieces of about 64 Ki characters', () => {
  const floats = new HostTensor('float32', [100_000], new Float32Array(100_000).fill(0.125));
  const pieces = [...tensorPieces(floats, 'y')];
  assert.ok(pieces.length > 10);
  for (const piece of pieces) assert.ok(typeof piece === 'string' && piece.length < 65_600, 'a bounded text piece');
  const long = Buffer.alloc(LONG_ELEMENT_BYTES, 0x61);
  const strings = [...tensorPieces(new HostTensor('string', [3], [Buffer.from('a'), long, Buffer.from('b')]), 'y')];
  assert.deepEqual(strings, ['["a", ', { bytes: long, asBase64: false }, ', "b"]']);
});

test('assembling gives the event loop back while it writes', async () => {
  const floats = new HostTensor(
    'float32',
    [400_000],
    Float32Array.from({ length: 400_000 }, (_, i) => i / 3),
  );
  const { turns } = await turnsWhile(() => assembleJson(predictResponsePieces('row', { y: floats }), Infinity));
  assert.ok(turns > 1, `the loop turned ${turns} times while 400,000 floats were written`);
});

test('the JSON reply bound counts escapes exactly for short strings, and bytes for long ones', () => {
  const text = 'a"\\\n\u0001é';
  const short = HostTensor.from('string', [text]);
  // 64 bytes of frame, the alias twice, 4 per element and the string as JSON.stringify writes it.
  assert.equal(jsonTensorBytes(short, 'y'), 64 + 2 + 4 + Buffer.byteLength(JSON.stringify(text)));
  const long = new HostTensor('string', [1], [Buffer.alloc(LONG_ELEMENT_BYTES, 0x01)]);
  assert.equal(jsonTensorBytes(long, 'y'), 64 + 2 + 4 + LONG_ELEMENT_BYTES + 2);
  assert.equal(checkReplyBytes({ y: short }, 1000, jsonTensorBytes), jsonTensorBytes(short, 'y'));
});

test('long strings and base64 are decoded as Buffer.from decodes them', async () => {
  for (const text of [awkwardText(3000, 4), 'ab\ud800c', '']) {
    assert.deepEqual(Buffer.from(await longUtf8Value(text)), Buffer.from(text, 'utf8'));
  }
  for (const b64 of ['aGVsbG8=', 'aGVsbG8', '', 'not base64!', 'a-_b']) {
    assert.deepEqual(await longBase64Value(b64), Buffer.from(b64, 'base64'), b64);
  }
  assert.equal(isB64Object({ b64: 'aGk=' }), true);
  assert.equal(isB64Object({ b64: 'aGk=', x: 1 }), false);
  assert.equal(isB64Object({ b64: 1 }), false);
  assert.equal(isB64Object('aGk='), false);
});

test('work slices: a long string waits for a turn of its own', () => {
  const slices = new WorkSlices(100);
  assert.equal(slices.full(1), false, 'the first work never waits');
  assert.equal(slices.full(60), false);
  assert.equal(slices.full(60), true, 'past the share: the loop is given back first');
  assert.equal(slices.full(500), true, 'a long one after other work gets a turn of its own');
  assert.equal(slices.full(1), true, 'and the work after it waits too');
  assert.equal(slices.full(1), false);
});
