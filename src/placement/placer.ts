import { InvalidArgument } from '../errors.js';
import {
  deviceMatches,
  deviceSpecToString,
  localDeviceSpec,
  mergeColocatedSpecs,
  parseDeviceSpec,
  type DeviceSpec,
} from '../devices/device-spec.js';
import { compareDevices, type Device } from '../devices/device.js';
import { gpuMissingHint } from '../devices/webgpu.js';
import type { Operation } from '../graph/graph.js';
import { formatTypeAttrs, hasKernel, kernelDeviceTypes, registeredKernels } from '../ops/kernels.js';
import { softPlacementLine } from './log.js';

export interface PlacerOptions {
  /** ConfigProto.allow_soft_placement: fall back instead of failing (spec §1.4). */
  allowSoftPlacement?: boolean;
  /** Receives one line per soft-placement fallback (the session's logger). */
  log?: (line: string) => void;
}

/** Union-find over ops and colocation-group names. */
class UnionFind<K> {
  private readonly parent = new Map<K, K>();
  find(k: K): K {
    let p = this.parent.get(k);
    if (p === undefined) {
      this.parent.set(k, k);
      return k;
    }
    if (p === k) return k;
    p = this.find(p);
    this.parent.set(k, p);
    return p;
  }
  union(a: K, b: K): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

type Key = Operation | string;

/**
 * Assigns a device to every op, following TensorFlow's placer (spec/placement-and-lowering.md §1.3–1.5):
 *
 * 1. Colocation groups (union-find): ops sharing a `loc:@name` group (`op.colocationGroups`, the op's own name),
 *    and reference edges: an op whose def has `variableUpdate` joins the variable of its input 0.
 * 2. The requested devices of all members are merged (type/id conflicts drop those fields under soft placement,
 *    else fail); candidates are the devices matching the merged spec of a type every member has a kernel for.
 *    Kernels are looked up per op with its dtypes (hasKernel, src/ops/kernels.ts): a float32 MatMul has a GPU
 *    kernel, a float64 one does not.
 * 3. The best candidate wins: priority, then name (GPU:0 before GPU:1 before CPU:0).
 * 4. Generators (no inputs, one non-ref output, one consumer) are placed in a second pass on their consumer's
 *    device when they can run there, and are logged last, as TensorFlow does.
 * 5. With allowSoftPlacement, a request matching no device (or no device with a kernel) keeps only
 *    job/replica/task; without it, TensorFlow 1.13+'s InvalidArgument texts.
 *
 * Placement is incremental: ops placed once keep their device; new ops are placed when first seen, and join the
 * device of an already placed group.
 */
export class Placer {
  private readonly assigned = new Map<Operation, Device>();
  private readonly sorted: Device[];

  constructor(
    readonly devices: readonly Device[],
    readonly options: PlacerOptions = {},
  ) {
    this.sorted = [...devices].sort(compareDevices);
  }

  deviceOf(op: Operation): Device | undefined {
    return this.assigned.get(op);
  }

