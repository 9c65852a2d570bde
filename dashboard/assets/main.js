// @ts-check
/**
 * The page shell: reads /api/dashboard/server and /api/dashboard/models, builds one tab per view (the URL fragment
 * names the visible one, so a link or a reload keeps it), refreshes the model list every few seconds, and asks for
 * the bearer token when the server answers 401.
 */
import { ApiError, requestJson, setBearerToken } from './api.js';
import { el, replaceChildren } from './dom.js';
import { liveView } from './live-view.js';
import { modelsView } from './models-view.js';
import { placementView } from './placement-view.js';
import { runsView } from './runs-view.js';
import { signaturesView } from './signatures-view.js';
import { tryView } from './try-view.js';

/** @typedef {import('./types.js').DashboardServer} DashboardServer */
/** @typedef {import('./types.js').DashboardModels} DashboardModels */
/** @typedef {import('./types.js').DashboardModel} DashboardModel */
/** @typedef {import('./types.js').View} View */

const MODELS_REFRESH_MS = 3000;
/** @type {View[]} */
const VIEWS = [modelsView, signaturesView, liveView, placementView, tryView, runsView];

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const serverLine = /** @type {HTMLElement} */ (document.getElementById('server-line'));
const nav = /** @type {HTMLElement} */ (document.getElementById('tabs'));

async function start() {
  /** @type {DashboardServer} */
  let server;
  try {
    server = /** @type {DashboardServer} */ (await requestJson('/api/dashboard/server'));
  } catch (error) {
    showStartError(error);
    return;
  }
  showServer(server);

  /** @type {DashboardModel[]} */
  let models = [];
  /** @type {(() => void)[]} */
  const listeners = [];
  let modelsJson = '';
  const refreshModels = async () => {
    try {
      const body = /** @type {DashboardModels} */ (await requestJson('/api/dashboard/models'));
      // Views redraw only when something changed, so a form being edited is not reset every few seconds.
      const json = JSON.stringify(body.models);
      if (json === modelsJson) return;
      modelsJson = json;
      models = body.models;
      for (const listener of listeners) listener();
    } catch (error) {
      serverLine.dataset.error = error instanceof Error ? error.message : String(error);
    }
  };
  await refreshModels();
  setInterval(() => void refreshModels(), MODELS_REFRESH_MS);

  /** @type {import('./types.js').DashboardContext} */
  const context = {
    server,
    models: () => models,
    refreshModels,
    onModelsChanged: (listener) => listeners.push(listener),
  };
  /** @type {Map<string, { view: View, section: HTMLElement, tab: HTMLAnchorElement }>} */
  const tabs = new Map();
  for (const view of VIEWS) {
    const section = el('section', { id: `view-${view.id}`, class: 'view', 'aria-labelledby': `tab-${view.id}` });
    section.hidden = true;
    const tab = el('a', { href: `#${view.id}`, id: `tab-${view.id}`, role: 'tab' }, view.title);
    nav.append(tab);
    main.append(section);
    tabs.set(view.id, { view, section, tab });
    view.mount(section, context);
  }
  const show = () => {
    const wanted = location.hash.slice(1);
    const current = tabs.get(wanted) ?? tabs.get('models');
    for (const entry of tabs.values()) {
      const visible = entry === current;
      entry.section.hidden = !visible;
      entry.tab.setAttribute('aria-selected', String(visible));
    }
    current?.view.shown?.();
  };
  window.addEventListener('hashchange', show);
  show();
  document.body.dataset.ready = 'true';
}

/** @param {DashboardServer} server */
function showServer(server) {
  replaceChildren(
    serverLine,
    `${server.name} ${server.version} · `,
    el('span', { class: `badge state-${server.readiness === 'ready' ? 'available' : 'loading'}` }, server.readiness),
    ` · gRPC :${server.ports.grpc} · REST :${server.ports.rest}`,
    server.workers ? ` · ${server.workers.size} workers` : '',
    server.protocols.prometheusPath
      ? el('span', {}, ' · ', el('a', { href: server.protocols.prometheusPath }, 'metrics'))
      : '',
  );
}

/** @param {unknown} error */
function showStartError(error) {
  if (error instanceof ApiError && error.status === 401) {
    const input = el('input', { type: 'password', autocomplete: 'off', 'aria-label': 'bearer token' });
    const form = el(
      'form',
      {
        class: 'card',
        onsubmit: (event) => {
          event.preventDefault();
          setBearerToken(input.value.trim() || null);
          location.reload();
        },
      },
      el('p', {}, 'This server needs a bearer token (--auth_token_file). It is kept in this tab only.'),
      input,
      ' ',
      el('button', { type: 'submit' }, 'Use token'),
    );
    replaceChildren(main, form);
    return;
  }
  replaceChildren(main, el('p', { class: 'error' }, error instanceof Error ? error.message : String(error)));
}

void start();
