/**
 * A model's measured compute time a run, kept by the run's size: its input elements, in classes of powers of two. A
 * single cost per input element fits no model well: ONNX Runtime's fixed cost a run dominates a small run and not a
 * large one. The MNIST softmax measured 27 ns an element at one row and 2.1 at 64 rows on the same thread (idle
 * machine), so a rate from one-row runs predicted a 64-row batch at 0.6–1.4 ms where it took 106 µs, over the
 * calling thread's budget for a run (docs/performance.md, "Round 14").
 *
 * Each class starts from the median of its first `firstRuns` runs (the first runs of a model are slow: the JIT, cold
 * caches), then follows a running average. A class not measured yet is bounded from its measured neighbours: the
 * nearest smaller class's rate times the run's elements (a larger run spreads the fixed cost over more elements, so
 * it costs no more an element), and the nearest larger class's cost at its smallest size (a smaller run costs no
 * more than a larger one). The lower of the two bounds is the prediction; Infinity when no class is measured.
 */

/** Weight of the newest measurement in a class's running estimate. */
const SMOOTHING = 0.1;
/**
 * A sample counts as at most this many times the running estimate: a run whose thread was taken off its core (a busy
 * machine) moves the estimate by at most 30 %, while a model that really is slower still raises it by 1.3× per run.
 */
const MAX_SAMPLE_RATIO = 4;
/** Classes 0 (one element) to 52 (2^52 elements and more, past any tensor a request may carry). */
const CLASSES = 53;

/** The size class of a run of `elements` input elements: floor(log2), at least 0. */
export function sizeClassOf(elements: number): number {
  if (!(elements > 1)) return 0;
  return Math.min(CLASSES - 1, Math.floor(Math.log2(elements)));
}

export class RunCostEstimate {
  /** ns an input element, by size class; NaN until the class has its first estimate. */
  private readonly rates = new Float64Array(CLASSES).fill(NaN);
  /** The first runs' rates of classes still without an estimate. */
  private readonly firstSamples = new Map<number, number[]>();

  /** `firstRuns`: runs of a class whose median is its first estimate. */
  constructor(private readonly firstRuns: number) {}

  /** Records a run of `elements` input elements that computed in `ns`. */
  observe(elements: number, ns: number): void {
    const size = Math.max(1, elements);
    const sample = ns / size;
    const sizeClass = sizeClassOf(size);
    const rate = this.rates[sizeClass] as number;
    if (!Number.isNaN(rate)) {
      this.rates[sizeClass] = rate + SMOOTHING * (Math.min(sample, MAX_SAMPLE_RATIO * rate) - rate);
      return;
    }
    let samples = this.firstSamples.get(sizeClass);
    if (!samples) this.firstSamples.set(sizeClass, (samples = []));
    samples.push(sample);
    if (samples.length < this.firstRuns) return;
    samples.sort((a, b) => a - b);
    this.rates[sizeClass] = samples[samples.length >> 1] as number;
    this.firstSamples.delete(sizeClass);
  }

  /** Whether runs of `elements`' size class have their own estimate. */
  measured(elements: number): boolean {
    return !Number.isNaN(this.rates[sizeClassOf(Math.max(1, elements))] as number);
  }

  /** A run's predicted compute (ns) from the classes measured so far; Infinity before any is. */
  predictNs(elements: number): number {
    const size = Math.max(1, elements);
    const sizeClass = sizeClassOf(size);
    const own = this.rates[sizeClass] as number;
    if (!Number.isNaN(own)) return own * size;
    let bound = Infinity;
    for (let smaller = sizeClass - 1; smaller >= 0; smaller--) {
      const rate = this.rates[smaller] as number;
      if (Number.isNaN(rate)) continue;
      bound = rate * size;
      break;
    }
    for (let larger = sizeClass + 1; larger < CLASSES; larger++) {
      const rate = this.rates[larger] as number;
      if (Number.isNaN(rate)) continue;
      bound = Math.min(bound, rate * 2 ** larger);
      break;
    }
    return bound;
  }
}