  /**
   * Places the ops not placed yet (pass every op of the graph: consumers and colocation partners are looked up
   * among them). Returns the newly placed ops in log order: graph order, generators last. Atomic: on an error
   * nothing is placed.
   */
  place(ops: readonly Operation[]): Operation[] {
    const fresh = ops.filter((op) => !this.assigned.has(op));
    if (fresh.length === 0) return [];
    const soft = this.options.allowSoftPlacement ?? false;

    const uf = new UnionFind<Key>();
    for (const op of ops) {
      uf.union(op, `loc:@${op.name}`);
      for (const g of op.colocationGroups) uf.union(op, `loc:@${g}`);
      const ref = op.def.variableUpdate ? op.inputs[0]?.op : undefined;
      if (ref) uf.union(ref, op);
    }
    const groups = new Map<Key, Operation[]>();
    for (const op of ops) {
      const root = uf.find(op);
      const members = groups.get(root);
      if (members) members.push(op);
      else groups.set(root, [op]);
    }
    const consumers = new Map<Operation, Set<Operation>>();
    for (const op of ops) {
      for (const producer of [...op.inputs.map((t) => t.op), ...op.controlInputs]) {
        let set = consumers.get(producer);
        if (!set) consumers.set(producer, (set = new Set()));
        set.add(op);
      }
    }

    const chosen = new Map<Operation, Device>();
    const deferred: { op: Operation; candidates: Device[]; consumer: Operation }[] = [];
    const done = new Set<Operation[]>();
    for (const op of fresh) {
      const members = groups.get(uf.find(op)) as Operation[];
      if (done.has(members)) continue;
      done.add(members);
      const consumer = members.length === 1 ? soleConsumer(op, consumers) : undefined;
      const candidates = this.candidates(members, soft);
      if (consumer && isGenerator(op)) {
        deferred.push({ op, candidates, consumer });
        continue;
      }
      for (const m of members) if (!this.assigned.has(m)) chosen.set(m, candidates[0] as Device);
    }
    // Second pass: generators follow their consumer when they can run there.
    for (const { op, candidates, consumer } of deferred) {
      const target = chosen.get(consumer) ?? this.assigned.get(consumer);
      chosen.set(op, target && candidates.includes(target) ? target : (candidates[0] as Device));
    }
    for (const [op, device] of chosen) this.assigned.set(op, device);
    const generators = new Set(deferred.map((d) => d.op));
    const order = [...fresh.filter((o) => !generators.has(o)), ...fresh.filter((o) => generators.has(o))];
    // Soft placement happened wherever an op's own request is not met by its device.
    for (const op of order) {
      const device = chosen.get(op) as Device;
      if (op.requestedDevice && !deviceMatches(parseDeviceSpec(op.requestedDevice), specOf(device))) {
        this.options.log?.(softPlacementLine(op.name, op.requestedDevice, device.name));
      }
    }
    return order;
  }

  /**
   * Candidate devices of a colocation group, best first (never empty: throws instead).
   */
  private candidates(members: readonly Operation[], soft: boolean): Device[] {
    const placed = members.map((m) => this.assigned.get(m)).find((d) => d !== undefined);
    const fresh = members.filter((m) => !this.assigned.has(m));
    if (placed) {
      this.checkJoinPlaced(fresh, placed, soft);
      return [placed];
    }

    // Merge the members' requests (MergeDevNames); the first incompatible pair names the error.
    let merged: DeviceSpec = {};
    let mergedFrom: Operation | undefined;
    for (const m of members) {
      if (!m.requestedDevice) continue;
      const spec = parseDeviceSpec(m.requestedDevice);
      try {
        merged = mergeColocatedSpecs(merged, spec, soft);
      } catch (err) {
        throw new InvalidArgument(
          `Cannot colocate nodes ${mergedFrom?.name ?? m.name} and ${m.name}: ${(err as Error).message}`,
        );
      }
      mergedFrom ??= m;
    }
    const hasRequest = deviceSpecToString(merged) !== '';
    const supports = (d: Device) => members.every((m) => hasKernel(m, d.type));
    const matching = this.sorted.filter((d) => deviceMatches(merged, specOf(d)));
    const candidates = matching.filter(supports);
    if (candidates.length > 0) return candidates;

    if (soft && hasRequest) {
      // Keep job/replica/task, drop type and id, and take the best device every member supports.
      const relaxed: DeviceSpec = { job: merged.job, replica: merged.replica, task: merged.task };
      const fallback = this.sorted.filter((d) => deviceMatches(relaxed, specOf(d)) && supports(d));
      if (fallback.length > 0) return fallback;
    }
    throw this.placementError(members, merged, matching);
  }

  /** New ops joining a group already placed on `device`: their requests and kernels must fit it. */
  private checkJoinPlaced(fresh: readonly Operation[], device: Device, soft: boolean): void {
    for (const m of fresh) {
      if (!hasKernel(m, device.type)) {
        throw new InvalidArgument(
          `Cannot assign a device for operation ${m.name}: Could not satisfy explicit device specification '${m.requestedDevice}' because the node ${m.name} was colocated with a group of nodes that required incompatible device '${device.name}'.${debugInfo([m], m)}`,
        );
      }
      if (m.requestedDevice && !deviceMatches(parseDeviceSpec(m.requestedDevice), specOf(device))) {
        if (!soft) {
          throw new InvalidArgument(
            `Cannot assign a device for operation ${m.name}: Could not satisfy explicit device specification '${m.requestedDevice}' because the node ${m.name} was colocated with a group of nodes that required incompatible device '${device.name}'.`,
          );
        }
      }
    }
  }

