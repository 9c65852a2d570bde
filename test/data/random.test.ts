import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../src/errors.js';
import { BatchIterator, gatherBatch, shuffledBatches } from '../../src/data/batches.js';
import { createRng, permutation, randomNormal } from '../../src/data/random.js';

/** mulberry32 written again with BigInt arithmetic modulo 2^32, as an independent reference. */
function referenceMulberry32(seed: number, n: number): number[] {
  const M = 2n ** 32n;
  const imul = (a: bigint, b: bigint) => (a * b) % M;
  let state = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5n) % M;
    let t = state;
    t = imul(t ^ (t >> 15n), t | 1n);
    t = t ^ ((t + imul(t ^ (t >> 7n), t | 61n)) % M);
    out.push(Number(t ^ (t >> 14n)) / 2 ** 32);
  }
  return out;
}

function isPermutation(values: ArrayLike<number>, n: number): boolean {
  const seen = new Uint8Array(n);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!(v >= 0 && v < n) || seen[v]) return false;
    seen[v] = 1;
  }
  return values.length === n;
}

describe('createRng', () => {
  it('matches an independent mulberry32 implementation', () => {
    for (const seed of [0, 1, 42, 0xdeadbeef]) {
      const rng = createRng(seed);
      const ours = Array.from({ length: 20 }, () => rng());
      assert.deepEqual(ours, referenceMulberry32(seed, 20), `seed ${seed}`);
    }
  });

  it('stays in [0, 1) and has a mean near 1/2', () => {
    const rng = createRng(7);
    let sum = 0;
    for (let i = 0; i < 100000; i++) {
      const u = rng();
      assert.ok(u >= 0 && u < 1);
      sum += u;
    }
    assert.ok(Math.abs(sum / 100000 - 0.5) < 0.01);
  });

  it('randomNormal has mean near 0 and variance near 1', () => {
    const rng = createRng(3);
    const xs = Array.from({ length: 50000 }, () => randomNormal(rng));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.03, `variance ${variance}`);
  });
});

describe('permutation', () => {
  it('is a permutation and reproducible for a seed', () => {
    const a = permutation(1000, createRng(5));
    assert.ok(isPermutation(a, 1000));
    assert.deepEqual(a, permutation(1000, createRng(5)));
    assert.notDeepEqual(a, permutation(1000, createRng(6)));
  });

  it('draws all 6 orders of 3 items about equally often (Fisher–Yates is unbiased)', () => {
    const rng = createRng(11);
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const key = permutation(3, rng).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    for (const [key, count] of counts) assert.ok(count > 850 && count < 1150, `${key}: ${count}`);
  });
});

describe('shuffled batches', () => {
  it('one epoch covers every index exactly once, in batches of batchSize and a smaller last one', () => {
    const batches = [...shuffledBatches(103, 10, 1)];
    assert.equal(batches.length, 11);
    assert.deepEqual(
      batches.map((b) => b.length),
      [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3],
    );
    const all = batches.flatMap((b) => Array.from(b));
    assert.ok(isPermutation(all, 103));
    assert.notDeepEqual(
      all,
      Array.from({ length: 103 }, (_, i) => i),
    );
  });

  it('the same seed gives the same batches; another seed different ones', () => {
    const a = [...shuffledBatches(500, 32, 123)].map((b) => Array.from(b));
    const b = [...shuffledBatches(500, 32, 123)].map((b) => Array.from(b));
    const c = [...shuffledBatches(500, 32, 124)].map((b) => Array.from(b));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('BatchIterator reshuffles each epoch, reproducibly across iterators', () => {
    const first = new BatchIterator(50, 8, { seed: 9 });
    const second = new BatchIterator(50, 8, { seed: 9 });
    const e1 = first.nextEpoch().flatMap((b) => Array.from(b));
    const e2 = first.nextEpoch().flatMap((b) => Array.from(b));
    assert.equal(first.epoch, 2);
    assert.ok(isPermutation(e1, 50) && isPermutation(e2, 50));
    assert.notDeepEqual(e1, e2);
    const epochs = second.epochs();
    assert.deepEqual(
      epochs.next().value.flatMap((b) => Array.from(b)),
      e1,
    );
    assert.deepEqual(
      epochs.next().value.flatMap((b) => Array.from(b)),
      e2,
    );
    assert.deepEqual(
      e1,
      [...shuffledBatches(50, 8, 9)].flatMap((b) => Array.from(b)),
    );
  });

  it('dropRemainder drops the short last batch; shuffle: false keeps order', () => {
    const it = new BatchIterator(10, 4, { dropRemainder: true, shuffle: false });
    assert.equal(it.batchesPerEpoch, 2);
    assert.deepEqual(
      it.nextEpoch().map((b) => Array.from(b)),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ],
    );
  });

  it('rejects a batch size below 1', () => {
    assert.throws(() => new BatchIterator(10, 0), InvalidArgument);
  });
});

describe('gatherBatch', () => {
  // 4 examples of 3 features: example i has features [10i, 10i+1, 10i+2] and label i.
  const images = Float32Array.from({ length: 12 }, (_, k) => 10 * Math.floor(k / 3) + (k % 3));
  const labels = Uint8Array.from([0, 1, 2, 3]);

  it('copies the rows and labels of the given indices', () => {
    const batch = gatherBatch(images, labels, [3, 1], { featureSize: 3 });
    assert.equal(batch.size, 2);
    assert.deepEqual(Array.from(batch.x), [30, 31, 32, 10, 11, 12]);
    assert.ok(batch.y instanceof Int32Array);
    assert.deepEqual(Array.from(batch.y), [3, 1]);
  });

  it('one-hot labels are Float32Array rows of numClasses', () => {
    const batch = gatherBatch(images, labels, [2, 0], { featureSize: 3, oneHot: true, numClasses: 4 });
    assert.ok(batch.y instanceof Float32Array);
    assert.deepEqual(Array.from(batch.y), [0, 0, 1, 0, 1, 0, 0, 0]);
  });

  it('rejects an index outside the dataset', () => {
    assert.throws(() => gatherBatch(images, labels, [4], { featureSize: 3 }), /batch index 4/);
  });
});
