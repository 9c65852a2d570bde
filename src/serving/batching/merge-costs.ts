/**
 * Whether a batch's tasks are worth merging into one run.
 *
 * Merging copies every task's rows into one new buffer on the event loop's thread, the thread every request needs. For
 * rows of a few KiB that costs a few µs a row and saves a run a task (its hand-off to a worker, its fixed cost). For
 * large rows of a model that computes little on them it costs far more than it saves: new memory is dear on some
 * machines (here 11 µs a 4 KiB page the first time it is written: 16 rows of 600 KB took 27 ms to copy into a new
 * buffer, 0.45 ms into memory written before), and the merged copies are more memory for the collector to account
 * for. A model that only sums its 3×224×224 input answered 0.6× the requests with batching on at 64 streams, its main
 * thread busy ~500 µs longer a request (docs/performance.md, "Round 26").
 *
 * So a batch's tasks run apart, each on its own tensors as with batching off, when a row's copy into new memory
 * (FRESH_MEMORY_NS_PER_BYTE) costs more than a run's hand-off (MERGE_FLOOR_NS, what merging saves at the least) and
 * more than RUN_SHARE of the row's compute, measured on this signature's runs (ONNX Runtime's run, per input
 * element). Where the compute dwarfs the copy (a large convolutional model's images) batching pays in compute, and
 * rows are merged as TF Serving merges them. The copy's cost is taken at its worst rather than measured: measured
 * merges were mostly fast and a few slow, and the collector's share shows in no merge's time.
 */

/** What writing new memory cost on this project's machine: 11 µs a 4 KiB page (docs/performance.md, "Round 23"). */
export const FRESH_MEMORY_NS_PER_BYTE = 11_000 / 4096;
/** A request's hand-off to an inference worker costs the event loop about this (calling-thread-runs.ts). */
export const MERGE_FLOOR_NS = 60_000;
/** Merging pays where a row's copy costs at most this share of the row's compute. */
export const RUN_SHARE = 0.25;
/** The compute figures are sums, halved whenever their elements pass this: a mean weighted by size that follows the
 * machine. */
const DECAY_ELEMENTS = 64 * 1024 * 1024;

export class MergeCosts {
  private computeNs = 0;
  private elements = 0;

  /** A run of `elements` input elements computed in `computeNs` (ONNX Runtime's run, or the calling thread's). */
  recordCompute(computeNs: number, elements: number): void {
    if (!(elements > 0) || !(computeNs >= 0)) return;
    this.computeNs += computeNs;
    this.elements += elements;
    if (this.elements > DECAY_ELEMENTS) {
      this.computeNs /= 2;
      this.elements /= 2;
    }
  }

  /** ns of compute an input element, once a run has been measured. */
  get computeNsPerElement(): number | undefined {
    return this.elements > 0 ? this.computeNs / this.elements : undefined;
  }

  /** Whether rows of `bytesPerRow` bytes and `elementsPerRow` input elements are to be merged (see above). */
  worthMerging(bytesPerRow: number, elementsPerRow: number): boolean {
    const copyNs = bytesPerRow * FRESH_MEMORY_NS_PER_BYTE;
    if (copyNs <= MERGE_FLOOR_NS) return true;
    const compute = this.computeNsPerElement;
    return compute === undefined || copyNs <= RUN_SHARE * compute * elementsPerRow;
  }
}
