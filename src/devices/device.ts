import os from 'node:os';
import { LOCAL_DEVICE_PREFIX, localDeviceName } from './names.js';
import { webgpuProvider } from './webgpu.js';

export { LOCAL_DEVICE_PREFIX, localDeviceName };

/** A device ops can be placed on, named as TensorFlow names it. */
export interface Device {
  /** Full name: `/job:localhost/replica:0/task:0/device:CPU:0`. */
  name: string;
  /** Device type (`CPU`, `GPU`); kernels are looked up by (op, type). */
  type: string;
  index: number;
  /** TensorFlow's physical_device_desc, printed in the "Device mapping:" block; empty for plain CPUs (as TF). */
  description: string;
  /** A human description for `flowserve devices`. */
  details: string;
  /** Placement preference: higher wins (TensorFlow: GPU 210, CPU 70). */
  priority: number;
  /** ONNX Runtime execution providers that run this device's partitions, in priority order. */
  executionProviders: string[];
  /**
   * A tensor one partition makes for a later partition on the same device can stay in device memory (ONNX
   * Runtime's `preferredOutputLocation: 'gpu-buffer'`, fed straight into the next session). WebGPU only.
   */
  residentOutputs?: boolean;
}

/** Discovers the devices of one type. `count` caps (or, for virtual CPUs, sets) how many are created. */
export interface DeviceTypeProvider {
  type: string;
  priority: number;
  discover(count: number | undefined): Device[];
}

const cpuProvider: DeviceTypeProvider = {
  type: 'CPU',
  priority: 70,
  discover(count) {
    // Like TensorFlow's virtual devices: device_count {CPU: n} makes n logical CPU devices over the same cores.
    const n = Math.max(1, count ?? 1);
    const cpus = os.cpus();
    const model = cpus[0]?.model.trim() ?? 'unknown CPU';
    return Array.from({ length: n }, (_, i) => ({
      name: localDeviceName('CPU', i),
      type: 'CPU',
      index: i,
      description: '',
      details: `${model}, ${cpus.length} cores, ONNX Runtime CPU execution provider${n > 1 ? ' (logical device)' : ''}`,
      priority: cpuProvider.priority,
      executionProviders: ['cpu'],
    }));
  },
};

/** Registered device types. GPU is the WebGPU provider (src/devices/webgpu.ts), probed on first discovery. */
const providers = new Map<string, DeviceTypeProvider>([
  ['CPU', cpuProvider],
  ['GPU', webgpuProvider],
]);

/** Registers (or replaces) a device type: the GPU provider, or a fake one in tests. */
export function registerDeviceType(provider: DeviceTypeProvider): void {
  providers.set(provider.type, provider);
}

/** Removes a device type (CPU cannot be removed). */
export function unregisterDeviceType(type: string): void {
  if (type !== 'CPU') providers.delete(type);
}

/** The provider registered for a type, if any (tests save and restore the real GPU provider with it). */
export function deviceTypeProvider(type: string): DeviceTypeProvider | undefined {
  return providers.get(type);
}

export interface DiscoverOptions {
  /** Max devices per type (TensorFlow's ConfigProto.device_count); for CPU, the number of logical devices. */
  deviceCount?: Record<string, number>;
}

/** Priority first (higher wins), then name with numeric ids in numeric order: the placer's default order. */
export function compareDevices(a: Device, b: Device): number {
  return b.priority - a.priority || a.name.localeCompare(b.name, 'en', { numeric: true });
}

/**
 * All devices of all registered types, sorted by priority then name (the placer's default order).
 * A type with count 0 is not discovered at all (`{ GPU: 0 }` also skips the WebGPU probe).
 */
export function discoverDevices(options: DiscoverOptions = {}): Device[] {
  const devices: Device[] = [];
  for (const provider of providers.values()) {
    const count = options.deviceCount?.[provider.type];
    if (count === 0 && provider.type !== 'CPU') continue;
    const found = provider.discover(count);
    devices.push(...(count !== undefined && provider.type !== 'CPU' ? found.slice(0, count) : found));
  }
  return devices.sort(compareDevices);
}
