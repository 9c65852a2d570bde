/**
 * Triton's statistics extension (spec open-inference-protocol.md §6.2 and §8): `GET /v2/models[/{m}[/versions/{v}]]
 * /stats` and gRPC ModelStatistics, from the core's per version counters (core/inference-statistics.ts), which every
 * inference request fills, TF Serving's APIs and the Open Inference Protocol alike. Every field perf_analyzer reads
 * is present: name, version, inference_count, execution_count and inference_stats' eight durations.
 *
 * - No model named: every AVAILABLE version of every model. A model without a version: each AVAILABLE version of it
 *   (newest first). A version (or label): that one.
 * - inference_count counts batch items (a request's rows when it was batched, else 1); execution_count counts model
 *   runs (a batch of many requests is one); batch_stats has one entry per batch size that ran.
 * - cache_hit / cache_miss: flowserve has no response cache, so they stay 0.
 * - A version's counters start at 0 when it loads and go when it unloads.
 */
import { NotFound } from '../../../errors.js';
import type { DurationCounter, VersionStatistics } from '../../core/inference-statistics.js';
import type { ServingCore } from '../../core/types.js';
import { selectorOfV2 } from './infer.js';

/** The extension name advertised in `GET /v2` / ServerMetadata. */
export const STATISTICS_EXTENSION = 'statistics';

export interface V2Duration {
  count: number;
  ns: number;
}

export interface V2InferenceStatistics {
  success: V2Duration;
  fail: V2Duration;
  queue: V2Duration;
  compute_input: V2Duration;
  compute_infer: V2Duration;
  compute_output: V2Duration;
  cache_hit: V2Duration;
  cache_miss: V2Duration;
}

export interface V2BatchStatistics {
  batch_size: number;
  compute_input: V2Duration;
  compute_infer: V2Duration;
  compute_output: V2Duration;
}

export interface V2ModelStatistics {
  name: string;
  version: string;
  /** ms since the Unix epoch of the last request's end; 0 = none yet. */
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: V2InferenceStatistics;
  batch_stats: V2BatchStatistics[];
}

export interface V2StatisticsResponse {
  model_stats: V2ModelStatistics[];
}

function duration(counter: DurationCounter): V2Duration {
  return { count: counter.count, ns: counter.ns };
}

function modelStatistics(name: string, version: number, s: VersionStatistics): V2ModelStatistics {
  return {
    name,
    version: String(version),
    last_inference: s.lastInferenceMs,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: {
      success: duration(s.success),
      fail: duration(s.fail),
      queue: duration(s.queue),
      compute_input: duration(s.computeInput),
      compute_infer: duration(s.computeInfer),
      compute_output: duration(s.computeOutput),
      cache_hit: duration(s.cacheHit),
      cache_miss: duration(s.cacheMiss),
    },
    batch_stats: s.batches.map((b) => ({
      batch_size: b.batchSize,
      compute_input: duration(b.computeInput),
      compute_infer: duration(b.computeInfer),
      compute_output: duration(b.computeOutput),
    })),
  };
}

/** Which versions a statistics request covers (see the header). */
function targets(core: ServingCore, name?: string, version?: string): { name: string; version: number }[] {
  if (name === undefined || name === '') return core.servedVersions();
  if (version === undefined || version === '') {
    const versions = core.servedVersions(name);
    if (versions.length === 0) throw new NotFound(`requested model '${name}' is not available`);
    return versions;
  }
  // Resolves a number or a label to an AVAILABLE version, with the same errors as an inference.
  const info = core.info(selectorOfV2(name, version));
  return [{ name: info.modelName, version: info.version }];
}

/** `name`/`version` absent or "" = all (see the header). */
export function modelStatisticsV2(core: ServingCore, name?: string, version?: string): V2StatisticsResponse {
  return {
    model_stats: targets(core, name, version).map((t) =>
      modelStatistics(t.name, t.version, core.versionStatistics(t.name, t.version)),
    ),
  };
}
