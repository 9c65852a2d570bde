/**
 * A model's measured run time as a function of its input size, for calling-thread-runs.ts's "does this run fit the
 * budget" question.
 *
 * One rate (ns per input element) for every size predicts a small model's merged batch far too slow: a run of the
 * MNIST softmax costs ~20–50 µs at batch 1 and about the same at batch 64 (ONNX Runtime's fixed cost per run
 * dominates), so 64 × the batch-1 rate said ~2 ms, and every batch of it went to a worker, whose hop costs the main
 * thread more than the run. So the rate is kept per size class: element counts in (2^(k-1), 2^k] share class k. A
 * size is predicted from its own class once measured; else from the nearest measured class above it (a run never
 * costs less for more input, so that class's smallest size bounds it); else linearly from the nearest class below
 * (costs grow at most linearly in the batch for the models that can qualify, so that overestimates). At most 53
 * classes, so the memory is bounded whatever sizes arrive.
 */

/** Runs of a class measured before its median becomes the class's rate (later runs move it as a running average). */
const FIRST_RUNS = 5;
/** Weight of the newest measurement in a class's running average. */
const SMOOTHING = 0.1;
/** A measurement counts as at most this many times the class's estimate. */
const OUTLIER_CAP = 2;

interface SizeClass {
  /** ns per input element; undefined until FIRST_RUNS runs are measured. */
  rate: number | undefined;
  first: number[];
}

/** The class of `elements`: k with 2^(k-1) < elements <= 2^k (1 → 0). */
function classOf(elements: number): number {
  return Math.max(0, Math.ceil(Math.log2(elements)));
}

export class RunCostEstimate {
  private readonly classes = new Map<number, SizeClass>();
  private runs = 0;

  /** Runs measured so far, every size together. */
  get measuredRuns(): number {
    return this.runs;
  }

  /** Records one run of `elements` input elements that took `ns`. */
  observe(ns: number, elements: number): void {
    this.runs++;
    const k = classOf(elements);
    let c = this.classes.get(k);
    if (!c) {
      c = { rate: undefined, first: [] };
      this.classes.set(k, c);
    }
    const sample = ns / elements;
    if (c.rate !== undefined) {
      // A run stalled by the scheduler or a GC pause can take 10–100× its cost on a loaded machine; averaged in
      // whole, one such sample would price the size out of the budget for dozens of runs. Capped at twice the
      // estimate, it moves it by at most 10 %, while a real slowdown still raises it by 10 % a run.
      c.rate += SMOOTHING * (Math.min(sample, OUTLIER_CAP * c.rate) - c.rate);
      return;
    }
    c.first.push(sample);
    if (c.first.length < FIRST_RUNS) return;
    const sorted = [...c.first].sort((a, b) => a - b);
    c.rate = sorted[sorted.length >> 1] as number;
    c.first.length = 0;
  }

  /** Predicted ns of a run of `elements` input elements; undefined while no size class has been measured. */
  predict(elements: number): number | undefined {
    const k = classOf(elements);
    const own = this.classes.get(k)?.rate;
    if (own !== undefined) return own * elements;
    let above: number | undefined;
    let below: number | undefined;
    for (const [j, c] of this.classes) {
      if (c.rate === undefined) continue;
      if (j > k && (above === undefined || j < above)) above = j;
      if (j < k && (below === undefined || j > below)) below = j;
    }
    // The smallest size of the class above: 2^(above-1) + 1 elements, which is more than `elements`.
    if (above !== undefined) return (this.classes.get(above)?.rate as number) * (2 ** (above - 1) + 1);
    if (below !== undefined) return (this.classes.get(below)?.rate as number) * elements;
    return undefined;
  }
}
