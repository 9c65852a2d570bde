import { InvalidArgument } from '../errors.js';

/**
 * A (possibly partial) device specification, parsed as TensorFlow parses device strings
 * (spec/placement-and-lowering.md §1.1): `/job:localhost/replica:0/task:0/device:GPU:0`, the short forms
 * `/cpu:0` and `/gpu:1` (any case, as Python's DeviceSpec), `/device:CPU:0`, partial specs and `*` wildcards.
 */
export interface DeviceSpec {
  job?: string;
  replica?: number;
  task?: number;
  /**
   * Device type. The short forms are upper-cased (`/gpu:0` → `GPU`); `/device:TYPE` keeps its spelling, as in
   * TensorFlow, where device types are case-sensitive (`/device:gpu:0` names a type no device has).
   */
  type?: string;
  index?: number;
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const DIGITS = /^\d+$/;
/** Bare device types accepted without `device:` (`/cpu:0`, `/GPU:1`, `/tpu:0`), in any case. */
const SHORT_TYPES = new Set(['CPU', 'GPU', 'TPU']);

/**
 * Parses a device string. Every component is optional and may appear in any order; `""` and `"/"` are the
 * empty spec. Errors are InvalidArgument with TensorFlow's texts where TensorFlow has one
 * (`Cannot specify multiple device types: …`, `Unknown attribute: '…' in '…'`).
 */
export function parseDeviceSpec(spec: string): DeviceSpec {
  const out: DeviceSpec = {};
  const bad = (why: string) => new InvalidArgument(`Invalid device specification '${spec}': ${why}`);
  const setType = (type: string) => {
    if (out.type !== undefined) throw new InvalidArgument(`Cannot specify multiple device types: ${spec}`);
    out.type = type;
  };
  const setIndex = (value: string | undefined) => {
    if (value === undefined || value === '*') return;
    if (!DIGITS.test(value)) throw bad(`device index '${value}' is not a number`);
    out.index = Number(value);
  };
  for (const part of spec.split('/')) {
    if (part === '') continue;
    const fields = part.split(':');
    const key = fields[0] as string;
    if (key === 'job' && fields.length === 2) {
      const v = fields[1] as string;
      if (v !== '*' && !NAME.test(v)) throw bad(`job name '${v}' is invalid`);
      if (v !== '*') out.job = v;
    } else if ((key === 'replica' || key === 'task') && fields.length === 2) {
      const v = fields[1] as string;
      if (v === '*') continue;
      if (!DIGITS.test(v)) throw bad(`${key} '${v}' is not a number`);
      out[key] = Number(v);
    } else if (key === 'device' && (fields.length === 2 || fields.length === 3)) {
      // `/device:GPU:0`, `/device:GPU` and `/device:GPU:*` (id unspecified), `/device:*:1` (type unspecified).
      const t = fields[1] as string;
      if (t !== '*') {
        if (!NAME.test(t)) throw bad(`device type '${t}' is invalid`);
        setType(t);
      }
      setIndex(fields[2]);
    } else if (fields.length <= 2 && SHORT_TYPES.has(key.toUpperCase())) {
      // Legacy short forms `/cpu:0`, `/GPU:1`, `/gpu:*`, `/cpu`: upper-cased, as Python's DeviceSpec.
      setType(key.toUpperCase());
      setIndex(fields[1]);
    } else if (fields.length === 2 && NAME.test(key) && /^(\d+|\*)$/.test(fields[1] ?? '')) {
      // Local form of another registered type (`XLA_CPU:0`, ParseLocalName), kept as written.
      setType(key);
      setIndex(fields[1]);
    } else {
      throw new InvalidArgument(`Unknown attribute: '${key}' in '${spec}'`);
    }
  }
  return out;
}

/** Canonical string with only the fields that are set (`/job:localhost/device:GPU:*`), as ParsedNameToString. */
export function deviceSpecToString(spec: DeviceSpec): string {
  let s = '';
  if (spec.job !== undefined) s += `/job:${spec.job}`;
  if (spec.replica !== undefined) s += `/replica:${spec.replica}`;
  if (spec.task !== undefined) s += `/task:${spec.task}`;
  if (spec.type !== undefined) s += `/device:${spec.type}:${spec.index ?? '*'}`;
  else if (spec.index !== undefined) s += `/device:*:${spec.index}`;
  return s;
}

/** Fields set in `inner` override `outer`, field by field (TensorFlow's merge_device / DeviceSpec.merge_from). */
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

/**
 * Merges the requests of two colocated nodes (C++ `MergeDevNames`): a job, replica or task conflict is always
 * an error; a type or id conflict is an error unless `allowSoftPlacement`, which leaves that field unset.
 * Returns the merged spec, or throws InvalidArgument with TensorFlow's text.
 */
export function mergeColocatedSpecs(a: DeviceSpec, b: DeviceSpec, allowSoftPlacement: boolean): DeviceSpec {
  const out: DeviceSpec = { ...a };
  const conflict = (what: string) =>
    new InvalidArgument(
      `Cannot merge devices with incompatible ${what}: '${deviceSpecToString(a)}' and '${deviceSpecToString(b)}'`,
    );
  if (b.job !== undefined) {
    if (a.job !== undefined && a.job !== b.job) throw conflict('jobs');
    out.job = b.job;
  }
  if (b.replica !== undefined) {
    if (a.replica !== undefined && a.replica !== b.replica) throw conflict('replicas');
    out.replica = b.replica;
  }
  if (b.task !== undefined) {
    if (a.task !== undefined && a.task !== b.task) throw conflict('tasks');
    out.task = b.task;
  }
  if (b.type !== undefined) {
    if (a.type !== undefined && a.type !== b.type) {
      if (!allowSoftPlacement) throw conflict('types');
      delete out.type;
      delete out.index;
      return out;
    }
    out.type = b.type;
  }
  if (b.index !== undefined) {
    if (a.index !== undefined && a.index !== b.index) {
      if (!allowSoftPlacement) throw conflict('ids');
      delete out.index;
    } else out.index = b.index;
  }
  return out;
}

/** Normalises any accepted spelling to the canonical form (`/gpu:0` → `/device:GPU:0`, `''` stays `''`). */
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

/** The fields of a local device (`/job:localhost/replica:0/task:0/device:<type>:<index>`). */
export function localDeviceSpec(type: string, index: number): Required<DeviceSpec> {
  return { job: 'localhost', replica: 0, task: 0, type, index };
}
