// @ts-check
/**
 * A hand-drawn digit made to look like an MNIST image, as LeCun et al. prepared them: the ink's bounding box scaled
 * (aspect kept) to fit 20×20 by area averaging (anti-aliased grey levels), then placed in a 28×28 field so that its
 * centre of mass sits at the centre (14, 14). Values are 0 (background) .. 1 (full ink), row-major, like the
 * flowserve MNIST models' inputs. Pure functions, no DOM: the node tests call them too.
 */

export const MNIST_SIDE = 28;
const FIT_SIDE = 20;

/**
 * @param {Float32Array} ink  ink coverage 0..1 per pixel, row-major
 * @param {number} width
 * @param {number} height
 * @returns {Float32Array} 784 values, or all zeros when nothing was drawn
 */
export function toMnistImage(ink, width, height) {
  if (ink.length !== width * height) {
    throw new Error(`ink has ${ink.length} values; expected width × height = ${width * height}`);
  }
  const box = inkBoundingBox(ink, width, height);
  const out = new Float32Array(MNIST_SIDE * MNIST_SIDE);
  if (box === null) return out;
  const scale = FIT_SIDE / Math.max(box.width, box.height);
  const fittedWidth = Math.max(1, Math.round(box.width * scale));
  const fittedHeight = Math.max(1, Math.round(box.height * scale));
  const fitted = areaResample(ink, width, box, fittedWidth, fittedHeight);
  const { x: massX, y: massY } = centreOfMass(fitted, fittedWidth, fittedHeight);
  // Shift so the centre of mass lands on the field's centre; clamp so the fitted box stays inside the field.
  const offsetX = clamp(Math.round(MNIST_SIDE / 2 - massX), 0, MNIST_SIDE - fittedWidth);
  const offsetY = clamp(Math.round(MNIST_SIDE / 2 - massY), 0, MNIST_SIDE - fittedHeight);
  for (let y = 0; y < fittedHeight; y++) {
    for (let x = 0; x < fittedWidth; x++) {
      out[(y + offsetY) * MNIST_SIDE + x + offsetX] = Math.min(1, fitted[y * fittedWidth + x] ?? 0);
    }
  }
  return out;
}

/**
 * @typedef {{ left: number, top: number, width: number, height: number }} Box
 */

/**
 * The smallest box holding every pixel with ink (> 0.01), or null.
 * @param {Float32Array} ink
 * @param {number} width
 * @param {number} height
 * @returns {Box | null}
 */
export function inkBoundingBox(ink, width, height) {
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if ((ink[y * width + x] ?? 0) > 0.01) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  if (right < 0) return null;
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Resamples a box of the source to outWidth × outHeight; each output pixel is the mean of the source area it covers
 * (fractional pixels weighted by overlap).
 * @param {Float32Array} source
 * @param {number} sourceWidth
 * @param {Box} box
 * @param {number} outWidth
 * @param {number} outHeight
 */
function areaResample(source, sourceWidth, box, outWidth, outHeight) {
  const out = new Float32Array(outWidth * outHeight);
  const stepX = box.width / outWidth;
  const stepY = box.height / outHeight;
  for (let oy = 0; oy < outHeight; oy++) {
    const y0 = box.top + oy * stepY;
    const y1 = y0 + stepY;
    for (let ox = 0; ox < outWidth; ox++) {
      const x0 = box.left + ox * stepX;
      const x1 = x0 + stepX;
      let sum = 0;
      for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
        const coverY = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
          const coverX = Math.min(x1, sx + 1) - Math.max(x0, sx);
          sum += (source[sy * sourceWidth + sx] ?? 0) * coverX * coverY;
        }
      }
      out[oy * outWidth + ox] = sum / (stepX * stepY);
    }
  }
  return out;
}

/**
 * @param {Float32Array} image
 * @param {number} width
 * @param {number} height
 * @returns {{ x: number, y: number }} in pixel-centre coordinates (pixel x covers x..x+1, centre x+0.5)
 */
export function centreOfMass(image, width, height) {
  let total = 0;
  let sumX = 0;
  let sumY = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = image[y * width + x] ?? 0;
      total += value;
      sumX += value * (x + 0.5);
      sumY += value * (y + 0.5);
    }
  }
  if (total === 0) return { x: width / 2, y: height / 2 };
  return { x: sumX / total, y: sumY / total };
}

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/**
 * Whether a signature input is MNIST-shaped: [?, 784] or [?, 28, 28, 1] (the batch dimension unknown or any size).
 * @param {readonly number[] | null | undefined} shape  dims, -1 for unknown
 * @returns {'flat' | 'image' | null}
 */
export function mnistInputLayout(shape) {
  if (!shape) return null;
  if (shape.length === 2 && shape[1] === 784) return 'flat';
  if (shape.length === 4 && shape[1] === 28 && shape[2] === 28 && shape[3] === 1) return 'image';
  return null;
}
