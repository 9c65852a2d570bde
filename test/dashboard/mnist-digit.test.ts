import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { importDashboardModule } from '../helpers/dashboard-assets.js';

interface MnistDigitModule {
  toMnistImage(ink: Float32Array, width: number, height: number): Float32Array;
  centreOfMass(image: Float32Array, width: number, height: number): { x: number; y: number };
  mnistInputLayout(shape: readonly number[] | null | undefined): 'flat' | 'image' | null;
}

let digit: MnistDigitModule;
before(async () => {
  digit = await importDashboardModule<MnistDigitModule>('mnist-digit.js');
});

/** A width × height canvas with the rectangle [x0, x1) × [y0, y1) fully inked. */
function inkedRectangle(width: number, height: number, x0: number, x1: number, y0: number, y1: number): Float32Array {
  const ink = new Float32Array(width * height);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * width + x] = 1;
  return ink;
}

describe('the dashboard makes a drawn digit MNIST-like', () => {
  it('scales the ink box to 20 pixels on its long side and centres its mass at (14, 14)', () => {
    // A "1": 20 × 200 pixels of ink on 280 × 280, drawn off-centre. 20/200 scales it to 2 × 20 pixels, all full
    // ink; its centre of mass (1, 10) goes to (14, 14), so it covers columns 13-14 and rows 4-23.
    const image = digit.toMnistImage(inkedRectangle(280, 280, 30, 50, 60, 260), 280, 280);
    assert.equal(image.length, 784);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const expected = x >= 13 && x <= 14 && y >= 4 && y <= 23 ? 1 : 0;
        assert.ok(Math.abs((image[y * 28 + x] ?? NaN) - expected) < 1e-6, `pixel (${x}, ${y})`);
      }
    }
  });

  it('fills a 20 × 20 square centred in the field from a square of any size', () => {
    // 33 × 33 pixels of ink scale by 20/33: each of the 20 × 20 output pixels averages 1.65 × 1.65 inked source
    // pixels (exactly 1); centred by mass, the square covers rows and columns 4-23.
    const image = digit.toMnistImage(inkedRectangle(100, 100, 10, 43, 50, 83), 100, 100);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const expected = x >= 4 && x <= 23 && y >= 4 && y <= 23 ? 1 : 0;
        assert.ok(Math.abs((image[y * 28 + x] ?? NaN) - expected) < 1e-6, `pixel (${x}, ${y})`);
      }
    }
  });

  it('gives grey levels where a stroke covers part of a pixel', () => {
    // A 40 × 30 box: scale 20/40 → 20 × 15 pixels. A 1-pixel-wide line of ink at the box's left edge covers half of
    // each output pixel in the first column: 0.5.
    const ink = inkedRectangle(100, 100, 20, 21, 10, 40);
    ink[10 * 100 + 59] = 1; // the box's top-right corner
    const image = digit.toMnistImage(ink, 100, 100);
    const values = Array.from(image).filter((v) => v > 0);
    assert.ok(values.every((v) => v <= 1));
    assert.ok(
      values.some((v) => Math.abs(v - 0.5) < 1e-6),
      `values: ${values.join(', ')}`,
    );
  });

  it('gives all zeros when nothing was drawn', () => {
    const image = digit.toMnistImage(new Float32Array(50 * 50), 50, 50);
    assert.ok(image.every((v) => v === 0));
  });

  it('rejects ink whose length is not width × height', () => {
    assert.throws(
      () => digit.toMnistImage(new Float32Array(10), 5, 5),
      /ink has 10 values; expected width × height = 25/,
    );
  });

  it('recognises MNIST-shaped inputs: [?, 784] and [?, 28, 28, 1] only', () => {
    assert.equal(digit.mnistInputLayout([-1, 784]), 'flat');
    assert.equal(digit.mnistInputLayout([1, 784]), 'flat');
    assert.equal(digit.mnistInputLayout([-1, 28, 28, 1]), 'image');
    assert.equal(digit.mnistInputLayout([-1, 28, 28, 3]), null);
    assert.equal(digit.mnistInputLayout([-1, 783]), null);
    assert.equal(digit.mnistInputLayout([]), null);
  });
});
