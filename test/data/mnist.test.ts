import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InvalidArgument, NotFound } from '../../src/errors.js';
import { encodeIdx } from '../../src/data/idx.js';
import { defaultMnistDir, gatherBatch, loadMnist, MNIST_FILES, type MnistDataset } from '../../src/data/mnist.js';

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-mnist-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Per-class counts of the MNIST distribution (LeCun et al.; the same in every copy of the data set). */
const TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

function classCounts(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of labels) counts[label] = (counts[label] as number) + 1;
  return counts;
}

interface SyntheticFiles {
  trainImages?: Uint8Array;
  trainLabels?: Uint8Array;
  testImages?: Uint8Array;
  testLabels?: Uint8Array;
}

/** A tiny MNIST folder: `n` images whose every pixel is its index, labels i % 10. `gz` names get `.gz` and gzip. */
function syntheticDir(name: string, override: SyntheticFiles = {}, gz: (keyof typeof MNIST_FILES)[] = []): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const images = (n: number) =>
    encodeIdx(
      'uint8',
      [n, 28, 28],
      Uint8Array.from({ length: n * 784 }, (_, k) => k / 784),
    );
  const labels = (n: number) =>
    encodeIdx(
      'uint8',
      [n],
      Uint8Array.from({ length: n }, (_, i) => i % 10),
    );
  const files: Required<SyntheticFiles> = {
    trainImages: images(12),
    trainLabels: labels(12),
    testImages: images(5),
    testLabels: labels(5),
    ...override,
  };
  for (const key of Object.keys(MNIST_FILES) as (keyof typeof MNIST_FILES)[]) {
    const zipped = gz.includes(key);
    writeFileSync(join(dir, MNIST_FILES[key] + (zipped ? '.gz' : '')), zipped ? gzipSync(files[key]) : files[key]);
  }
  return dir;
}

function assertError(fn: () => unknown, errorClass: typeof InvalidArgument | typeof NotFound, ...parts: string[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof errorClass, `expected ${errorClass.name}, got ${String(err)}`);
    for (const part of parts) assert.ok(err.message.includes(part), `message should name ${part}: ${err.message}`);
    return true;
  });
}

