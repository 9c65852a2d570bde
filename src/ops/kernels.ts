/**
 * Kernels: which device types run an op, and for which dtypes (TensorFlow's kernel registrations with their
 * TypeConstraints). CPU runs every op in every dtype its definition accepts (ONNX Runtime's CPU execution
 * provider). GPU (ONNX Runtime's WebGPU execution provider) runs fewer ops and fewer dtypes; each op lists what
 * its GPU kernel takes in `kernelConstraints`, as measured by the kernel survey (bench/gpu-kernels.ts:
 * the op's ONNX lowering, every node claimed by the WebGPU EP with CPU fallback disabled, and the same result as
 * the CPU EP). docs/placement.md has the table; test/devices/gpu-kernels.test.ts re-checks it on an adapter.
 *
 * The placer asks `hasKernel(op, deviceType)`, so a float64 MatMul stays on the CPU while a float32 one goes to
 * the GPU, and an explicit `/gpu:0` on the float64 one fails with TensorFlow's "no supported kernel" error.
 */
import { dtypeInfo, type DType } from '../graph/dtype.js';
import type { Operation } from '../graph/graph.js';
import type { OpDef } from '../graph/op-def.js';
import { isFullyDefined } from '../graph/shape.js';

export const CPU_ONLY = ['CPU'] as const;
export const CPU_AND_GPU = ['CPU', 'GPU'] as const;

/** TensorFlow's TypeConstraint: for each type attribute (T, DstT, …), the dtypes a kernel accepts. */
export type TypeConstraint = Readonly<Record<string, readonly DType[]>>;

/**
 * A condition beyond dtypes, for lowerings that depend on what is known when the graph is built (an unknown
 * batch dimension turns constant shapes into int64 shape arithmetic, which the WebGPU EP does not run).
 */
export interface KernelCondition {
  /** What the kernel needs, as printed in "Registered kernels" (`static input shapes`). */
  readonly description: string;
  holds(op: Operation): boolean;
}

/** What one device type's kernel for an op accepts; a device type without one accepts every dtype. */
export interface KernelConstraint {
  readonly types?: TypeConstraint;
  readonly requires?: KernelCondition;
}

export type KernelConstraints = Readonly<Record<string, KernelConstraint>>;

/** `kernelConstraints` of an op whose GPU kernel takes only `types` (and, optionally, needs `requires`). */
export function gpuKernel(types: TypeConstraint, requires?: KernelCondition): KernelConstraints {
  return { GPU: requires ? { types, requires } : { types } };
}

/** The op's type attributes: its def's own (`typeAttrs`), else T = the dtype of output 0 (or of input 0). */
export function typeAttrsOf(op: Operation): Readonly<Record<string, DType>> {
  if (op.def.typeAttrs) return op.def.typeAttrs(op);
  const t = op.outputs[0]?.dtype ?? op.inputs[0]?.dtype;
  return t ? { T: t } : {};
}

/**
 * Why `op` has no kernel for `deviceType`, or '' when it has one: the device type has no kernel for the op at
 * all (`'no kernel'`), a type attribute is outside its TypeConstraint (`'T=DT_DOUBLE'`), or a condition fails.
 */
export function missingKernel(op: Operation, deviceType: string): string {
  if (!op.def.kernels.includes(deviceType)) return 'no kernel';
  const constraint = op.def.kernelConstraints?.[deviceType];
  if (!constraint) return '';
  const attrs = typeAttrsOf(op);
  for (const [name, allowed] of Object.entries(constraint.types ?? {})) {
    const dtype = attrs[name];
    if (dtype !== undefined && !allowed.includes(dtype)) return `${name}=${tfDTypeName(dtype)}`;
  }
  if (constraint.requires && !constraint.requires.holds(op)) return `not ${constraint.requires.description}`;
  return '';
}

/** True when `deviceType` has a kernel for `op`, with its dtypes (TensorFlow's FindKernelDef for the node). */
export function hasKernel(op: Operation, deviceType: string): boolean {
  return missingKernel(op, deviceType) === '';
}

/** The device types with a kernel for this op and its dtypes, in the def's order (`['CPU', 'GPU']`). */
export function kernelDeviceTypes(op: Operation): string[] {
  return op.def.kernels.filter((t) => hasKernel(op, t));
}

/** TensorFlow's DataType enum name (`DT_FLOAT`), as its kernel listings print it. */
export function tfDTypeName(dtype: DType): string {
  return `DT_${dtypeInfo(dtype).tfName.toUpperCase()}`;
}

/** TensorFlow's "Registered kernels:" lines for an op: `device='GPU'; T in [DT_FLOAT, DT_INT32]`. */
export function registeredKernels(def: OpDef): string[] {
  return def.kernels.map((device) => {
    const c = def.kernelConstraints?.[device];
    const types = Object.entries(c?.types ?? {}).map(
      ([name, dtypes]) => `; ${name} in [${dtypes.map(tfDTypeName).join(', ')}]`,
    );
    return `device='${device}'${types.join('')}${c?.requires ? `; requires ${c.requires.description}` : ''}`;
  });
}

/** The op's type attributes as TensorFlow prints node attrs (`T=DT_DOUBLE`). */
export function formatTypeAttrs(op: Operation): string {
  return Object.entries(typeAttrsOf(op))
    .map(([name, dtype]) => `${name}=${tfDTypeName(dtype)}`)
    .join(', ');
}

/** The WebGPU EP's most common TypeConstraints (float32 math; float32 and int32 data movement and arithmetic). */
export const GPU_F32 = gpuKernel({ T: ['float32'] });
export const GPU_F32_I32 = gpuKernel({ T: ['float32', 'int32'] });

/**
 * The condition of lowerings that are static only when shapes are: the inputs at `indices` (default all) have
 * fully known shapes when the graph is built.
 */
export function staticShapes(indices?: readonly number[], description = 'static input shapes'): KernelCondition {
  return {
    description,
    holds: (op) => (indices ? indices.map((i) => op.inputs[i]) : op.inputs).every((t) => t && isFullyDefined(t.shape)),
  };
}
