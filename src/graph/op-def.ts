import type { DType } from './dtype.js';
import type { Attrs, Operation, Tensor } from './graph.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import type { KernelConstraints } from '../ops/kernels.js';
import type { Shape } from './shape.js';

/** What inference says about one output. */
export interface OutputInfo {
  dtype: DType;
  shape: Shape;
}

/** Given to an op's `lower`: ONNX value names for its inputs and the names its outputs must get. */
export interface LowerContext {
  op: Operation;
  attrs: Readonly<Attrs>;
  /** ONNX value names of the op's inputs, in order. */
  inputs: readonly string[];
  /** ONNX value names the lowering must produce, one per op output. */
  outputs: readonly string[];
  b: OnnxGraphBuilder;
  /** Device type of the partition being lowered ('CPU', 'GPU'): an op may lower differently per device. */
  deviceType: string;
}

/** Given to an op's `grad`: the op and the gradient of the loss with respect to each of its outputs. */
export interface GradContext {
  op: Operation;
  /** dL/d(output i), null when no gradient flows into that output. */
  grads: readonly (Tensor | null)[];
}

/**
 * Everything about one op type, in one place (STYLE.md "one op, one place"): build-time inference, ONNX
 * lowering, gradient, and the device types that have a kernel for it. Nothing else switches on op types.
 */
export interface OpDef<A extends object = Attrs> {
  /** TensorFlow's op type name, printed in placement logs (`MatMul: (MatMul): …`). */
  type: string;
  /** Output dtypes and static shapes; throws InvalidArgument naming the op and the shapes on a mismatch. */
  infer(inputs: readonly Tensor[], attrs: A, opName: string): OutputInfo[];
  /** Emits ONNX nodes computing the outputs (opset 17). */
  lower(ctx: LowerContext & { attrs: A }): void;
  /** Input gradients as graph ops (null = none flows). Absent: the op has no gradient (an error when needed). */
  grad?(ctx: GradContext & { attrs: A }): (Tensor | null)[];
  /** True for ops whose outputs carry no gradient (integer results, comparisons): gradients stop silently. */
  notDifferentiable?: boolean;
  /**
   * Device types with a kernel for this op, for some dtypes. The placer looks kernels up per op instance,
   * (op, device type, dtypes): see `kernelConstraints` and hasKernel() in src/ops/kernels.ts.
   */
  kernels: readonly string[];
  /**
   * Per device type in `kernels`, what its kernel accepts: TensorFlow's TypeConstraint on type attributes
   * (`{ GPU: { types: { T: ['float32', 'int32'] } } }`, see gpuKernel()) and, where the lowering depends on more
   * than dtypes, a condition. A device type without an entry accepts every dtype the op accepts.
   */
  kernelConstraints?: KernelConstraints;
  /** The op's type attributes for kernel lookup (TensorFlow's T, DstT, …); default `{ T: output 0's dtype }`. */
  typeAttrs?(op: Operation): Readonly<Record<string, DType>>;
  /** Ops with side effects or randomness: never merged or constant-folded. */
  stateful?: boolean;
  /** Output 0 is a variable's current value, supplied by the session's variable store. */
  variableSource?: boolean;
  /**
   * Input 0 is a variable (a reference edge); output 0 is its new value, written back to the store after the run.
   * `readsOld` says whether the lowering uses the variable's current value (AssignAdd) or not (Assign).
   */
  variableUpdate?: { readsOld: boolean };
  /** Runs no computation; only its control inputs matter (NoOp, group). */
  noOp?: boolean;
}

const registry = new Map<string, OpDef>();

/** Registers an op definition; the type name must be unique. */
export function defineOp<A extends object = Attrs>(def: OpDef<A>): OpDef<A> {
  if (registry.has(def.type)) throw new Error(`op type '${def.type}' is defined twice`);
  for (const device of Object.keys(def.kernelConstraints ?? {})) {
    if (!def.kernels.includes(device)) {
      throw new Error(`op type '${def.type}': kernel constraints for ${device}, which is not among its kernels`);
    }
  }
  registry.set(def.type, def as unknown as OpDef);
  return def;
}

/** All registered op definitions (for tests and for the GPU kernel table). */
export function registeredOps(): ReadonlyMap<string, OpDef> {
  return registry;
}
