/**
 * Where a request's time goes on its way through the server, split as Triton's statistics extension splits it
 * (spec open-inference-protocol.md §6.2): waiting in a queue, moving the inputs into the model runtime, the model
 * run itself, and bringing the outputs back. The batch scheduler, the worker pool and the servable each add their
 * part; the serving core turns the sums into per-version counters (core/inference-statistics.ts).
 *
 * Times are absolute milliseconds on a clock every thread shares (`performance.timeOrigin + performance.now()`):
 * a worker thread's `performance.now()` counts from the worker's own start, so only the sum is comparable across
 * threads.
 */

/** Nanoseconds spent in each stage. */
export interface StageTimes {
  /** Waiting: in the batch scheduling queue, and for a worker thread busy with earlier runs. */
  queueNs: number;
  /** Merging a batch, moving the inputs to the worker thread and handing them to ONNX Runtime. */
  computeInputNs: number;
  /** The ONNX Runtime run. */
  computeInferNs: number;
  /** Moving the outputs back to the main thread and cutting a batch's outputs into each request's rows. */
  computeOutputNs: number;
}

/**
 * One request's stages, filled in by the servable it ran on (the caller passes a zeroed object). `items` is what the
 * request adds to Triton's `inference_count`: its rows when it went through a batch scheduler, else 1.
 */
export interface RequestTiming extends StageTimes {
  items: number;
}

/** One model execution (a batch, or a request run alone): what Triton's `batch_stats` and `execution_count` count. */
export interface ExecutionRecord extends StageTimes {
  /** Rows of the execution when it came from a batch scheduler; 1 for a request run alone (Triton's batch-1). */
  batchSize: number;
}

export function emptyStageTimes(): StageTimes {
  return { queueNs: 0, computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0 };
}

export function emptyRequestTiming(): RequestTiming {
  // Made once per request: a literal, not a spread of emptyStageTimes() (V8 clones a spread's source slowly).
  return { queueNs: 0, computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0, items: 1 };
}

/** Milliseconds since the Unix epoch with sub-millisecond resolution, the same on every thread. */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Nanoseconds between two sharedClockMs() readings; never negative (two threads' clocks may differ by a few µs). */
export function elapsedNs(fromMs: number, toMs: number): number {
  return Math.max(0, Math.round((toMs - fromMs) * 1e6));
}

/** Adds every stage of `from` into `into`. */
export function addStageTimes(into: StageTimes, from: StageTimes): void {
  into.queueNs += from.queueNs;
  into.computeInputNs += from.computeInputNs;
  into.computeInferNs += from.computeInferNs;
  into.computeOutputNs += from.computeOutputNs;
}
