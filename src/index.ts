export * from './graph/dtype.js';
export { HostTensor, type NestedArray } from './graph/host-tensor.js';
export { Graph, Operation, Tensor, getDefaultGraph, resetDefaultGraph, withGraph } from './graph/graph.js';
export * from './errors.js';
export * from './ops/index.js';
export {
  Session,
  type SessionOptions,
  type RunMetadata,
  type Feeds,
  type Fetch,
  type StepsCallable,
  type StepsCallableOptions,
} from './runtime/session.js';
export { discoverDevices, registerDeviceType, type Device } from './devices/device.js';
export { canonicalDevice, parseDeviceSpec, type DeviceSpec } from './devices/device-spec.js';
export { initDevices, discoverGpus } from './devices/webgpu.js';
export { gradients } from './train/gradients.js';
export {
  Optimizer,
  GradientDescentOptimizer,
  MomentumOptimizer,
  AdamOptimizer,
  getOrCreateGlobalStep,
} from './train/optimizers.js';
export * as initializers from './train/initializers.js';
export { Saver, latestCheckpoint } from './train/saver.js';
export { exportModel, type ExportOptions, type ExportResult } from './export/export.js';
export { classificationSignature, predictSignature, regressionSignature } from './export/signatures.js';
export { loadMnist } from './data/mnist.js';
export { startServer, type ServerOptions, type RunningServer } from './serving/server.js';
export {
  createClient,
  GrpcServingClient,
  RestServingClient,
  GrpcV2Client,
  RestV2Client,
  ServingClientError,
  type ClientOptions,
  type V2Client,
  type V2InferResult,
} from './client/index.js';
