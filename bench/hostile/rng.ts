/**
 * A seeded pseudo-random generator (sfc32, seeded through splitmix32) and the small vocabulary the fuzzers draw
 * with. Same seed, same sequence of requests: a violation is reproduced by rerunning with the seed it prints.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Picks by weight: `[[3, a], [1, b]]` returns a three times as often as b. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let x = this.float() * total;
    for (const [w, value] of choices) {
      x -= w;
      if (x < 0) return value;
    }
    return (choices[choices.length - 1] as readonly [number, T])[1];
  }

  /** A length that is usually small and now and then large: 0..max, log-uniform-ish. */
  size(max: number): number {
    if (this.chance(0.5)) return this.int(Math.min(max, 8) + 1);
    return Math.floor(Math.exp(this.float() * Math.log(max + 1)));
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A number a careless reader trips on. */
  nastyFloat(): number {
    return this.pick([
      0,
      -0,
      1,
      -1,
      0.5,
      NaN,
      Infinity,
      -Infinity,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      3.4028235e38,
      3.5e38,
      1e-45,
      2 ** 53,
      2 ** 63,
      this.float() * 2 - 1,
      (this.float() - 0.5) * 1e6,
    ]);
  }

  /** A small random identifier-like string, sometimes with characters a path or a log line must not trust. */
  name(): string {
    const plain = 'abcdefghijklmnopqrstuvwxyz0123456789_-.';
    const hostile = ['\n', '\r', '\u0000', '/', '..', '%', ':', ' ', '"', '\\', 'é', '\u202e', '\ud800', '?', '#'];
    const length = this.size(24);
    let s = '';
    for (let i = 0; i < length; i++) s += this.chance(0.1) ? this.pick(hostile) : plain[this.int(plain.length)];
    return s;
  }
}
