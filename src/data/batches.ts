/** Seeded mini-batch index streams and batch gathering for in-memory datasets. */
import { InvalidArgument } from '../errors.js';
import { createRng, permutation, type Rng } from './random.js';

export interface BatchIteratorOptions {
  /** Seed of the shuffle; the same seed gives the same sequence of epochs. Default 0. */
  seed?: number;
  /** Shuffle each epoch (default true); false yields 0 … count-1 in order. */
  shuffle?: boolean;
  /** Drop the last batch of an epoch when it is smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

/**
 * Yields, epoch after epoch, the example indices of each mini-batch. Each epoch is a fresh Fisher–Yates
 * permutation drawn from one seeded generator, so epoch k is the same for a given seed however it is consumed.
 */
export class BatchIterator {
  readonly count: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropRemainder: boolean;
  private readonly rng: Rng;
  private epochsStarted = 0;

  constructor(count: number, batchSize: number, options: BatchIteratorOptions = {}) {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new InvalidArgument(`batch iterator count must be a non-negative integer, got ${count}`);
    }
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new InvalidArgument(`batchSize must be a positive integer, got ${batchSize}`);
    }
    this.count = count;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.dropRemainder = options.dropRemainder ?? false;
    this.rng = createRng(options.seed ?? 0);
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    return this.dropRemainder ? Math.floor(this.count / this.batchSize) : Math.ceil(this.count / this.batchSize);
  }

  /** How many epochs have been started so far (the next call to `nextEpoch` starts epoch `epoch`). */
  get epoch(): number {
    return this.epochsStarted;
  }

  /** The batches of the next epoch, as index arrays. */
  nextEpoch(): Uint32Array[] {
    this.epochsStarted++;
    const order = this.shuffle
      ? permutation(this.count, this.rng)
      : Uint32Array.from({ length: this.count }, (_, i) => i);
    const batches: Uint32Array[] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      batches.push(order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, this.count)));
    }
    return batches;
  }

  /** Endless: yields one array of batches per epoch. */
  *epochs(): Generator<Uint32Array[], never, undefined> {
    while (true) yield this.nextEpoch();
  }
}

/** The batches of one shuffled epoch: the first epoch of `new BatchIterator(count, batchSize, { seed })`. */
export function* shuffledBatches(
  count: number,
  batchSize: number,
  seed: number,
  options: Omit<BatchIteratorOptions, 'seed' | 'shuffle'> = {},
): Generator<Uint32Array, void, undefined> {
  yield* new BatchIterator(count, batchSize, { ...options, seed }).nextEpoch();
}

export interface GatherOptions {
  /** Elements per example in `images` (default 784 = 28×28). */
  featureSize?: number;
  /** Return labels one-hot as Float32Array(B*numClasses) instead of Int32Array(B). */
  oneHot?: boolean;
  /** Classes for one-hot labels (default 10). */
  numClasses?: number;
}

export interface Batch<Y extends Int32Array | Float32Array = Int32Array | Float32Array> {
  /** B × featureSize features, row-major. */
  x: Float32Array;
  /** Int32Array(B) class ids, or Float32Array(B × numClasses) one-hot rows. */
  y: Y;
  /** Examples in the batch (B). */
  size: number;
}

/** Copies the examples at `indices` into contiguous batch arrays. */
export function gatherBatch(
  images: Float32Array,
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  options?: GatherOptions & { oneHot?: false },
): Batch<Int32Array>;
export function gatherBatch(
  images: Float32Array,
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  options: GatherOptions & { oneHot: true },
): Batch<Float32Array>;
export function gatherBatch(
  images: Float32Array,
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  options?: GatherOptions,
): Batch;
export function gatherBatch(
  images: Float32Array,
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  options: GatherOptions = {},
): Batch {
  const featureSize = options.featureSize ?? 784;
  const numClasses = options.numClasses ?? 10;
  if (images.length !== labels.length * featureSize) {
    throw new InvalidArgument(
      `images hold ${images.length} values, expected ${labels.length} labels × ${featureSize} features`,
    );
  }
  const size = indices.length;
  const x = new Float32Array(size * featureSize);
  const y = options.oneHot ? new Float32Array(size * numClasses) : new Int32Array(size);
  for (let b = 0; b < size; b++) {
    const index = indices[b] as number;
    if (!(index >= 0 && index < labels.length) || !Number.isInteger(index)) {
      throw new InvalidArgument(`batch index ${index} at position ${b} is outside 0 … ${labels.length - 1}`);
    }
    x.set(images.subarray(index * featureSize, (index + 1) * featureSize), b * featureSize);
    const label = labels[index] as number;
    if (options.oneHot) {
      if (!(label >= 0 && label < numClasses)) {
        throw new InvalidArgument(`label ${label} of example ${index} is outside 0 … ${numClasses - 1}`);
      }
      y[b * numClasses + label] = 1;
    } else {
      y[b] = label;
    }
  }
  return { x, y, size };
}
