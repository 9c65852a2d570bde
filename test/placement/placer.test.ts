import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoverDevices, type Device } from '../../src/devices/device.js';
import { InvalidArgument } from '../../src/errors.js';
import { Graph, withGraph, type Operation, type Tensor } from '../../src/graph/graph.js';
import { constant } from '../../src/ops/convert.js';
import { add, matmul } from '../../src/ops/math.js';
import { Assign, Variable } from '../../src/ops/variables.js';
import { Placer } from '../../src/placement/placer.js';
import { placementLines } from '../../src/placement/log.js';
import { CpuOnlyAssign, CpuOnlyIdentity, cpu, fakeGpu, useFakeGpus } from './fake-gpu.js';

useFakeGpus(2);

const CPU0 = '/job:localhost/replica:0/task:0/device:CPU:0';
const CPU1 = '/job:localhost/replica:0/task:0/device:CPU:1';
const GPU0 = '/job:localhost/replica:0/task:0/device:GPU:0';
const GPU1 = '/job:localhost/replica:0/task:0/device:GPU:1';

function chapterGraph(g: Graph, device?: string): { a: Tensor; b: Tensor; c: Tensor } {
  return withGraph(g, () => {
    const make = () => ({
      a: constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' }),
      b: constant([1, 2, 3, 4, 5, 6], { shape: [3, 2], name: 'b' }),
    });
    const { a, b } = device ? g.device(device, make) : make();
    return { a, b, c: matmul(a, b) };
  });
}

function placeAll(g: Graph, devices: Device[], soft = false, log?: (l: string) => void) {
  const placer = new Placer(devices, { allowSoftPlacement: soft, log });
  const placed = placer.place(g.operations);
  const where = (op: Operation | Tensor) => placer.deviceOf('op' in op ? op.op : op)?.name;
  return { placer, placed, where };
}

function cpuOnly(g: Graph, x: Tensor, name = 'cpu_only'): Tensor {
  return g.addOp({ def: CpuOnlyIdentity, inputs: [x], name }).output;
}

describe('default placement', () => {
  it('prefers GPU:0 for ops with a GPU kernel; generators are logged last', () => {
    const g = new Graph();
    const { a, b, c } = chapterGraph(g);
    const { placer, placed, where } = placeAll(g, [cpu(0), fakeGpu(1), fakeGpu(0)]);
    assert.deepEqual([where(a), where(b), where(c)], [GPU0, GPU0, GPU0]);
    assert.deepEqual(
      placementLines(placed, (op) => placer.deviceOf(op)),
      [`MatMul: (MatMul): ${GPU0}`, `a: (Const): ${GPU0}`, `b: (Const): ${GPU0}`],
    );
  });

  it('uses discoverDevices order: registered fake GPUs before the CPU', () => {
    const names = discoverDevices().map((d) => d.name);
    assert.deepEqual(names, [GPU0, GPU1, CPU0]);
    assert.deepEqual(
      discoverDevices({ deviceCount: { GPU: 1, CPU: 2 } }).map((d) => d.name),
      [GPU0, CPU0, CPU1],
    );
  });

  it('device_count {GPU: 0} hides GPUs', () => {
    assert.deepEqual(
      discoverDevices({ deviceCount: { GPU: 0 } }).map((d) => d.name),
      [CPU0],
    );
    const g = new Graph();
    const { c } = chapterGraph(g);
    assert.equal(placeAll(g, discoverDevices({ deviceCount: { GPU: 0 } })).where(c), CPU0);
  });

  it('CPU-only ops go to CPU; a generator follows its only consumer', () => {
    const g = new Graph();
    const { x, y, z, shared } = withGraph(g, () => {
      const x = constant([1, 2], { name: 'x' });
      const y = cpuOnly(g, x);
      const shared = constant([3, 4], { name: 'shared' });
      const z = add(cpuOnly(g, shared, 'cpu_only_2'), shared);
      return { x, y, z, shared };
    });
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    assert.equal(where(y), CPU0);
    assert.equal(where(x), CPU0, 'the generator x goes to its consumer');
    assert.equal(where(z), GPU0, 'Add has a GPU kernel');
    assert.equal(where(shared), GPU0, 'two consumers: default placement');
  });

  it('a generator pinned elsewhere keeps its own request', () => {
    const g = new Graph();
    const { a, b, c } = chapterGraph(g, '/cpu:0');
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    assert.deepEqual([where(a), where(b), where(c)], [CPU0, CPU0, GPU0]);
  });

  it('CPU:0 before CPU:1 when only CPUs exist', () => {
    const g = new Graph();
    const { c } = chapterGraph(g);
    assert.equal(placeAll(g, [cpu(1), cpu(0)]).where(c), CPU0);
  });
});

