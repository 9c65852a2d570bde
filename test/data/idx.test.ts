import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InvalidArgument, NotFound } from '../../src/errors.js';
import { encodeIdx, isGzip, parseIdx, readIdx, type IdxType } from '../../src/data/idx.js';
import { defaultMnistDir } from '../../src/data/mnist.js';

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-idx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

describe('IDX header', () => {
  it('reads the MNIST label file header: magic 2049, ubyte, one dimension of 10000', () => {
    const labels = readIdx(join(defaultMnistDir(), 't10k-labels-idx1-ubyte'));
    assert.equal(labels.magic, 2049);
    assert.equal(labels.type, 'uint8');
    assert.deepEqual(labels.dims, [10000]);
    assert.equal(labels.data.length, 10000);
  });

  it('decodes hand-written big-endian bytes of every multi-byte type', () => {
    // int16 [2] = [-2, 258]: header 00 00 0b 01, dim 2, then ff fe 01 02.
    const int16 = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x02]);
    assert.deepEqual(Array.from(parseIdx(int16).data), [-2, 258]);
    // float32 [1] = 1.5 is 0x3fc00000.
    const float32 = Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0]);
    assert.deepEqual(Array.from(parseIdx(float32).data), [1.5]);
    // int8 [1] = -1.
    assert.deepEqual(Array.from(parseIdx(Uint8Array.from([0, 0, 0x09, 1, 0, 0, 0, 1, 0xff])).data), [-1]);
  });

  it('round-trips every type through encodeIdx and parseIdx', () => {
    const cases: [IdxType, number[]][] = [
      ['uint8', [0, 1, 255, 7, 8, 9]],
      ['int8', [-128, -1, 0, 1, 127, 5]],
      ['int16', [-32768, -1, 0, 1, 32767, 300]],
      ['int32', [-2147483648, -1, 0, 1, 2147483647, 70000]],
      ['float32', [-1.5, 0, 0.25, 1e10, -3, 2]],
      ['float64', [Math.PI, -Math.E, 0, 1e-300, 1e300, 0.1]],
    ];
    for (const [type, values] of cases) {
      const parsed = parseIdx(encodeIdx(type, [2, 3], values), type);
      assert.equal(parsed.type, type);
      assert.deepEqual(parsed.dims, [2, 3]);
      assert.deepEqual(Array.from(parsed.data), values, type);
    }
  });
});

describe('gzipped IDX files', () => {
  it('a gzipped copy of a real MNIST file reads the same as the plain file', () => {
    const plainPath = join(defaultMnistDir(), 't10k-images-idx3-ubyte');
    const plainBytes = readFileSync(plainPath);
    const gzPath = write('t10k-images-idx3-ubyte.gz', gzipSync(plainBytes, { level: 1 }));
    assert.equal(isGzip(readFileSync(gzPath)), true);
    assert.equal(isGzip(plainBytes), false);
    const plain = readIdx(plainPath);
    const gz = readIdx(gzPath);
    assert.equal(gz.magic, 2051);
    assert.deepEqual(gz.dims, [10000, 28, 28]);
    assert.deepEqual(gz.data, plain.data);
  });

  it('is detected by content, not by the file name', () => {
    const path = write('no-extension', gzipSync(encodeIdx('uint8', [3], [1, 2, 3])));
    assert.deepEqual(Array.from(readIdx(path).data), [1, 2, 3]);
  });

  it('corrupt gzip data is an InvalidArgument naming the file', () => {
    const gz = gzipSync(encodeIdx('uint8', [100], new Uint8Array(100)));
    const path = write('corrupt.gz', gz.subarray(0, gz.length - 10));
    assert.throws(
      () => readIdx(path),
      (err: unknown) => err instanceof InvalidArgument && err.message.includes(path) && /gzip/.test(err.message),
    );
  });
});

describe('IDX errors name the file and the problem', () => {
  function assertInvalid(path: string, pattern: RegExp): void {
    assert.throws(
      () => readIdx(path),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgument, `expected InvalidArgument, got ${String(err)}`);
        assert.ok(err.message.includes(path), `message should name ${path}: ${err.message}`);
        assert.match(err.message, pattern);
        return true;
      },
    );
  }

  it('bad magic: non-zero first bytes', () => {
    assertInvalid(write('bad-magic', Uint8Array.from([0x12, 0x34, 0x08, 1, 0, 0, 0, 0])), /bad IDX magic 0x12340801/);
  });

  it('bad magic: unknown type code', () => {
    assertInvalid(write('bad-type', Uint8Array.from([0, 0, 0x0a, 1, 0, 0, 0, 0])), /unknown element type code 0x0a/);
  });

  it('truncated header: fewer than 4 bytes', () => {
    assertInvalid(write('tiny', Uint8Array.from([0, 0])), /truncated IDX header: expected at least 4 bytes, got 2/);
  });

  it('truncated header: fewer dimension words than the rank says', () => {
    assertInvalid(
      write('short-dims', Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2])),
      /rank 3 needs 16 header bytes, got 8/,
    );
  });

  it('truncated data: expected N bytes got M', () => {
    const full = encodeIdx('int32', [2, 2], [1, 2, 3, 4]);
    assertInvalid(write('truncated', full.subarray(0, full.length - 3)), /truncated data.* need 16 bytes .* got 13/);
  });

  it('trailing bytes after the data', () => {
    const full = encodeIdx('uint8', [4], [1, 2, 3, 4]);
    const longer = new Uint8Array(full.length + 2);
    longer.set(full);
    assertInvalid(write('trailing', longer), /trailing bytes.* need 4 bytes .* got 6/);
  });

  it('a missing file is NotFound naming the path', () => {
    const path = join(tmp, 'does-not-exist');
    assert.throws(
      () => readIdx(path),
      (err: unknown) => err instanceof NotFound && err.message.includes(path),
    );
  });
});
