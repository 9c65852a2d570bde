import { InvalidArgument } from '../errors.js';

/**
 * A (possibly partial) device specification, parsed as TensorFlow parses device strings
 * (spec/placement-and-lowering.md §1.1): `/job:localhost/replica:0/task:0/device:GPU:0`, the short forms
 * `/cpu:0` and `/gpu:1` (any case), `/device:CPU:0`, partial specs and `*` wildcards.
 */
export interface DeviceSpec {
  job?: string;
  replica?: number;
  task?: number;
  /** Device type, upper case for the short forms (`/gpu:0` → `GPU`); `/device:TYPE` keeps its case. */
  type?: string;
  index?: number;
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const DIGITS = /^\d+$/;

export function parseDeviceSpec(spec: string): DeviceSpec {
  const out: DeviceSpec = {};
  const bad = (why: string) => new InvalidArgument(`Invalid device specification '${spec}': ${why}`);
  const parts = spec.split('/').filter((p) => p.length > 0);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const fields = part.split(':');
    const key = (fields[0] ?? '').toLowerCase();
    const setType = (type: string) => {
      if (out.type !== undefined && out.type !== type) {
        throw bad(`Cannot specify multiple device types: ${spec}`);
      }
      out.type = type;
    };
    const setIndex = (value: string | undefined) => {
      if (value === undefined || value === '*') return;
      if (!DIGITS.test(value)) throw bad(`device index '${value}' is not a number`);
      out.index = Number(value);
    };
    if (key === 'job' && fields.length === 2) {
      const v = fields[1] as string;
      if (v !== '*' && !NAME.test(v)) throw bad(`job name '${v}' is invalid`);
      if (v !== '*') out.job = v;
    } else if ((key === 'replica' || key === 'task') && fields.length === 2) {
      const v = fields[1] as string;
      if (v === '*') continue;
      if (!DIGITS.test(v)) throw bad(`${key} '${v}' is not a number`);
      out[key] = Number(v);
    } else if (key === 'device' && fields.length >= 2 && fields.length <= 3) {
      const t = fields[1] as string;
      if (t !== '*') {
        if (!NAME.test(t)) throw bad(`device type '${t}' is invalid`);
        // Python's DeviceSpec upper-cases cpu/gpu; other registered types keep their spelling.
        setType(/^(cpu|gpu)$/i.test(t) ? t.toUpperCase() : t);
      }
      setIndex(fields[2]);
    } else if ((key === 'cpu' || key === 'gpu') && fields.length <= 2) {
      setType(key.toUpperCase());
      setIndex(fields[1]);
    } else if (fields.length === 2 && NAME.test(fields[0] ?? '') && /^(\d+|\*)$/.test(fields[1] ?? '')) {
      // Local form `XLA_CPU:0` or another registered type written short.
      setType(fields[0] as string);
      setIndex(fields[1]);
    } else {
      throw bad(`Unknown attribute: '${part}' in '${spec}'`);
    }
  }
  return out;
}

/** Canonical string with only the fields that are set (`/job:localhost/device:GPU:*`). */
export function deviceSpecToString(spec: DeviceSpec): string {
  let s = '';
  if (spec.job !== undefined) s += `/job:${spec.job}`;
  if (spec.replica !== undefined) s += `/replica:${spec.replica}`;
  if (spec.task !== undefined) s += `/task:${spec.task}`;
  if (spec.type !== undefined) s += `/device:${spec.type}:${spec.index ?? '*'}`;
  return s;
}

/** Fields set in `inner` override `outer`, field by field (TensorFlow's merge_device). */
export function mergeDeviceSpecs(outer: DeviceSpec, inner: DeviceSpec): DeviceSpec {
  const merged: DeviceSpec = { ...outer };
  if (inner.job !== undefined) merged.job = inner.job;
  if (inner.replica !== undefined) merged.replica = inner.replica;
  if (inner.task !== undefined) merged.task = inner.task;
  // Type and index merge independently: outer /device:GPU:1 + inner /device:CPU gives /device:CPU:1.
  if (inner.type !== undefined) merged.type = inner.type;
  if (inner.index !== undefined) merged.index = inner.index;
  return merged;
}

/** Normalises any accepted spelling to the canonical form (`/gpu:0` → `/device:GPU:0`). */
export function canonicalDevice(spec: string): string {
  return deviceSpecToString(parseDeviceSpec(spec));
}

/** True when a concrete device (all fields set) satisfies a partial spec. */
export function deviceMatches(spec: DeviceSpec, device: Required<DeviceSpec>): boolean {
  return (
    (spec.job === undefined || spec.job === device.job) &&
    (spec.replica === undefined || spec.replica === device.replica) &&
    (spec.task === undefined || spec.task === device.task) &&
    (spec.type === undefined || spec.type === device.type) &&
    (spec.index === undefined || spec.index === device.index)
  );
}
