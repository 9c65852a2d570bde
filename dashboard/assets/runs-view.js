// @ts-check
/**
 * Training runs: the loss and accuracy curves of each run under --runs_dir (the data curves.svg is drawn from).
 */
import { requestJson } from './api.js';
import { lineChart } from './charts.js';
import { el, replaceChildren } from './dom.js';

/** @typedef {import('./types.js').DashboardRuns} DashboardRuns */
/** @typedef {import('./types.js').DashboardRun} DashboardRun */

/** @type {import('./types.js').View} */
export const runsView = {
  id: 'runs',
  title: 'Training runs',
  mount(container, context) {
    if (!context.server.dashboard.runs) {
      replaceChildren(
        container,
        el('p', { class: 'muted' }, 'Start the server with --runs_dir DIR to see training curves here.'),
      );
      return;
    }
    const body = el('div', { id: 'runs-body' }, el('p', { class: 'muted' }, 'Loading…'));
    const refresh = el('button', { type: 'button', onclick: () => void load() }, 'Refresh');
    replaceChildren(container, el('div', {}, refresh), body);
    async function load() {
      try {
        const runs = /** @type {DashboardRuns} */ (await requestJson('/api/dashboard/runs'));
        replaceChildren(
          body,
          runs.runs.length === 0 ? el('p', { class: 'muted' }, 'No runs with curves yet.') : runs.runs.map(runCard),
          runs.skipped.length > 0
            ? el(
                'details',
                {},
                el('summary', {}, `${runs.skipped.length} skipped`),
                el(
                  'ul',
                  {},
                  runs.skipped.map((s) => el('li', {}, `${s.name}: ${s.reason}`)),
                ),
              )
            : null,
        );
      } catch (error) {
        replaceChildren(body, el('p', { class: 'error' }, error instanceof Error ? error.message : String(error)));
      }
    }
    void load();
  },
};

/** @param {DashboardRun} run */
function runCard(run) {
  /** @param {(number | null)[]} values */
  const points = (values) => values.map((v, i) => ({ x: i + 1, v }));
  const steps = Math.max(run.loss.length, run.accuracy.length, 1);
  return el(
    'section',
    { class: 'card run', 'data-run': run.name },
    el(
      'h3',
      {},
      run.title || run.name,
      ' ',
      el('span', { class: 'muted small' }, `${run.name}, updated ${run.updatedAt}`),
    ),
    el(
      'div',
      { class: 'grid-charts' },
      lineChart({
        title: 'Loss',
        unit: '',
        xStart: 1,
        xEnd: steps,
        xLabels: [`${run.xLabel} 1`, `${run.xLabel} ${steps}`],
        series: [{ name: 'loss', points: points(run.loss) }],
      }),
      lineChart({
        title: 'Accuracy',
        unit: '',
        xStart: 1,
        xEnd: steps,
        xLabels: [`${run.xLabel} 1`, `${run.xLabel} ${steps}`],
        yMax: 1,
        series: [{ name: 'accuracy', points: points(run.accuracy) }],
      }),
    ),
  );
}