describe('explicit requests', () => {
  it('honours /gpu:1 and /cpu:0', () => {
    const g = new Graph();
    const { c, d } = withGraph(g, () => {
      const c = g.device('/gpu:1', () => matmul(constant([[1]]), constant([[2]])));
      const d = g.device('/device:CPU:0', () => add(c, c));
      return { c, d };
    });
    const { where } = placeAll(g, [cpu(0), fakeGpu(0), fakeGpu(1)]);
    assert.equal(where(c), GPU1);
    assert.equal(where(d), CPU0);
  });

  it('a partial request (/job:localhost, /device:GPU:*) picks the best matching device', () => {
    const g = new Graph();
    const { c, d } = withGraph(g, () => ({
      c: g.device('/job:localhost', () => add(constant(1), constant(2))),
      d: g.device('/gpu:*', () => add(constant(1), constant(2))),
    }));
    const { where } = placeAll(g, [cpu(0), fakeGpu(1), fakeGpu(0)]);
    assert.equal(where(c), GPU0);
    assert.equal(where(d), GPU0);
  });

  it('a missing device fails with TensorFlow 1.13+ text', () => {
    const g = new Graph();
    withGraph(g, () => {
      const [x, y] = [constant([[1]]), constant([[2]])];
      return g.device('/gpu:1', () => matmul(x, y));
    });
    const placer = new Placer([cpu(0), fakeGpu(0)]);
    assert.throws(
      () => placer.place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message ===
          `Cannot assign a device for operation MatMul: node MatMul was explicitly assigned to /device:GPU:1 but available devices are [ ${CPU0}, ${GPU0} ]. Make sure the device specification refers to a valid device.`,
    );
    assert.equal(placer.deviceOf(g.operation('Const')), undefined, 'placement is atomic');
  });

  it('a GPU request without any GPU adds the WebGPU hint', () => {
    const g = new Graph();
    withGraph(g, () => {
      const [x, y] = [constant([[1]]), constant([[2]])];
      return g.device('/gpu:0', () => matmul(x, y));
    });
    assert.throws(
      () => new Placer([cpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          `Cannot assign a device for operation MatMul: node MatMul was explicitly assigned to /device:GPU:0 but available devices are [ ${CPU0} ]. Make sure the device specification refers to a valid device. The requested device appears to be a GPU, but `,
        ),
    );
  });

  it('soft placement falls back, keeps job/replica/task and logs the fallback', () => {
    const g = new Graph();
    const c = withGraph(g, () => {
      const [x, y] = [constant([[1]]), constant([[2]])];
      return g.device('/gpu:1', () => matmul(x, y));
    });
    const lines: string[] = [];
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)], true, (l) => lines.push(l));
    assert.equal(where(c), GPU0, 'type/id dropped: the best device with a kernel');
    assert.deepEqual(lines, [`Soft placement: op 'MatMul' requested /device:GPU:1, placed on ${GPU0}`]);
    const cpuOnlyMachine = placeAll(g, [cpu(0)], true, () => {});
    assert.equal(cpuOnlyMachine.where(c), CPU0);
  });

  it('soft placement never crosses jobs', () => {
    const g = new Graph();
    withGraph(g, () => g.device('/job:worker/gpu:0', () => add(constant(1), constant(2))));
    assert.throws(
      () => new Placer([cpu(0)], { allowSoftPlacement: true }).place(g.operations),
      /explicitly assigned to \/job:worker\/device:GPU:0 but available devices are/,
    );
  });

  it('a device without a kernel for the op: "Could not satisfy explicit device specification"', () => {
    const g = new Graph();
    const y = withGraph(g, () => g.device('/gpu:0', () => cpuOnly(g, constant([1]))));
    assert.throws(
      () => new Placer([cpu(0), fakeGpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          "Cannot assign a device for operation cpu_only: Could not satisfy explicit device specification '/device:GPU:0' because no supported kernel for GPU devices is available.",
        ) &&
        e.message.includes('TestCpuOnlyIdentity: CPU') &&
        e.message.endsWith("\n\nOp: TestCpuOnlyIdentity\nNode attrs: T=DT_FLOAT\nRegistered kernels:\n  device='CPU'"),
    );
    const lines: string[] = [];
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)], true, (l) => lines.push(l));
    assert.equal(where(y), CPU0);
    assert.deepEqual(lines, [`Soft placement: op 'cpu_only' requested /device:GPU:0, placed on ${CPU0}`]);
  });

  it('the lower-case type after device: matches nothing (case-sensitive, as TensorFlow)', () => {
    const g = new Graph();
    withGraph(g, () => g.device('/device:gpu:0', () => add(constant(1), constant(2))));
    assert.throws(() => new Placer([cpu(0), fakeGpu(0)]).place(g.operations), /explicitly assigned to \/device:gpu:0/);
  });
});

