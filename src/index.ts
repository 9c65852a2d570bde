export * from './graph/dtype.js';
export { HostTensor, type NestedArray } from './graph/host-tensor.js';
export { Graph, Operation, Tensor, getDefaultGraph, resetDefaultGraph, withGraph } from './graph/graph.js';
export * from './errors.js';
export * from './ops/index.js';
export { Session, type SessionOptions, type RunMetadata, type Feeds, type Fetch } from './runtime/session.js';
export { discoverDevices, registerDeviceType, type Device } from './devices/device.js';
export { canonicalDevice, parseDeviceSpec, type DeviceSpec } from './devices/device-spec.js';
