/**
 * Per model version counters for Triton's statistics extension (spec open-inference-protocol.md §6.2), fed by every
 * inference request the core runs (TF Serving's v1 APIs and the Open Inference Protocol alike):
 *  - a request that ran: success +1 with its whole time in the core, queue / compute_input / compute_infer /
 *    compute_output +1 with its stage times (RequestTiming), inference_count + its items, last_inference;
 *  - a request that failed after its version was resolved: fail +1 with its time, last_inference;
 *  - an execution (OnnxServable: a batch, or a request run alone): execution_count +1, and batch_stats for its batch
 *    size +1 with its stage times.
 * Memory stays bounded: a version's counters go when it ends (forgetVersion), and batch sizes are at most the
 * batching's execution size (runs alone count as 1). flowserve has no response cache, so cache_hit and cache_miss stay
 * 0. Sums of nanoseconds are doubles: exact to 2^53 ns (104 days of summed request time), then rounded.
 */
import type { ExecutionRecorder } from './onnx-servable.js';
import type { RequestTiming, StageTimes } from '../run-timing.js';

export interface DurationCounter {
  count: number;
  ns: number;
}

export interface BatchStatistics {
  batchSize: number;
  computeInput: DurationCounter;
  computeInfer: DurationCounter;
  computeOutput: DurationCounter;
}

export interface VersionStatistics {
  /** ms since the Unix epoch when the last request ended; 0 = none yet. */
  lastInferenceMs: number;
  inferenceCount: number;
  executionCount: number;
  success: DurationCounter;
  fail: DurationCounter;
  queue: DurationCounter;
  computeInput: DurationCounter;
  computeInfer: DurationCounter;
  computeOutput: DurationCounter;
  cacheHit: DurationCounter;
  cacheMiss: DurationCounter;
  /** Ascending by batch size. */
  batches: BatchStatistics[];
}

function counter(): DurationCounter {
  return { count: 0, ns: 0 };
}

function add(into: DurationCounter, ns: number): void {
  into.count += 1;
  into.ns += ns;
}

function emptyVersionStatistics(): VersionStatistics {
  return {
    lastInferenceMs: 0,
    inferenceCount: 0,
    executionCount: 0,
    success: counter(),
    fail: counter(),
    queue: counter(),
    computeInput: counter(),
    computeInfer: counter(),
    computeOutput: counter(),
    cacheHit: counter(),
    cacheMiss: counter(),
    batches: [],
  };
}

function copy(c: DurationCounter): DurationCounter {
  return { count: c.count, ns: Math.round(c.ns) };
}

export class InferenceStatistics implements ExecutionRecorder {
  /** `model` → version → counters; the batch map is keyed by batch size. */
  private readonly models = new Map<
    string,
    Map<number, { counters: VersionStatistics; batches: Map<number, BatchStatistics> }>
  >();

  private entry(model: string, version: number) {
    let versions = this.models.get(model);
    if (!versions) {
      versions = new Map();
      this.models.set(model, versions);
    }
    let entry = versions.get(version);
    if (!entry) {
      entry = { counters: emptyVersionStatistics(), batches: new Map() };
      versions.set(version, entry);
    }
    return entry;
  }

  recordSuccess(model: string, version: number, timing: RequestTiming, totalNs: number, endedAtMs: number): void {
    const { counters } = this.entry(model, version);
    add(counters.success, totalNs);
    add(counters.queue, timing.queueNs);
    add(counters.computeInput, timing.computeInputNs);
    add(counters.computeInfer, timing.computeInferNs);
    add(counters.computeOutput, timing.computeOutputNs);
    counters.inferenceCount += timing.items;
    counters.lastInferenceMs = Math.max(counters.lastInferenceMs, endedAtMs);
  }

  recordFailure(model: string, version: number, totalNs: number, endedAtMs: number): void {
    const { counters } = this.entry(model, version);
    add(counters.fail, totalNs);
    counters.lastInferenceMs = Math.max(counters.lastInferenceMs, endedAtMs);
  }

  recordExecution(model: string, version: number, batchSize: number, execution: StageTimes): void {
    const entry = this.entry(model, version);
    entry.counters.executionCount += 1;
    let batch = entry.batches.get(batchSize);
    if (!batch) {
      batch = {
        batchSize,
        computeInput: counter(),
        computeInfer: counter(),
        computeOutput: counter(),
      };
      entry.batches.set(batchSize, batch);
    }
    addStages(batch, execution);
  }

  /** A version ended (unloaded, or failed): its counters go with it. */
  forgetVersion(model: string, version: number): void {
    const versions = this.models.get(model);
    versions?.delete(version);
    if (versions?.size === 0) this.models.delete(model);
  }

  /** A copy of the version's counters (all zero for a version that has served nothing yet). */
  snapshot(model: string, version: number): VersionStatistics {
    const entry = this.models.get(model)?.get(version);
    if (!entry) return emptyVersionStatistics();
    const c = entry.counters;
    return {
      lastInferenceMs: c.lastInferenceMs,
      inferenceCount: c.inferenceCount,
      executionCount: c.executionCount,
      success: copy(c.success),
      fail: copy(c.fail),
      queue: copy(c.queue),
      computeInput: copy(c.computeInput),
      computeInfer: copy(c.computeInfer),
      computeOutput: copy(c.computeOutput),
      cacheHit: copy(c.cacheHit),
      cacheMiss: copy(c.cacheMiss),
      batches: [...entry.batches.values()]
        .sort((a, b) => a.batchSize - b.batchSize)
        .map((b) => ({
          batchSize: b.batchSize,
          computeInput: copy(b.computeInput),
          computeInfer: copy(b.computeInfer),
          computeOutput: copy(b.computeOutput),
        })),
    };
  }
}

function addStages(batch: BatchStatistics, times: StageTimes): void {
  add(batch.computeInput, times.computeInputNs);
  add(batch.computeInfer, times.computeInferNs);
  add(batch.computeOutput, times.computeOutputNs);
}
