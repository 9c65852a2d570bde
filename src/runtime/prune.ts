import type { Operation, Tensor } from '../graph/graph.js';

/** True when input `index` of `op` is a pure reference edge (Assign's target): no data flows through it. */
export function isRefOnlyInput(op: Operation, index: number): boolean {
  return index === 0 && op.def.variableUpdate !== undefined && !op.def.variableUpdate.readsOld;
}

/** The data inputs of an op: its inputs minus pure reference edges. */
export function dataInputs(op: Operation): Tensor[] {
  return op.inputs.filter((_t, i) => !isRefOnlyInput(op, i));
}

/**
 * The ops that must run to compute `fetches` and run `targets` when `fed` tensors are given
 * (TensorFlow's pruning): walks data and control inputs backwards, stopping at fed tensors.
 * Returned in graph (creation) order, which is a topological order.
 */
export function prune(
  fetches: readonly Tensor[],
  targets: readonly Operation[],
  fed: ReadonlySet<Tensor>,
): Operation[] {
  const needed = new Set<Operation>();
  const stack: Operation[] = [];
  const visitTensor = (t: Tensor) => {
    if (!fed.has(t)) visitOp(t.op);
  };
  const visitOp = (op: Operation) => {
    if (needed.has(op)) return;
    needed.add(op);
    stack.push(op);
  };
  fetches.forEach(visitTensor);
  targets.forEach(visitOp);
  while (stack.length > 0) {
    const op = stack.pop() as Operation;
    dataInputs(op).forEach(visitTensor);
    op.controlInputs.forEach(visitOp);
  }
  return [...needed].sort((a, b) => a.id - b.id);
}
