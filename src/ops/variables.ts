import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import { getDefaultGraph, Tensor, type Graph, type Operation } from '../graph/graph.js';
import type { HostTensor, NestedArray } from '../graph/host-tensor.js';
import { defineOp } from '../graph/op-def.js';
import { formatShape, isFullyDefined, shapesCompatible, type Shape } from '../graph/shape.js';
import { constant } from './convert.js';
import { CPU_AND_GPU, GPU_F32_I32 } from './kernels.js';
import { identity, NoOp } from './source.js';

export const GLOBAL_VARIABLES = 'variables';
export const TRAINABLE_VARIABLES = 'trainable_variables';

/**
 * VariableV2: a variable's current value. The value lives in the Session's variable store on the variable's
 * device; the runtime supplies it as the lowered partition's input 0.
 */
export const VariableV2 = defineOp<{ dtype: DType; shape: Shape }>({
  type: 'VariableV2',
  infer: (_inputs, { dtype, shape }) => [{ dtype, shape }],
  lower: ({ b, inputs, outputs }) => {
    b.op('Identity', [inputs[0] as string], {}, outputs[0]);
  },
  variableSource: true,
  stateful: true,
  notDifferentiable: true,
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32_I32,
});

function checkAssignShapes(opName: string, ref: Tensor, value: Tensor): void {
  if (ref.dtype !== value.dtype) {
    throw new InvalidArgument(
      `Operation '${opName}': cannot assign a ${value.dtype} value to ${ref.dtype} variable '${ref.op.name}'`,
    );
  }
  if (!shapesCompatible(ref.shape, value.shape)) {
    throw new InvalidArgument(
      `Operation '${opName}': shapes must be equal for assignment to '${ref.op.name}': variable ${formatShape(ref.shape)} vs value ${formatShape(value.shape)}`,
    );
  }
}

function assignDef(type: string, onnxOp: 'Add' | 'Sub' | undefined) {
  return defineOp({
    type,
    infer: ([ref, value], _attrs, opName) => {
      checkAssignShapes(opName, ref as Tensor, value as Tensor);
      return [{ dtype: (ref as Tensor).dtype, shape: (ref as Tensor).shape }];
    },
    lower: ({ b, inputs, outputs }) => {
      if (onnxOp) b.op(onnxOp, [inputs[0] as string, inputs[1] as string], {}, outputs[0]);
      else b.op('Identity', [inputs[1] as string], {}, outputs[0]);
    },
    variableUpdate: { readsOld: onnxOp !== undefined },
    stateful: true,
    notDifferentiable: true,
    kernels: CPU_AND_GPU,
    kernelConstraints: GPU_F32_I32,
  });
}

export const Assign = assignDef('Assign', undefined);
export const AssignAdd = assignDef('AssignAdd', 'Add');
export const AssignSub = assignDef('AssignSub', 'Sub');

export interface VariableOptions {
  name?: string;
  dtype?: DType;
  trainable?: boolean;
  graph?: Graph;
}

/**
 * A variable (tf.Variable): `const W = new Variable(zeros([784, 10]), { name: 'W' })`. Creates the
 * VariableV2 op `W`, its initializer `W/Assign` and the read `W/read`, all colocated with `W`.
 */
export class Variable {
  readonly op: Operation;
  /** The value to compute with (`W/read`). */
  readonly value: Tensor;
  /** The op that sets the initial value (`W/Assign`). */
  readonly initializer: Operation;
  readonly initialValue: Tensor;
  readonly trainable: boolean;

  constructor(initialValue: Tensor | HostTensor | NestedArray, options: VariableOptions = {}) {
    const graph = initialValue instanceof Tensor ? initialValue.graph : (options.graph ?? getDefaultGraph());
    const name = options.name ?? 'Variable';
    this.trainable = options.trainable ?? true;
    const vname = graph.uniqueName(name);
    this.initialValue = graph.nameScope(
      vname,
      () =>
        initialValue instanceof Tensor
          ? initialValue
          : constant(initialValue, { graph, dtype: options.dtype, name: 'initial_value' }),
      { reserved: true },
    );
    if (!isFullyDefined(this.initialValue.shape)) {
      throw new InvalidArgument(
        `variable '${vname}': initial value shape ${formatShape(this.initialValue.shape)} must be fully defined`,
      );
    }
    this.op = graph.addOp({
      def: VariableV2,
      attrs: { dtype: this.initialValue.dtype, shape: this.initialValue.shape },
      name: vname,
      reservedName: true,
    });
    this.initializer = graph.colocateWith(this.op, () =>
      graph.addOp({ def: Assign, inputs: [this.op.output, this.initialValue], name: `${vname}/Assign` }),
    );
    this.value = graph.colocateWith(this.op, () => identity(this.op.output, { name: `${vname}/read` }));
    graph.addToCollection(GLOBAL_VARIABLES, this);
    if (this.trainable) graph.addToCollection(TRAINABLE_VARIABLES, this);
  }

  get name(): string {
    return this.op.name;
  }

  get dtype(): DType {
    return this.op.output.dtype;
  }

  get shape(): Shape {
    return this.op.output.shape;
  }

  get graph(): Graph {
    return this.op.graph;
  }

  /** The variable's reference tensor (`W:0`), the input of assign ops. */
  get ref(): Tensor {
    return this.op.output;
  }

  assign(value: Tensor, options: { name?: string } = {}): Tensor {
    return this.update(Assign, value, options.name ?? 'Assign');
  }

  assignAdd(value: Tensor, options: { name?: string } = {}): Tensor {
    return this.update(AssignAdd, value, options.name ?? 'AssignAdd');
  }

  assignSub(value: Tensor, options: { name?: string } = {}): Tensor {
    return this.update(AssignSub, value, options.name ?? 'AssignSub');
  }

  private update(def: typeof Assign, value: Tensor, name: string): Tensor {
    return this.graph.colocateWith(this.op, () => this.graph.addOp({ def, inputs: [this.ref, value], name }).output);
  }
}

export function assign(v: Variable, value: Tensor, options: { name?: string } = {}): Tensor {
  return v.assign(value, options);
}
export function assignAdd(v: Variable, value: Tensor, options: { name?: string } = {}): Tensor {
  return v.assignAdd(value, options);
}
export function assignSub(v: Variable, value: Tensor, options: { name?: string } = {}): Tensor {
  return v.assignSub(value, options);
}

export function globalVariables(graph: Graph = getDefaultGraph()): Variable[] {
  return graph.getCollection<Variable>(GLOBAL_VARIABLES);
}

export function trainableVariables(graph: Graph = getDefaultGraph()): Variable[] {
  return graph.getCollection<Variable>(TRAINABLE_VARIABLES);
}

/** One op that runs every variable's initializer (tf.global_variables_initializer). */
export function globalVariablesInitializer(graph: Graph = getDefaultGraph()): Operation {
  return variablesInitializer(globalVariables(graph), graph);
}

export function variablesInitializer(variables: readonly Variable[], graph: Graph = getDefaultGraph()): Operation {
  return graph.controlDependencies(
    variables.map((v) => v.initializer),
    () => graph.addOp({ def: NoOp, name: 'init' }),
  );
}