  private placementError(members: readonly Operation[], merged: DeviceSpec, matching: readonly Device[]): Error {
    const mergedString = deviceSpecToString(merged);
    if (matching.length === 0 && mergedString !== '') {
      // No device of the requested name at all.
      const requester =
        members.find(
          (m) =>
            m.requestedDevice && !this.sorted.some((d) => deviceMatches(parseDeviceSpec(m.requestedDevice), specOf(d))),
        ) ?? (members.find((m) => m.requestedDevice) as Operation);
      const requested = requester.requestedDevice || mergedString;
      const available = this.devices.map((d) => d.name).sort();
      const hint =
        parseDeviceSpec(requested).type === 'GPU' && !this.devices.some((d) => d.type === 'GPU')
          ? gpuMissingHint()
          : '';
      return new InvalidArgument(
        `Cannot assign a device for operation ${requester.name}: node ${requester.name} was explicitly assigned to ${requested} but available devices are [ ${available.join(', ')} ]. Make sure the device specification refers to a valid device.${hint}`,
      );
    }
    // Devices exist, but some member has no kernel for any of them.
    const types = [...new Set((matching.length > 0 ? matching : this.sorted).map((d) => d.type))];
    const lacking = members.find((m) => !types.some((t) => hasKernel(m, t))) ?? (members[0] as Operation);
    const missingType = types.find((t) => !hasKernel(lacking, t)) ?? types[0] ?? '';
    if (lacking.requestedDevice && parseDeviceSpec(lacking.requestedDevice).type !== undefined) {
      return new InvalidArgument(
        `Cannot assign a device for operation ${lacking.name}: Could not satisfy explicit device specification '${lacking.requestedDevice}' because no supported kernel for ${missingType} devices is available.${debugInfo(members, lacking)}`,
      );
    }
    return new InvalidArgument(
      `Cannot assign a device for operation ${lacking.name}: Could not satisfy explicit device specification '${lacking.requestedDevice}' because the node ${lacking.name} was colocated with a group of nodes that required incompatible device '${mergedString}'.${debugInfo(members, lacking)}`,
    );
  }
}

function specOf(d: Device): Required<DeviceSpec> {
  return localDeviceSpec(d.type, d.index);
}

/** TensorFlow's IsGeneratorNode: no inputs, one output that is not a reference (a variable). */
function isGenerator(op: Operation): boolean {
  return op.inputs.length === 0 && op.outputs.length === 1 && !op.def.variableSource;
}

function soleConsumer(op: Operation, consumers: ReadonlyMap<Operation, ReadonlySet<Operation>>): Operation | undefined {
  const set = consumers.get(op);
  return set?.size === 1 ? [...set][0] : undefined;
}

/**
 * The "Colocation Debug Info" block: each member's type, the device types with a kernel for it (its dtypes
 * included) and its request; then, as TensorFlow 2 does, the lacking op's type attributes and registered kernels.
 */
function debugInfo(members: readonly Operation[], lacking: Operation): string {
  const types = new Map<string, readonly string[]>();
  for (const m of members) types.set(m.type, kernelDeviceTypes(m));
  const lines = [...types].map(([t, k]) => `${t}: ${k.join(' ')}`);
  const reqs = members.map((m) => `  ${m.name} (${m.type}) '${m.requestedDevice}'`);
  const kernels = registeredKernels(lacking.def).map((k) => `  ${k}`);
  return `\nColocation Debug Info:\nColocation group had the following types and supported devices: \n${lines.join('\n')}\n\nColocation members, user-requested devices:\n${reqs.join('\n')}\n\nOp: ${lacking.type}\nNode attrs: ${formatTypeAttrs(lacking)}\nRegistered kernels:\n${kernels.join('\n')}`;
}
