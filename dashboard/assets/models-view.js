// @ts-check
/**
 * Models: one row per model version with its state, labels, where it came from, format, device and the last error in
 * full. With --model_control_mode=explicit, load/unload buttons call the Open Inference Protocol's repository API
 * (the same calls any client makes).
 */
import { requestJson } from './api.js';
import { el, replaceChildren } from './dom.js';

/** @typedef {import('./types.js').DashboardContext} DashboardContext */
/** @typedef {import('./types.js').DashboardModel} DashboardModel */

/** @type {import('./types.js').View} */
export const modelsView = {
  id: 'models',
  title: 'Models',
  mount(container, context) {
    const explicit = context.server.modelControlMode === 'explicit';
    const status = el('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    const table = el('div', { class: 'table-wrap' });
    const render = () => replaceChildren(table, modelsTable(context.models(), explicit, act));

    /**
     * @param {'load' | 'unload'} action
     * @param {string} model
     */
    async function act(action, model) {
      status.textContent = `${action === 'load' ? 'Loading' : 'Unloading'} ${model}…`;
      try {
        await requestJson(`/v2/repository/models/${encodeURIComponent(model)}/${action}`, { method: 'POST', body: {} });
        status.textContent = `${model}: ${action} done`;
      } catch (error) {
        status.textContent = error instanceof Error ? error.message : String(error);
      }
      await context.refreshModels();
    }

    replaceChildren(
      container,
      el(
        'p',
        { class: 'muted' },
        explicit
          ? 'Model control is explicit: load and unload go through /v2/repository/models/NAME/{load,unload}.'
          : `Read-only (model control mode: ${context.server.modelControlMode}).`,
      ),
      status,
      table,
    );
    render();
    context.onModelsChanged(render);
  },
};

/**
 * @param {DashboardModel[]} models
 * @param {boolean} explicit
 * @param {(action: 'load' | 'unload', model: string) => void} act
 */
function modelsTable(models, explicit, act) {
  if (models.length === 0) return el('p', { class: 'muted' }, 'No models are configured.');
  const header = ['Model', 'Version', 'State', 'Labels', 'Source', 'Format', 'Device', 'Last error'];
  if (explicit) header.push('Actions');
  const rows = models.flatMap((model) => {
    const versions = model.versions.length > 0 ? model.versions : [null];
    return versions.map((version, index) =>
      el(
        'tr',
        { 'data-model': model.name, 'data-version': version?.version ?? '' },
        index === 0
          ? el(
              'th',
              { scope: 'row', rowspan: versions.length },
              model.name,
              model.served ? null : el('span', { class: 'badge muted' }, 'not served'),
              el('div', { class: 'muted small' }, `policy: ${model.versionPolicy}`),
              model.batching
                ? el('div', { class: 'muted small' }, `batching: up to ${model.batching.maxBatchSize}`)
                : null,
            )
          : null,
        el('td', { 'data-label': 'Version' }, version ? String(version.version) : '—'),
        el(
          'td',
          { 'data-label': 'State' },
          version ? el('span', { class: `badge state-${version.state.toLowerCase()}` }, version.state) : 'no versions',
        ),
        el('td', { 'data-label': 'Labels' }, version && version.labels.length > 0 ? version.labels.join(', ') : '—'),
        el(
          'td',
          { 'data-label': 'Source', class: 'path' },
          el('span', { class: 'badge' }, model.source.kind),
          ' ',
          version ? `${model.source.basePath}/${version.version}` : model.source.basePath,
        ),
        el(
          'td',
          { 'data-label': 'Format' },
          version?.loaded ? `${version.loaded.format} (${version.loaded.platform})` : '—',
        ),
        el(
          'td',
          { 'data-label': 'Device' },
          version?.loaded
            ? `${version.loaded.device}${version.loaded.instances > 1 ? ` ×${version.loaded.instances}` : ''}`
            : model.device,
        ),
        el(
          'td',
          { 'data-label': 'Last error', class: 'error-cell' },
          version?.error ? el('pre', { class: 'error' }, `${version.error.code}: ${version.error.message}`) : '—',
        ),
        explicit && index === 0
          ? el(
              'td',
              { rowspan: versions.length, 'data-label': 'Actions' },
              el(
                'button',
                { type: 'button', onclick: () => act('load', model.name) },
                model.served ? 'Reload' : 'Load',
              ),
              ' ',
              el(
                'button',
                { type: 'button', disabled: !model.served, onclick: () => act('unload', model.name) },
                'Unload',
              ),
            )
          : null,
      ),
    );
  });
  return el(
    'table',
    { class: 'models', id: 'models-table' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        header.map((name) => el('th', { scope: 'col' }, name)),
      ),
    ),
    el('tbody', {}, rows),
  );
}