describe('dtype-aware kernels', () => {
  it('default placement: the float32 chapter graph goes to the GPU, the float64 one to the CPU', () => {
    const g = new Graph();
    const { f32, f64 } = withGraph(g, () => {
      const m = (dtype: 'float32' | 'float64') =>
        matmul(constant([1, 2, 3, 4], { shape: [2, 2], dtype }), constant([5, 6, 7, 8], { shape: [2, 2], dtype }));
      return { f32: m('float32'), f64: m('float64') };
    });
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    assert.equal(where(f32), GPU0);
    assert.equal(where(f64), CPU0);
    assert.equal(where(f64.op.inputs[0] as Tensor), CPU0, 'its constants follow it');
  });

  it('an explicit /gpu:0 on a float64 op fails with TensorFlow text; soft placement moves it to the CPU', () => {
    const g = new Graph();
    const y = withGraph(g, () =>
      g.device('/gpu:0', () => add(constant([1], { dtype: 'float64' }), constant([2], { dtype: 'float64' }))),
    );
    assert.throws(
      () => new Placer([cpu(0), fakeGpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          "Cannot assign a device for operation Add: Could not satisfy explicit device specification '/device:GPU:0' because no supported kernel for GPU devices is available.\nColocation Debug Info:\nColocation group had the following types and supported devices: \nAdd: CPU\n",
        ) &&
        e.message.endsWith(
          "Op: Add\nNode attrs: T=DT_DOUBLE\nRegistered kernels:\n  device='CPU'\n  device='GPU'; T in [DT_FLOAT, DT_INT32]",
        ),
    );
    const lines: string[] = [];
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)], true, (l) => lines.push(l));
    assert.equal(where(y), CPU0);
    assert.ok(lines.includes(`Soft placement: op 'Add' requested /device:GPU:0, placed on ${CPU0}`), String(lines));
  });

  it('a float64 variable group pinned to /gpu:0 fails naming the variable; unpinned it stays on the CPU', () => {
    const g = new Graph();
    withGraph(g, () => g.device('/gpu:0', () => new Variable(constant([1, 2], { dtype: 'float64' }), { name: 'v' })));
    assert.throws(
      () => new Placer([cpu(0), fakeGpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          "Cannot assign a device for operation v: Could not satisfy explicit device specification '/device:GPU:0' because no supported kernel for GPU devices is available.",
        ) &&
        e.message.includes('VariableV2: CPU\nAssign: CPU\nIdentity: CPU\n') &&
        e.message.endsWith(
          "Op: VariableV2\nNode attrs: T=DT_DOUBLE\nRegistered kernels:\n  device='CPU'\n  device='GPU'; T in [DT_FLOAT, DT_INT32]",
        ),
    );
    const u = new Graph();
    const v = withGraph(u, () => new Variable(constant([1, 2], { dtype: 'float64' }), { name: 'v' }));
    const { where } = placeAll(u, [cpu(0), fakeGpu(0)]);
    for (const t of [v.op, v.initializer, v.value]) assert.equal(where(t), CPU0);
  });

  it('an assign created later joins its float64 variable on the CPU', () => {
    const g = new Graph();
    const v = withGraph(g, () => new Variable(constant([1, 2], { dtype: 'float64' }), { name: 'v' }));
    const placer = new Placer([cpu(0), fakeGpu(0)]);
    placer.place(g.operations);
    const late = withGraph(g, () => v.assign(constant([3, 4], { dtype: 'float64' }), { name: 'late' }));
    placer.place(g.operations);
    assert.equal(placer.deviceOf(late.op)?.name, CPU0);
  });
});

