import { InvalidArgument, NotFound } from '../errors.js';
import { Tensor, type Operation } from '../graph/graph.js';
import { add } from '../ops/math.js';
import { onesLike } from '../ops/array.js';

/**
 * Symbolic gradients (tf.gradients): builds ops computing d(sum of ys)/d(x) for each x, by walking the ops
 * between xs and ys in reverse and calling each op definition's `grad`. `gradYs` weights each y (default ones).
 * Returns null for an x the ys do not depend on. New ops go under the name scope `gradients/<op>_grad/`.
 */
export function gradients(
  ys: Tensor | readonly Tensor[],
  xs: readonly Tensor[],
  gradYs?: readonly (Tensor | null)[],
): (Tensor | null)[] {
  const yList = ys instanceof Tensor ? [ys] : [...ys];
  const first = yList[0];
  if (!first) throw new InvalidArgument('gradients: ys is empty');
  const graph = first.graph;
  for (const t of [...yList, ...xs]) {
    if (!(t instanceof Tensor)) throw new InvalidArgument(`gradients: ${String(t)} is not a Tensor`);
    if (t.graph !== graph) throw new InvalidArgument(`gradients: tensor '${t.name}' is from another graph`);
  }
  if (gradYs && gradYs.length !== yList.length) {
    throw new InvalidArgument(`gradients: ${yList.length} ys but ${gradYs.length} grad_ys`);
  }

  // Ops on a path from some x to some y: reachable backwards from ys and forwards from xs.
  const fromYs = new Set<Operation>();
  const stack = yList.map((y) => y.op);
  while (stack.length) {
    const op = stack.pop() as Operation;
    if (fromYs.has(op)) continue;
    fromYs.add(op);
    op.inputs.forEach((t) => stack.push(t.op));
  }
  const xOps = new Set(xs.map((x) => x.op));
  const between = new Set<Operation>();
  for (const op of [...fromYs].sort((a, b) => a.id - b.id)) {
    if (xOps.has(op) || op.inputs.some((t) => between.has(t.op))) between.add(op);
  }

  const pending = new Map<Tensor, Tensor[]>();
  const addGrad = (t: Tensor, g: Tensor) => {
    const list = pending.get(t) ?? [];
    list.push(g);
    pending.set(t, list);
  };
  return graph.nameScope('gradients', () => {
    yList.forEach((y, i) => addGrad(y, gradYs?.[i] ?? onesLike(y, { name: `grad_ys_${i}` })));
    const sum = (t: Tensor): Tensor | null => {
      const list = pending.get(t);
      if (!list || list.length === 0) return null;
      if (list.length === 1) return list[0] as Tensor;
      const total = list.reduce((acc, g) => add(acc, g, { name: 'AddN' }));
      pending.set(t, [total]);
      return total;
    };
    const ordered = [...between].sort((a, b) => b.id - a.id);
    for (const op of ordered) {
      const outGrads = op.outputs.map(sum);
      if (outGrads.every((g) => g === null)) continue;
      if (xOps.has(op) && !op.inputs.some((t) => between.has(t.op))) continue;
      if (op.def.notDifferentiable) continue;
      const grad = op.def.grad;
      if (!grad) {
        throw new NotFound(`No gradient defined for operation '${op.name}' (op type: ${op.type})`);
      }
      const inGrads = graph.nameScope(`${op.name}_grad`, () => grad({ op, grads: outGrads, attrs: op.attrs }));
      if (inGrads.length !== op.inputs.length) {
        throw new InvalidArgument(
          `gradient of '${op.name}' (${op.type}) returned ${inGrads.length} gradients for ${op.inputs.length} inputs`,
        );
      }
      op.inputs.forEach((t, i) => {
        const g = inGrads[i];
        if (g && between.has(t.op)) addGrad(t, g);
      });
    }
    return xs.map((x) => sum(x));
  });
}
