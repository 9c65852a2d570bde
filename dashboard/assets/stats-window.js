// @ts-check
/**
 * The live charts' data: the window GET /api/dashboard/stats returns, extended by each stream event (which carries only
 * the newest sample) and cut to the server's sample count. A series first seen in an event gets nulls for the
 * samples before it. Pure functions, no DOM: the node tests call them too.
 */

/** @typedef {import('./types.js').DashboardStats} DashboardStats */
/** @typedef {import('./types.js').DashboardSeries} DashboardSeries */

/** @param {{ model: string, entrypoint: string, protocol: string }} series */
export function seriesKey(series) {
  return `${series.model} · ${series.entrypoint} ${series.protocol}`;
}

/**
 * @param {DashboardStats | null} current  the window so far (null before the first)
 * @param {DashboardStats} incoming  a whole window (from /stats or polling) or one stream event
 * @param {number} maxSamples
 * @returns {DashboardStats}
 */
export function mergeStats(current, incoming, maxSamples) {
  const sampleTime = incoming.timestamps[0];
  // A whole window (from /stats or polling), or the first thing we see: take it as it is.
  if (current === null || incoming.timestamps.length !== 1 || sampleTime === undefined) {
    return trim(incoming, maxSamples);
  }
  const newest = current.timestamps[current.timestamps.length - 1] ?? -Infinity;
  // An event we already have (the stream and /stats overlap by a sample): keep the window, take the gauges.
  if (sampleTime <= newest) {
    return { ...current, batchSizes: incoming.batchSizes, queues: incoming.queues, workers: incoming.workers };
  }
  const length = current.timestamps.length;
  const byKey = new Map(current.series.map((s) => [seriesKey(s), s]));
  /** @type {DashboardSeries[]} */
  const series = current.series.map((s) => ({
    ...s,
    requestsPerSecond: [...s.requestsPerSecond, 0],
    errorsPerSecond: [...s.errorsPerSecond, 0],
    p50LatencyMs: [...s.p50LatencyMs, null],
    p99LatencyMs: [...s.p99LatencyMs, null],
  }));
  for (const added of incoming.series) {
    const index = series.findIndex((s) => seriesKey(s) === seriesKey(added));
    const target =
      index >= 0
        ? /** @type {DashboardSeries} */ (series[index])
        : {
            ...added,
            requestsPerSecond: new Array(length + 1).fill(0),
            errorsPerSecond: new Array(length + 1).fill(0),
            p50LatencyMs: new Array(length + 1).fill(null),
            p99LatencyMs: new Array(length + 1).fill(null),
          };
    target.requestsPerSecond[length] = added.requestsPerSecond[0] ?? 0;
    target.errorsPerSecond[length] = added.errorsPerSecond[0] ?? 0;
    target.p50LatencyMs[length] = added.p50LatencyMs[0] ?? null;
    target.p99LatencyMs[length] = added.p99LatencyMs[0] ?? null;
    if (!byKey.has(seriesKey(added))) series.push(target);
  }
  return trim({ ...incoming, timestamps: [...current.timestamps, sampleTime], series }, maxSamples);
}

/**
 * @param {DashboardStats} stats
 * @param {number} maxSamples
 * @returns {DashboardStats}
 */
function trim(stats, maxSamples) {
  const drop = Math.max(0, stats.timestamps.length - maxSamples);
  if (drop === 0) return stats;
  return {
    ...stats,
    timestamps: stats.timestamps.slice(drop),
    series: stats.series.map((s) => ({
      ...s,
      requestsPerSecond: s.requestsPerSecond.slice(drop),
      errorsPerSecond: s.errorsPerSecond.slice(drop),
      p50LatencyMs: s.p50LatencyMs.slice(drop),
      p99LatencyMs: s.p99LatencyMs.slice(drop),
    })),
  };
}
