import os from 'node:os';

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
}

/** Discovers the devices of one type. `count` caps (or, for virtual CPUs, sets) how many are created. */
export interface DeviceTypeProvider {
  type: string;
  priority: number;
  discover(count: number | undefined): Device[];
}

export const LOCAL_DEVICE_PREFIX = '/job:localhost/replica:0/task:0';

export function localDeviceName(type: string, index: number): string {
  return `${LOCAL_DEVICE_PREFIX}/device:${type}:${index}`;
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

const providers = new Map<string, DeviceTypeProvider>([['CPU', cpuProvider]]);

/** Registers another device type (the GPU provider, or a fake one in tests). */
export function registerDeviceType(provider: DeviceTypeProvider): void {
  providers.set(provider.type, provider);
}

export function unregisterDeviceType(type: string): void {
  if (type !== 'CPU') providers.delete(type);
}

export interface DiscoverOptions {
  /** Max devices per type (TensorFlow's ConfigProto.device_count); for CPU, the number of logical devices. */
  deviceCount?: Record<string, number>;
}

/** All devices of all registered types, sorted by priority then name (the placer's default order). */
export function discoverDevices(options: DiscoverOptions = {}): Device[] {
  const devices: Device[] = [];
  for (const provider of providers.values()) {
    const count = options.deviceCount?.[provider.type];
    if (count === 0 && provider.type !== 'CPU') continue;
    const found = provider.discover(count);
    devices.push(...(count !== undefined && provider.type !== 'CPU' ? found.slice(0, count) : found));
  }
  return devices.sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
}
