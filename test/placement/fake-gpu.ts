import { after, before } from 'node:test';
import {
  deviceTypeProvider,
  localDeviceName,
  registerDeviceType,
  unregisterDeviceType,
  type Device,
} from '../../src/devices/device.js';
import type { Tensor } from '../../src/graph/graph.js';
import { defineOp, registeredOps, type OpDef } from '../../src/graph/op-def.js';

export function cpu(index = 0): Device {
  return {
    name: localDeviceName('CPU', index),
    type: 'CPU',
    index,
    description: '',
    details: 'test CPU',
    priority: 70,
    executionProviders: ['cpu'],
  };
}

/** A fake GPU: placed like a GPU (type GPU, priority 210) but runs its partitions on ONNX Runtime's CPU EP. */
export function fakeGpu(index = 0): Device {
  return {
    name: localDeviceName('GPU', index),
    type: 'GPU',
    index,
    description: `device: ${index}, name: Fake GPU, pci bus id: 0000:00:0${index}.0, compute capability: 9.0`,
    details: 'fake GPU for tests (CPU execution provider)',
    priority: 210,
    executionProviders: ['cpu'],
  };
}

/** Registers a fake GPU device type with `count` devices for the tests of the calling file; restores after. */
export function useFakeGpus(count: number): void {
  const saved = deviceTypeProvider('GPU');
  before(() =>
    registerDeviceType({
      type: 'GPU',
      priority: 210,
      discover: (n) => Array.from({ length: Math.min(count, n ?? count) }, (_, i) => fakeGpu(i)),
    }),
  );
  after(() => {
    unregisterDeviceType('GPU');
    if (saved) registerDeviceType(saved);
  });
}

/** A test op with only a CPU kernel (like StringJoin, or Sign on the WebGPU EP): y = Identity(x). */
export const CpuOnlyIdentity: OpDef =
  registeredOps().get('TestCpuOnlyIdentity') ??
  defineOp({
    type: 'TestCpuOnlyIdentity',
    infer: ([x]) => [{ dtype: (x as Tensor).dtype, shape: (x as Tensor).shape }],
    lower: ({ b, inputs, outputs }) => {
      b.op('Identity', [inputs[0] as string], {}, outputs[0]);
    },
    notDifferentiable: true,
    kernels: ['CPU'],
  });

/** A CPU-only variable update (reference edge to input 0): new value = input 1. */
export const CpuOnlyAssign: OpDef =
  registeredOps().get('TestCpuOnlyAssign') ??
  defineOp({
    type: 'TestCpuOnlyAssign',
    infer: ([ref]) => [{ dtype: (ref as Tensor).dtype, shape: (ref as Tensor).shape }],
    lower: ({ b, inputs, outputs }) => {
      b.op('Identity', [inputs[1] as string], {}, outputs[0]);
    },
    variableUpdate: { readsOld: false },
    stateful: true,
    notDifferentiable: true,
    kernels: ['CPU'],
  });