describe('loadMnist on the real data set', () => {
  let mnist: MnistDataset;
  before(() => {
    mnist = loadMnist();
  });

  it('has 60000 training and 10000 test examples of 784 pixels', () => {
    assert.equal(mnist.train.count, 60000);
    assert.equal(mnist.train.images.length, 60000 * 784);
    assert.equal(mnist.train.labels.length, 60000);
    assert.equal(mnist.test.count, 10000);
    assert.equal(mnist.test.images.length, 10000 * 784);
    assert.equal(mnist.test.labels.length, 10000);
  });

  it('the first training label is 5 and the first test label is 7', () => {
    assert.equal(mnist.train.labels[0], 5);
    assert.equal(mnist.test.labels[0], 7);
  });

  it('has the published per-class counts', () => {
    assert.deepEqual(classCounts(mnist.train.labels), TRAIN_CLASS_COUNTS);
    assert.deepEqual(classCounts(mnist.test.labels), TEST_CLASS_COUNTS);
  });

  it('pixels are k/255 for bytes k, spanning exactly [0, 1]', () => {
    let min = Infinity;
    let max = -Infinity;
    for (const split of [mnist.train, mnist.test]) {
      for (const v of split.images) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    const first = mnist.train.images.subarray(0, 784);
    for (const v of first) assert.equal(Math.fround(Math.round(v * 255) / 255), v);
  });

  it('limits keep the first examples', () => {
    const small = loadMnist({ trainLimit: 100, testLimit: 10 });
    assert.equal(small.train.count, 100);
    assert.equal(small.train.images.length, 100 * 784);
    assert.deepEqual(small.train.labels, mnist.train.labels.subarray(0, 100));
    assert.deepEqual(small.test.images, mnist.test.images.subarray(0, 10 * 784));
    assert.equal(loadMnist({ testLimit: 1e6, trainLimit: 0 }).test.count, 10000);
  });

  it('gatherBatch takes rows of real images', () => {
    const batch = gatherBatch(mnist.train.images, mnist.train.labels, [0, 59999]);
    assert.deepEqual(Array.from(batch.y), [5, mnist.train.labels[59999]]);
    assert.deepEqual(batch.x.subarray(784), mnist.train.images.subarray(59999 * 784));
  });
});

describe('loadMnist from a data folder', () => {
  it('accepts each file plain or gzipped, in any mix', () => {
    const dir = syntheticDir('mixed', {}, ['trainImages', 'testLabels']);
    const mnist = loadMnist({ dataDir: dir });
    assert.equal(mnist.train.count, 12);
    assert.equal(mnist.test.count, 5);
    assert.deepEqual(Array.from(mnist.train.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    // Image i has every pixel equal to i.
    assert.equal(mnist.train.images[3 * 784 + 400], Math.fround(3 / 255));
  });

  it('a gzipped copy of the real files loads the same as the plain ones', () => {
    const dir = join(tmp, 'real-gz');
    mkdirSync(dir);
    const source = loadMnist({ trainLimit: 0 });
    const defaultDir = defaultMnistDir();
    for (const name of Object.values(MNIST_FILES)) {
      if (name.startsWith('t10k')) {
        writeFileSync(join(dir, `${name}.gz`), gzipSync(readFileSync(join(defaultDir, name)), { level: 1 }));
      } else {
        symlinkSync(join(defaultDir, name), join(dir, name));
      }
    }
    const fromGz = loadMnist({ dataDir: dir, trainLimit: 0 });
    assert.equal(fromGz.test.count, 10000);
    assert.deepEqual(fromGz.test.labels, source.test.labels);
    assert.deepEqual(fromGz.test.images, source.test.images);
  });

  it('a missing file names the file and the folder', () => {
    const dir = syntheticDir('missing');
    rmSync(join(dir, MNIST_FILES.testLabels));
    assertError(() => loadMnist({ dataDir: dir }), NotFound, join(dir, MNIST_FILES.testLabels), `directory ${dir}`);
  });

  it('swapped images and labels files fail on the magic number, naming the file', () => {
    const labels = encodeIdx('uint8', [12], new Uint8Array(12));
    const dir = syntheticDir('swapped', { trainImages: labels });
    assertError(
      () => loadMnist({ dataDir: dir }),
      InvalidArgument,
      join(dir, MNIST_FILES.trainImages),
      'magic is 2049',
      'expected 2051',
    );
  });

  it('a truncated images file is an error naming the file', () => {
    const full = encodeIdx('uint8', [12, 28, 28], new Uint8Array(12 * 784));
    const dir = syntheticDir('truncated', { trainImages: full.subarray(0, full.length - 100) }, ['trainImages']);
    assertError(
      () => loadMnist({ dataDir: dir }),
      InvalidArgument,
      join(dir, `${MNIST_FILES.trainImages}.gz`),
      `need ${12 * 784} bytes`,
      `got ${12 * 784 - 100}`,
    );
  });

  it('images that are not 28x28 are rejected', () => {
    const dir = syntheticDir('size', { testImages: encodeIdx('uint8', [5, 28, 27], new Uint8Array(5 * 28 * 27)) });
    assertError(() => loadMnist({ dataDir: dir }), InvalidArgument, join(dir, MNIST_FILES.testImages), '28x27');
  });

  it('an image count that differs from the label count names both files', () => {
    const dir = syntheticDir('count', { testLabels: encodeIdx('uint8', [4], [1, 2, 3, 4]) });
    assertError(
      () => loadMnist({ dataDir: dir }),
      InvalidArgument,
      join(dir, MNIST_FILES.testImages),
      join(dir, MNIST_FILES.testLabels),
      '5 images',
      '4 labels',
    );
  });

  it('a label of 10 or more is rejected with its index', () => {
    const dir = syntheticDir('label', { trainLabels: encodeIdx('uint8', [12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]) });
    assertError(
      () => loadMnist({ dataDir: dir }),
      InvalidArgument,
      join(dir, MNIST_FILES.trainLabels),
      'label 10 at index 10',
    );
  });

  it('a negative or fractional limit is rejected', () => {
    const dir = syntheticDir('limits');
    assertError(() => loadMnist({ dataDir: dir, trainLimit: -1 }), InvalidArgument, 'trainLimit');
    assertError(() => loadMnist({ dataDir: dir, testLimit: 1.5 }), InvalidArgument, 'testLimit');
  });
});
