// @ts-check
/**
 * Lays a placement graph out in layers, top to bottom: the graph's inputs in layer 0, each op one layer below the
 * deepest op (or input) it reads from. Edges join a tensor's producer to each consumer; an edge between two
 * partitions is a transfer. Pure functions, no DOM: the node tests call them too.
 */

/** @typedef {import('./types.js').DashboardPlacement} DashboardPlacement */

/**
 * @typedef {{ id: string, label: string, kind: 'input' | 'op', partition: number | null, device: string | null,
 *   layer: number, slot: number }} LayoutNode
 * @typedef {{ from: string, to: string, tensor: string, transfer: boolean }} LayoutEdge
 * @typedef {{ nodes: LayoutNode[], edges: LayoutEdge[], layers: number, widest: number }} Layout
 */

/**
 * @param {Pick<DashboardPlacement, 'inputs' | 'ops'>} placement
 * @returns {Layout}
 */
export function layoutPlacement(placement) {
  /** @type {Map<string, LayoutNode>} tensor name → its producer */
  const producers = new Map();
  /** @type {LayoutNode[]} */
  const nodes = [];
  for (const input of placement.inputs) {
    const node = {
      id: `input:${input}`,
      label: input,
      kind: /** @type {const} */ ('input'),
      partition: null,
      device: null,
      layer: 0,
      slot: 0,
    };
    nodes.push(node);
    producers.set(input, node);
  }
  /** @type {LayoutEdge[]} */
  const edges = [];
  // Ops come in graph (topological) order, so every producer is placed before its consumers.
  for (const op of placement.ops) {
    let layer = 0;
    const node = {
      id: `op:${op.name}`,
      label: `${op.name} (${op.type})`,
      kind: /** @type {const} */ ('op'),
      partition: op.partition,
      device: op.device,
      layer: 0,
      slot: 0,
    };
    for (const tensor of op.inputs) {
      const producer = tensor === '' ? undefined : producers.get(tensor);
      if (!producer) continue; // an initializer (weight) or an op cut off by maxOps
      layer = Math.max(layer, producer.layer + 1);
      edges.push({
        from: producer.id,
        to: node.id,
        tensor,
        transfer: producer.partition !== null && producer.partition !== op.partition,
      });
    }
    node.layer = layer;
    nodes.push(node);
    for (const tensor of op.outputs) producers.set(tensor, node);
  }
  /** @type {number[]} */
  const perLayer = [];
  for (const node of nodes) {
    node.slot = perLayer[node.layer] ?? 0;
    perLayer[node.layer] = node.slot + 1;
  }
  return { nodes, edges, layers: perLayer.length, widest: Math.max(0, ...perLayer) };
}

/**
 * "/job:localhost/replica:0/task:0/device:CPU:0" → "CPU:0"; other names unchanged.
 * @param {string} device
 */
export function shortDeviceName(device) {
  const match = /device:([A-Za-z]+:\d+)$/.exec(device);
  return match?.[1] ?? device;
}
