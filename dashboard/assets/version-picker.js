// @ts-check
/**
 * A <select> of the loaded model versions ("mnist · version 2"), kept in step with the model list. Views that need a
 * loaded version (signatures, placement, try it) share it.
 */
import { el, replaceChildren } from './dom.js';

/** @typedef {import('./types.js').DashboardModel} DashboardModel */
/** @typedef {import('./types.js').DashboardVersion} DashboardVersion */
/** @typedef {{ model: DashboardModel, version: DashboardVersion }} LoadedVersion */

/**
 * @param {import('./types.js').DashboardContext} context
 * @param {string} label
 * @param {(chosen: LoadedVersion | null) => void} onChange  called with the choice, and again when the list changes
 * @returns {HTMLElement}
 */
export function versionPicker(context, label, onChange) {
  const select = el('select', { class: 'version-picker' });
  /** @type {LoadedVersion[]} */
  let choices = [];
  let lastKey = '';

  const emit = () => {
    const chosen = choices[select.selectedIndex] ?? null;
    const key = chosen ? `${chosen.model.name}\u0000${chosen.version.version}\u0000${chosen.version.state}` : '';
    if (key === lastKey) return;
    lastKey = key;
    onChange(chosen);
  };
  const fill = () => {
    const previous = select.value;
    choices = context
      .models()
      .flatMap((model) => model.versions.filter((v) => v.loaded !== null).map((version) => ({ model, version })));
    replaceChildren(
      select,
      choices.map((c) =>
        el(
          'option',
          { value: `${c.model.name}/${c.version.version}` },
          `${c.model.name} · version ${c.version.version}`,
        ),
      ),
    );
    if (choices.some((c) => `${c.model.name}/${c.version.version}` === previous)) select.value = previous;
    emit();
  };
  select.addEventListener('change', emit);
  context.onModelsChanged(fill);
  fill();
  return el('label', { class: 'picker' }, `${label} `, select);
}
