import type { Device } from '../devices/device.js';
import type { Operation } from '../graph/graph.js';

/**
 * TensorFlow's "Device mapping:" block (spec §1.6): one `<name> -> <physical_device_desc>` line per device with a
 * description. Plain CPU devices have none, so a CPU-only machine prints `Device mapping: no known devices.`
 */
export function deviceMappingLines(devices: readonly Device[]): string[] {
  const described = devices.filter((d) => d.description !== '');
  if (described.length === 0) return ['Device mapping: no known devices.'];
  return ['Device mapping:', ...described.map((d) => `${d.name} -> ${d.description}`)];
}

/** One line per placed op, in TensorFlow's format: `MatMul: (MatMul): /job:localhost/replica:0/task:0/device:CPU:0`. */
export function placementLines(ops: readonly Operation[], deviceOf: (op: Operation) => Device | undefined): string[] {
  return ops.map((op) => placementLine(op, deviceOf(op)));
}

export function placementLine(op: Operation, device: Device | undefined): string {
  return `${op.name}: (${op.type}): ${device?.name ?? '<unplaced>'}`;
}

/** The line logged when soft placement moves an op off its requested device. */
export function softPlacementLine(opName: string, requested: string, placedOn: string): string {
  return `Soft placement: op '${opName}' requested ${requested}, placed on ${placedOn}`;
}
