import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesOfOrtStrings, ORT_BYTES_ESCAPE, ortStringsOf } from '../../src/runtime/ort-strings.js';

describe('string elements across ONNX Runtime’s JavaScript strings', () => {
  it('gives UTF-8 text as that text, so string ops see it', () => {
    assert.deepEqual(ortStringsOf([Buffer.from('héllo 世界'), Buffer.alloc(0)]), ['héllo 世界', '']);
  });

  it('escapes bytes that are not text, text with NUL and text starting with the escape, one-to-one', () => {
    const elements = [
      Buffer.from([0xff, 0x00, 0x80]),
      Buffer.from('a\u0000b'),
      Buffer.from(`${ORT_BYTES_ESCAPE}x`),
      Buffer.from(Array.from({ length: 256 }, (_, b) => b)),
    ];
    const strings = ortStringsOf(elements);
    for (const s of strings) {
      assert.ok(s.startsWith(ORT_BYTES_ESCAPE));
      assert.ok(!s.includes('\u0000'), 'ONNX Runtime’s Node binding cuts strings at NUL');
    }
    // What ONNX Runtime hands back is its UTF-8 round trip of these strings.
    const roundTripped = strings.map((s) => Buffer.from(s, 'utf8').toString('utf8'));
    assert.deepEqual(
      bytesOfOrtStrings(roundTripped).map((b) => Buffer.from(b).toString('hex')),
      elements.map((b) => b.toString('hex')),
    );
  });

  it('reads strings a model made as their UTF-8 bytes', () => {
    assert.deepEqual([...(bytesOfOrtStrings(['é'])[0] as Uint8Array)], [0xc3, 0xa9]);
  });
});
