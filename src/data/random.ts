/**
 * A small seeded pseudo-random number generator for reproducible shuffles and initializers.
 *
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit state advanced by a Weyl sequence (+0x6D2B79F5) and mixed
 * by two multiply-xorshift rounds. Period 2^32, passes PractRand to 8 GiB (gjrand / PractRand reports) — plenty for
 * shuffling datasets; not for cryptography.
 */

/** A source of uniform doubles in [0, 1). */
export type Rng = () => number;

/** Returns a mulberry32 generator seeded with `seed` (any finite number; only its low 32 bits are used). */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`rng seed must be a finite number, got ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** A standard normal sample (Box–Muller), for initializers. */
export function randomNormal(rng: Rng): number {
  // 1 - u keeps the argument of log in (0, 1], so the result is always finite.
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fisher–Yates (Durstenfeld) shuffle, in place; returns `array`. Every permutation is equally likely. */
export function shuffleInPlace<T extends { length: number; [index: number]: unknown }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}

/** A random permutation of 0 … n-1. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return shuffleInPlace(out, rng);
}
