// @ts-check
/**
 * Live load: requests/s, errors/s and p50/p99 latency per model and protocol over the server's window, the batch-size
 * histogram, batch queue depths and the worker pool. Data: GET /api/dashboard/stats once, then the `stats` events of
 * /api/dashboard/stats/stream (or polling /stats when the stream is unavailable). The subscription runs from page
 * load, so the charts have history when the tab is opened; drawing happens only while the tab is visible.
 */
import { requestJson, subscribeStats } from './api.js';
import { barChart, lineChart } from './charts.js';
import { el, replaceChildren } from './dom.js';
import { mergeStats, seriesKey } from './stats-window.js';

/** @typedef {import('./types.js').DashboardStats} DashboardStats */
/** @typedef {import('./types.js').DashboardSeries} DashboardSeries */

/** @type {HTMLElement | null} */
let root = null;
/** @type {DashboardStats | null} */
let stats = null;
let maxSamples = 60;
/** @type {HTMLElement | null} */
let modeLabel = null;

/** @type {import('./types.js').View} */
export const liveView = {
  id: 'live',
  title: 'Live load',
  mount(container, context) {
    maxSamples = context.server.dashboard.statsSamples;
    modeLabel = el('span', { class: 'badge', id: 'live-mode' }, 'connecting');
    root = el('div', { id: 'live-body' });
    replaceChildren(container, el('p', { class: 'muted' }, 'Updates: ', modeLabel), root);
    const accept = (/** @type {unknown} */ data) => {
      stats = mergeStats(stats, /** @type {DashboardStats} */ (data), maxSamples);
      if (!container.hidden) render();
    };
    void requestJson('/api/dashboard/stats')
      .then(accept)
      .catch(() => {
        // The subscription below reports the error.
      })
      .finally(() =>
        subscribeStats({
          streamPath: '/api/dashboard/stats/stream',
          pollPath: '/api/dashboard/stats',
          onStats: accept,
          onMode: (mode, detail) => {
            if (!modeLabel) return;
            modeLabel.textContent =
              mode === 'stream'
                ? 'live (Server-Sent Events)'
                : mode === 'polling'
                  ? 'polling every second'
                  : `error: ${detail ?? ''}`;
            modeLabel.className = `badge ${mode === 'error' ? 'state-end' : 'state-available'}`;
          },
        }),
      );
  },
  shown() {
    render();
  },
};

function render() {
  if (!root) return;
  if (!stats) {
    replaceChildren(root, el('p', { class: 'muted' }, 'Waiting for the first sample…'));
    return;
  }
  const timestamps = stats.timestamps;
  const xEnd = timestamps[timestamps.length - 1] ?? Date.now();
  const xStart = xEnd - stats.intervalMs * Math.max(1, maxSamples - 1);
  const windowSeconds = Math.round((xEnd - xStart) / 1000);
  /**
   * @param {string} title
   * @param {string} unit
   * @param {(s: DashboardSeries) => (number | null)[]} pick
   * @param {string} id
   */
  const chart = (title, unit, pick, id) =>
    lineChart({
      id,
      title,
      unit,
      xStart,
      xEnd,
      xLabels: [`−${windowSeconds} s`, 'now'],
      series: /** @type {DashboardStats} */ (stats).series.map((s) => ({
        name: seriesKey(s),
        points: pick(s).map((v, i) => ({ x: timestamps[i] ?? 0, v })),
      })),
    });
  const workers = stats.workers;
  replaceChildren(
    root,
    el(
      'div',
      { class: 'grid-charts' },
      chart('Requests', 'req/s', (s) => s.requestsPerSecond, 'chart-requests'),
      chart('Errors', 'err/s', (s) => s.errorsPerSecond, 'chart-errors'),
      chart('p50 latency', 'ms', (s) => s.p50LatencyMs, 'chart-p50'),
      chart('p99 latency', 'ms', (s) => s.p99LatencyMs, 'chart-p99'),
    ),
    el(
      'div',
      { class: 'grid-charts' },
      stats.batchSizes.length === 0
        ? el(
            'figure',
            { class: 'chart' },
            el('figcaption', {}, 'Batch sizes'),
            el('p', { class: 'muted' }, 'no batches yet'),
          )
        : stats.batchSizes.map((h) =>
            barChart({
              title: `Batch sizes · ${h.model} (${h.batches} batches)`,
              bars: h.buckets.map((b) => ({ label: b.le === null ? '> last' : `≤ ${b.le}`, value: b.count })),
              format: (v) => String(Math.round(v)),
            }),
          ),
      el(
        'section',
        { class: 'card', id: 'queues' },
        el('h3', {}, 'Batch queues'),
        stats.queues.length === 0
          ? el('p', { class: 'muted' }, 'No batch queues (batching is off or idle).')
          : el(
              'table',
              {},
              el(
                'thead',
                {},
                el(
                  'tr',
                  {},
                  ['Model', 'Version', 'Signature', 'Waiting'].map((h) => el('th', {}, h)),
                ),
              ),
              el(
                'tbody',
                {},
                stats.queues.map((q) =>
                  el(
                    'tr',
                    {},
                    el('td', {}, q.model),
                    el('td', {}, String(q.version)),
                    el('td', {}, q.signature),
                    el('td', {}, String(q.depth)),
                  ),
                ),
              ),
            ),
      ),
      el(
        'section',
        { class: 'card', id: 'workers' },
        el('h3', {}, 'Worker pool'),
        workers === null
          ? el('p', { class: 'muted' }, 'No worker pool: models run on the calling thread.')
          : el(
              'dl',
              { class: 'tiles' },
              tile('threads', workers.size),
              tile('busy', workers.busy),
              tile('idle', workers.idle),
              tile('restarts', workers.restarts),
            ),
      ),
    ),
  );
}

/**
 * @param {string} label
 * @param {number} value
 */
function tile(label, value) {
  return el('div', { class: 'tile', 'data-tile': label }, el('dt', {}, label), el('dd', {}, String(value)));
}
