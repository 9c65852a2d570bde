/** collectBody: a request body into one Buffer, bounded by its Content-Length and --max_request_bytes. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { test } from 'node:test';
import { collectBody } from '../../../src/serving/apis/rest/body-bytes.js';
import { InvalidArgument, PayloadTooLarge } from '../../../src/errors.js';

const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const stream = (chunks: Buffer[]) => Readable.from(chunks, { objectMode: false });

test('a body that arrives as one chunk of its Content-Length is that chunk, not a copy', async () => {
  const chunk = bytes(3300);
  const body = await collectBody(stream([chunk]), '3300', 1 << 20);
  assert.equal(body, chunk);
});

test('a body in several chunks is joined in order, with or without a Content-Length', async () => {
  const whole = bytes(200_000, 7);
  const chunks = [
    whole.subarray(0, 1),
    whole.subarray(1, 65_537),
    whole.subarray(65_537, 150_000),
    whole.subarray(150_000),
  ];
  assert.deepEqual(await collectBody(stream(chunks), String(whole.length), 1 << 20), whole);
  // Chunked: the buffer grows past its first 64 KiB as chunks come.
  assert.deepEqual(await collectBody(stream(chunks), undefined, 1 << 20), whole);
  assert.deepEqual(await collectBody(stream([whole]), undefined, 1 << 20), whole);
  // The joined body is the request's own: later changes to the chunks do not reach it.
  const first = bytes(10);
  const joined = await collectBody(stream([first, bytes(10, 3)]), '20', 100);
  first.fill(0);
  assert.deepEqual(joined.subarray(0, 10), bytes(10));
});

test('an empty body is an empty Buffer', async () => {
  assert.equal((await collectBody(stream([]), '0', 100)).length, 0);
  assert.equal((await collectBody(stream([]), undefined, 100)).length, 0);
});

test('bodies past their Content-Length or the limit, and bad Content-Lengths, are refused', async () => {
  await assert.rejects(collectBody(stream([bytes(10), bytes(10)]), '15', 100), (err: unknown) => {
    assert.ok(err instanceof InvalidArgument);
    assert.match(err.message, /longer than its Content-Length 15/);
    return true;
  });
  await assert.rejects(collectBody(stream([bytes(16)]), '15', 100), /longer than its Content-Length 15/);
  await assert.rejects(collectBody(stream([bytes(60), bytes(60)]), undefined, 100), (err: unknown) => {
    assert.ok(err instanceof PayloadTooLarge);
    assert.match(err.message, /larger than --max_request_bytes=100 bytes/);
    return true;
  });
  await assert.rejects(collectBody(stream([bytes(101)]), undefined, 100), PayloadTooLarge);
  await assert.rejects(collectBody(stream([]), '101', 100), PayloadTooLarge);
  await assert.rejects(collectBody(stream([]), '1.5', 100), /Content-Length is not a byte count: 1.5/);
  await assert.rejects(collectBody(stream([]), '-1', 100), InvalidArgument);
});

test('a stream error rejects, and a refused body is still read to its end', async () => {
  const failing = new Readable({ read() {} });
  const collected = collectBody(failing, undefined, 100);
  failing.push(bytes(5));
  failing.destroy(new Error('connection reset'));
  await assert.rejects(collected, /connection reset/);
  const rest = stream([bytes(60), bytes(60), bytes(60)]);
  await assert.rejects(collectBody(rest, undefined, 100), PayloadTooLarge);
  await finished(rest);
  assert.ok(rest.readableEnded);
});