describe('colocation', () => {
  it('a variable, its initializer, its read and later assigns share a device', () => {
    const g = new Graph();
    const v = withGraph(g, () => g.device('/cpu:0', () => new Variable(constant([1, 2]), { name: 'v' })));
    const upd = withGraph(g, () => v.assign(add(v.value, v.value)));
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    for (const t of [v.op, v.initializer, v.value, upd]) assert.equal(where(t), CPU0, String(t));
    assert.equal(where(g.operation('Add')), GPU0);
  });

  it('unpinned variables go to the GPU with their update path', () => {
    const g = new Graph();
    const v = withGraph(g, () => new Variable(constant([1, 2]), { name: 'v' }));
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    for (const t of [v.op, v.initializer, v.value]) assert.equal(where(t), GPU0);
  });

  it('a reference edge colocates an update created outside colocate_with, also when placed later', () => {
    const g = new Graph();
    const v = withGraph(g, () => g.device('/cpu:0', () => new Variable(constant([1, 2]), { name: 'v' })));
    const placer = new Placer([cpu(0), fakeGpu(0)]);
    placer.place(g.operations);
    const x = withGraph(g, () => constant([5, 6], { name: 'x' }));
    const upd = g.addOp({ def: Assign, inputs: [v.ref, x], name: 'late_assign' });
    const placed = placer.place(g.operations);
    assert.deepEqual(
      placed.map((o) => o.name),
      ['late_assign', 'x'],
    );
    assert.equal(placer.deviceOf(upd)?.name, CPU0);
    assert.equal(placer.deviceOf(x.op)?.name, CPU0, 'the generator follows the assign');
  });

  it('a CPU-only member pulls the whole group to the CPU', () => {
    const g = new Graph();
    const v = withGraph(g, () => new Variable(constant([1, 2]), { name: 'v' }));
    const upd = g.addOp({ def: CpuOnlyAssign, inputs: [v.ref, v.initialValue], name: 'cpu_assign' });
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    assert.equal(where(v.op), CPU0);
    assert.equal(where(upd), CPU0);
    assert.equal(where(v.value), CPU0);
  });

  it('a group pinned to GPU with a CPU-only member fails with the colocation text', () => {
    const g = new Graph();
    const v = withGraph(g, () => g.device('/gpu:0', () => new Variable(constant([1, 2]), { name: 'v' })));
    g.addOp({ def: CpuOnlyAssign, inputs: [v.ref, v.initialValue], name: 'cpu_assign' });
    assert.throws(
      () => new Placer([cpu(0), fakeGpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          "Cannot assign a device for operation cpu_assign: Could not satisfy explicit device specification '' because the node cpu_assign was colocated with a group of nodes that required incompatible device '/device:GPU:0'.",
        ),
    );
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)], true, () => {});
    assert.equal(where(v.op), CPU0);
  });

  it('conflicting requests in one group: "Cannot colocate nodes", or dropped under soft placement', () => {
    const g = new Graph();
    const v = withGraph(g, () => g.device('/cpu:0', () => new Variable(constant([1, 2]), { name: 'v' })));
    const upd = withGraph(g, () =>
      g.device('/gpu:0', () => g.addOp({ def: Assign, inputs: [v.ref, constant([3, 4])], name: 'gpu_assign' })),
    );
    assert.throws(
      () => new Placer([cpu(0), fakeGpu(0)]).place(g.operations),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message ===
          "Cannot colocate nodes v and gpu_assign: Cannot merge devices with incompatible types: '/device:CPU:0' and '/device:GPU:0'",
    );
    const lines: string[] = [];
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)], true, (l) => lines.push(l));
    assert.equal(where(upd), where(v.op));
    assert.equal(where(v.op), GPU0);
    assert.ok(lines.some((l) => l.startsWith("Soft placement: op 'v' requested /device:CPU:0")));
  });

  it('an op joining a placed group on an incompatible device fails without soft placement', () => {
    const g = new Graph();
    const v = withGraph(g, () => g.device('/cpu:0', () => new Variable(constant([1, 2]), { name: 'v' })));
    const placer = new Placer([cpu(0), fakeGpu(0)]);
    placer.place(g.operations);
    withGraph(g, () =>
      g.device('/gpu:0', () => g.addOp({ def: Assign, inputs: [v.ref, constant([3, 4])], name: 'late' })),
    );
    assert.throws(
      () => placer.place(g.operations),
      /Cannot assign a device for operation late: Could not satisfy explicit device specification '\/device:GPU:0' because the node late was colocated with a group of nodes that required incompatible device '\/job:localhost\/replica:0\/task:0\/device:CPU:0'/,
    );
  });

  it('colocationGroups names join ops (loc:@name)', () => {
    const g = new Graph();
    const { a, b } = withGraph(g, () => {
      const a = g.device('/cpu:0', () => add(constant(1), constant(2), { name: 'a' }));
      const b = g.colocateWith(a, () => add(constant(3), constant(4), { name: 'b' }));
      return { a, b };
    });
    assert.deepEqual(b.op.colocationGroups, ['a']);
    const { where } = placeAll(g, [cpu(0), fakeGpu(0)]);
    assert.equal(where(a), CPU0);
    assert.equal(where(b), CPU0);
  });
});
