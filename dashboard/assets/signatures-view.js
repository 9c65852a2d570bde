// @ts-check
/**
 * Signatures: each signature of a loaded version with its inputs and outputs (alias, tensor, dtype, shape), from the
 * same metadata GetModelMetadata and /v2/models/NAME return.
 */
import { el, replaceChildren } from './dom.js';
import { versionPicker } from './version-picker.js';

/** @typedef {import('./types.js').DashboardTensor} DashboardTensor */

/** @type {import('./types.js').View} */
export const signaturesView = {
  id: 'signatures',
  title: 'Signatures',
  mount(container, context) {
    const body = el('div', { id: 'signatures-body' });
    const picker = versionPicker(context, 'Model', (chosen) => {
      if (!chosen?.version.loaded) {
        replaceChildren(body, el('p', { class: 'muted' }, 'No loaded version.'));
        return;
      }
      const { defaultSignature, signatures } = chosen.version.loaded;
      replaceChildren(
        body,
        Object.entries(signatures).map(([key, signature]) =>
          el(
            'section',
            { class: 'card signature', 'data-signature': key },
            el(
              'h3',
              {},
              key,
              key === defaultSignature ? el('span', { class: 'badge' }, 'default') : null,
              ' ',
              el('span', { class: 'muted small' }, signature.methodName),
            ),
            tensorTable('Inputs', signature.inputs),
            tensorTable('Outputs', signature.outputs),
          ),
        ),
      );
    });
    replaceChildren(container, picker, body);
  },
};

/**
 * @param {string} caption
 * @param {Record<string, DashboardTensor>} tensors
 */
function tensorTable(caption, tensors) {
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { class: 'tensors' },
      el('caption', {}, caption),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Alias', 'Tensor', 'dtype', 'datatype', 'shape'].map((h) => el('th', { scope: 'col' }, h)),
        ),
      ),
      el(
        'tbody',
        {},
        Object.entries(tensors).map(([alias, tensor]) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, alias),
            el('td', { class: 'path' }, tensor.name),
            el('td', {}, tensor.dtype),
            el('td', {}, tensor.datatype),
            el('td', {}, formatShape(tensor)),
          ),
        ),
      ),
    ),
  );
}

/** @param {DashboardTensor} tensor */
export function formatShape(tensor) {
  if (tensor.unknownRank) return 'unknown rank';
  return `[${tensor.shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}
