import type { Device } from '../devices/device.js';
import type { Operation } from '../graph/graph.js';

/** TensorFlow's "Device mapping:" block: one line per device with a description (spec §1.6). */
export function deviceMappingLines(devices: readonly Device[]): string[] {
  const described = devices.filter((d) => d.description !== '');
  if (described.length === 0) return ['Device mapping: no known devices.'];
  return ['Device mapping:', ...described.map((d) => `${d.name} -> ${d.description}`)];
}

/** One line per placed op, in TensorFlow's format: `MatMul: (MatMul): /job:localhost/replica:0/task:0/device:CPU:0`. */
export function placementLines(ops: readonly Operation[], deviceOf: (op: Operation) => Device | undefined): string[] {
  return ops.map((op) => `${op.name}: (${op.type}): ${deviceOf(op)?.name ?? '<unplaced>'}`);
}
