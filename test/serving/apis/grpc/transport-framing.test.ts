/** The gRPC transport's message framing: reassembly across chunks, the limit on the prefix, memory following data. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  frameMessage,
  framedChunks,
  MessageReader,
} from '../../../../src/serving/apis/grpc/transport/message-framing.js';

function readAll(reader: MessageReader, chunks: Buffer[]): { body: Buffer; compressed: boolean }[] {
  const out: { body: Buffer; compressed: boolean }[] = [];
  for (const chunk of chunks)
    reader.push(chunk, (body, compressed) => out.push({ body: Buffer.from(body), compressed }));
  return out;
}

function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

describe('gRPC message framing', () => {
  it('reads several messages, empty ones included, from one chunk and from chunks cut anywhere', () => {
    const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.from('third message')];
    const wire = Buffer.concat(messages.map((m) => frameMessage(m)));
    for (const size of [wire.length, 1, 2, 3, 7]) {
      const read = readAll(new MessageReader(1024), chunked(wire, size));
      assert.deepEqual(
        read.map((m) => m.body.toString()),
        messages.map((m) => m.toString()),
        `chunks of ${size}`,
      );
    }
  });

  it('reassembles a message larger than the preallocation threshold from many chunks', () => {
    const message = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < message.length; i++) message[i] = i % 251;
    const read = readAll(new MessageReader(8 * 1024 * 1024), chunked(frameMessage(message), 16_384));
    assert.equal(read.length, 1);
    assert.ok(read[0]?.body.equals(message));
  });

  it('frames a large message as its prefix and the message itself, uncopied', () => {
    const small = Buffer.from('small');
    assert.deepEqual(framedChunks(small), [frameMessage(small)]);
    const large = new Uint8Array(2 * 1024 * 1024).fill(7);
    const chunks = framedChunks(large);
    assert.equal(chunks.length, 2);
    assert.deepEqual(Buffer.concat(chunks), frameMessage(large));
    assert.equal(chunks[1]?.buffer, large.buffer, 'the message is not copied');
    const read = readAll(new MessageReader(4 * 1024 * 1024), chunks);
    assert.equal(read.length, 1);
    assert.ok(read[0]?.body.equals(large));
  });

  it('passes the compressed flag on', () => {
    const framed = frameMessage(Buffer.from('z'));
    framed[0] = 1;
    assert.equal(readAll(new MessageReader(10), [framed])[0]?.compressed, true);
  });

  it('refuses a length over the limit from the prefix alone, even when the prefix is split', () => {
    const prefix = Buffer.from([0, 0, 0, 4, 1]);
    const reader = new MessageReader(1024);
    reader.push(prefix.subarray(0, 2), () => assert.fail('no message'));
    assert.throws(() => reader.push(prefix.subarray(2), () => undefined), /larger than max \(1025 vs 1024\)/);
  });

  it('allocates for a large message as its bytes arrive, not as its prefix announces', () => {
    const reader = new MessageReader(2 ** 31 - 1);
    const before = process.memoryUsage().arrayBuffers;
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(2 ** 31 - 1, 1);
    reader.push(Buffer.concat([prefix, Buffer.alloc(100)]), () => assert.fail('not complete'));
    assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
    assert.equal(reader.midMessage, true);
  });

  it('holds a few times what a large message has sent so far, not what it announces', () => {
    const size = 64 * 1024 * 1024;
    const reader = new MessageReader(2 ** 31 - 1);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(size, 1);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const before = process.memoryUsage().arrayBuffers;
    reader.push(prefix, () => assert.fail('not complete'));
    let sent = 0;
    for (; sent < 8 * 1024 * 1024; sent += chunk.length) reader.push(chunk, () => assert.fail('not complete'));
    // The buffer doubles: at most twice what was sent is live, and the smaller buffers it outgrew (as much again, at
    // most) may not have been collected yet.
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held <= 4 * sent + 32 * 1024, `${held} bytes held for ${sent} sent of a ${size}-byte message`);
    assert.equal(reader.midMessage, true);
  });

  it('once more than an eighth of a large message (at most 8 MiB) has arrived, copies the rest into one buffer of its size', () => {
    const size = 32 * 1024 * 1024;
    const reader = new MessageReader(2 ** 31 - 1);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(size, 1);
    const chunk = Buffer.alloc(64 * 1024);
    reader.push(prefix, () => assert.fail('not complete'));
    let sent = 0;
    for (; sent < size / 2; sent += chunk.length) {
      chunk.fill(sent / chunk.length);
      reader.push(chunk, () => assert.fail('not complete'));
      // Doubling until more than an eighth has arrived (a buffer of twice that at most), then the whole size.
      if (sent + chunk.length <= size / 8) assert.ok(reader.capacity <= 2 * (sent + chunk.length) + 64 * 1024);
    }
    // The message's buffer now has its whole size (its pages are taken only as they are written); with doubling all
    // the way it would hold 16.5 MiB here.
    assert.equal(reader.capacity, size);
    let message: Buffer | undefined;
    for (; sent < size; sent += chunk.length) {
      chunk.fill(sent / chunk.length);
      reader.push(chunk, (body) => (message = body));
    }
    assert.ok(message !== undefined);
    assert.equal(message.length, size);
    for (let i = 0; i < size / chunk.length; i++) assert.equal(message[i * chunk.length + 7], i % 256, `chunk ${i}`);
  });
});
