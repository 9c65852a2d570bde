import { InvalidArgument } from '../errors.js';
import { deviceMatches, parseDeviceSpec } from '../devices/device-spec.js';
import type { Device } from '../devices/device.js';
import type { Operation } from '../graph/graph.js';

export interface PlacerOptions {
  allowSoftPlacement?: boolean;
}

/**
 * Assigns a device to every op, following TensorFlow's placer (spec/placement-and-lowering.md §1.3–1.5).
 * Placement is incremental: ops placed once keep their device; new ops are placed when first seen.
 */
export class Placer {
  private readonly assigned = new Map<Operation, Device>();

  constructor(
    readonly devices: readonly Device[],
    readonly options: PlacerOptions = {},
  ) {}

  deviceOf(op: Operation): Device | undefined {
    return this.assigned.get(op);
  }

  /** Places the ops not placed yet; returns the newly placed ones in placement order. */
  place(ops: readonly Operation[]): Operation[] {
    const fresh = ops.filter((op) => !this.assigned.has(op));
    for (const op of fresh) this.assigned.set(op, this.choose(op));
    return fresh;
  }

  private choose(op: Operation): Device {
    const withKernel = this.devices.filter((d) => op.def.kernels.includes(d.type));
    if (op.requestedDevice) {
      const spec = parseDeviceSpec(op.requestedDevice);
      const full = (d: Device) => ({ job: 'localhost', replica: 0, task: 0, type: d.type, index: d.index });
      const match = withKernel.find((d) => deviceMatches(spec, full(d)));
      if (match) return match;
      if (!this.options.allowSoftPlacement) {
        throw new InvalidArgument(
          `Cannot assign a device for operation ${op.name}: node ${op.name} was explicitly assigned to ${op.requestedDevice} but available devices are [ ${this.devices
            .map((d) => d.name)
            .sort()
            .join(', ')} ]. Make sure the device specification refers to a valid device.`,
        );
      }
    }
    const best = withKernel[0];
    if (!best) throw new InvalidArgument(`No device has a kernel for operation '${op.name}' (${op.type})`);
    return best;
  }
}
