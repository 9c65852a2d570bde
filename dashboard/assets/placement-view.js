// @ts-check
/**
 * Placement: a loaded version's graph with each op coloured by its device, the device partitions and the transfers
 * between them (TensorFlow's log_device_placement, made visible), then the same as a readable list and as the log.
 */
import { requestJson } from './api.js';
import { el, replaceChildren, svg } from './dom.js';
import { layoutPlacement, shortDeviceName } from './placement-layout.js';
import { versionPicker } from './version-picker.js';

/** @typedef {import('./types.js').DashboardPlacement} DashboardPlacement */

const NODE_WIDTH = 170;
const NODE_HEIGHT = 30;
const GAP_X = 20;
const GAP_Y = 34;
const DEVICE_COLOURS = 6;

/** @type {import('./types.js').View} */
export const placementView = {
  id: 'placement',
  title: 'Placement',
  mount(container, context) {
    const body = el('div', { id: 'placement-body' });
    let request = 0;
    const picker = versionPicker(context, 'Model', (chosen) => {
      const ticket = ++request;
      if (!chosen) {
        replaceChildren(body, el('p', { class: 'muted' }, 'No loaded version.'));
        return;
      }
      replaceChildren(body, el('p', { class: 'muted' }, 'Loading the placement…'));
      const path = `/api/dashboard/models/${encodeURIComponent(chosen.model.name)}/versions/${chosen.version.version}/placement`;
      requestJson(path).then(
        (placement) => {
          if (ticket === request)
            replaceChildren(body, placementDetails(/** @type {DashboardPlacement} */ (placement)));
        },
        (error) => {
          if (ticket === request)
            replaceChildren(body, el('p', { class: 'error' }, String(error instanceof Error ? error.message : error)));
        },
      );
    });
    replaceChildren(container, picker, body);
  },
};

/** @param {DashboardPlacement} placement */
function placementDetails(placement) {
  /** @param {string} device */
  const deviceClass = (device) => `device-${Math.max(0, placement.devices.indexOf(device)) % DEVICE_COLOURS}`;
  return [
    el(
      'ul',
      { class: 'legend devices' },
      placement.partitions.map((p) =>
        el(
          'li',
          { 'data-device': p.device },
          el('span', { class: `swatch ${deviceClass(p.device)}` }),
          `partition ${p.index}: ${shortDeviceName(p.device)} (${p.ops} ops)`,
        ),
      ),
      el('li', {}, el('span', { class: 'swatch transfer' }), `${placement.transfers.length} transfers`),
    ),
    el(
      'p',
      { class: 'muted small' },
      `${placement.totalOps} ops, ${placement.initializers} initializers; format ${placement.format}.`,
      placement.truncated ? ` Only the first ${placement.maxOps} ops are listed.` : '',
    ),
    el('div', { class: 'graph-wrap' }, graphDrawing(placement, deviceClass)),
    el('h3', {}, 'Ops and their devices'),
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        { class: 'ops', id: 'placement-ops' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ['#', 'Op', 'Type', 'Device', 'Partition'].map((h) => el('th', { scope: 'col' }, h)),
          ),
        ),
        el(
          'tbody',
          {},
          placement.ops.map((op, index) =>
            el(
              'tr',
              { 'data-op': op.name, 'data-device': op.device },
              el('td', {}, String(index)),
              el('th', { scope: 'row', class: 'path' }, op.name),
              el('td', {}, op.type),
              el('td', { class: 'path' }, el('span', { class: `swatch ${deviceClass(op.device)}` }), op.device),
              el('td', {}, String(op.partition)),
            ),
          ),
        ),
      ),
    ),
    placement.transfers.length > 0
      ? el(
          'div',
          {},
          el('h3', {}, 'Transfers'),
          el(
            'ul',
            { class: 'transfers' },
            placement.transfers.map((t) => el('li', { class: 'path' }, `${t.tensor}: partition ${t.from} → ${t.to}`)),
          ),
        )
      : null,
    el('h3', {}, 'Device placement log'),
    el('pre', { class: 'log', id: 'placement-log' }, placement.log.join('\n')),
  ];
}

/**
 * @param {DashboardPlacement} placement
 * @param {(device: string) => string} deviceClass
 */
function graphDrawing(placement, deviceClass) {
  const layout = layoutPlacement(placement);
  const width = Math.max(1, layout.widest) * (NODE_WIDTH + GAP_X) + GAP_X;
  const height = Math.max(1, layout.layers) * (NODE_HEIGHT + GAP_Y) + GAP_Y;
  const centre = new Map(
    layout.nodes.map((node) => [
      node.id,
      {
        x: GAP_X + node.slot * (NODE_WIDTH + GAP_X) + NODE_WIDTH / 2,
        y: GAP_Y / 2 + node.layer * (NODE_HEIGHT + GAP_Y) + NODE_HEIGHT / 2,
      },
    ]),
  );
  const edges = layout.edges.map((edge) => {
    const from = centre.get(edge.from);
    const to = centre.get(edge.to);
    if (!from || !to) return null;
    return svg(
      'path',
      {
        class: edge.transfer ? 'edge transfer' : 'edge',
        d: `M${from.x},${from.y + NODE_HEIGHT / 2} C${from.x},${from.y + NODE_HEIGHT} ${to.x},${to.y - NODE_HEIGHT} ${to.x},${to.y - NODE_HEIGHT / 2}`,
        'marker-end': 'url(#arrow)',
      },
      svg('title', {}, edge.transfer ? `transfer: ${edge.tensor}` : edge.tensor),
    );
  });
  const nodes = layout.nodes.map((node) => {
    const c = /** @type {{ x: number, y: number }} */ (centre.get(node.id));
    const label = node.label.length > 24 ? `${node.label.slice(0, 23)}…` : node.label;
    return svg(
      'g',
      { class: `node ${node.kind === 'input' ? 'input' : deviceClass(node.device ?? '')}` },
      svg('title', {}, node.device ? `${node.label} on ${node.device}` : `input ${node.label}`),
      svg('rect', {
        x: c.x - NODE_WIDTH / 2,
        y: c.y - NODE_HEIGHT / 2,
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        rx: node.kind === 'input' ? 15 : 4,
      }),
      svg('text', { x: c.x, y: c.y + 4, 'text-anchor': 'middle' }, label),
    );
  });
  return svg(
    'svg',
    { class: 'graph', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'placement graph' },
    svg(
      'defs',
      {},
      svg(
        'marker',
        {
          id: 'arrow',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }),
      ),
    ),
    edges,
    nodes,
  );
}
