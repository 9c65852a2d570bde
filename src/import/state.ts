/**
 * What TensorFlow runs and reads when a graph updates its variables (docs/tensorflow-models.md#state), for the
 * importer:
 * - Control edges: TF runs every node a fetched node depends on, control inputs included. The importer follows
 *   control inputs only into nodes that update a variable or lead to one (an `increment` output with `^AssignAdd`),
 *   so that the graphs that update nothing import exactly as before and their asserts and summaries stay out.
 * - Reads: a node that reads a variable after an update of it in the same run (an update among its ancestors,
 *   through data or control edges) sees the updated value; without one it sees the value the run started with.
 */
import type { NodeDefMsg } from './tf-messages.js';
import { TF_VARIABLE_OPS, TF_VARIABLE_UPDATE_OPS } from './tf-ops.js';

/** TF's DT_RESOURCE enum value: an Identity of a resource handle is still the same variable. */
const DT_RESOURCE = 20;

/** The node a tensor reference (`n`, `n:1`, `^n`) names. */
function nodeOf(ref: string): string {
  const name = ref.startsWith('^') ? ref.slice(1) : ref;
  return name.replace(/:\d+$/, '');
}

/** True when the node type updates a variable (Assign, AssignAddVariableOp, …). */
export function isVariableUpdate(node: NodeDefMsg): boolean {
  return TF_VARIABLE_UPDATE_OPS.has(node.op ?? '');
}

/**
 * The nodes that update a variable or depend (through data or control edges) on a node that does: a control input
 * into one of them must be followed. Empty, without walking, for a graph that updates nothing.
 */
export function nodesLeadingToUpdates(byName: ReadonlyMap<string, NodeDefMsg>): Set<string> {
  const leading = new Set<string>();
  if (![...byName.values()].some(isVariableUpdate)) return leading;
  const done = new Set<string>();
  const visiting = new Set<string>();
  for (const root of byName.keys()) {
    if (done.has(root)) continue;
    // Iterative post-order: graphs can be thousands of nodes deep. A cycle (control flow) is left to neededNodes.
    const stack: { name: string; expanded: boolean }[] = [{ name: root, expanded: false }];
    while (stack.length > 0) {
      const { name, expanded } = stack.pop() as { name: string; expanded: boolean };
      const node = byName.get(name);
      if (expanded) {
        visiting.delete(name);
        done.add(name);
        if (node && (isVariableUpdate(node) || (node.input ?? []).some((ref) => leading.has(nodeOf(ref))))) {
          leading.add(name);
        }
        continue;
      }
      if (done.has(name) || visiting.has(name)) continue;
      visiting.add(name);
      stack.push({ name, expanded: true });
      for (const ref of node?.input ?? []) {
        const input = nodeOf(ref);
        if (!done.has(input) && !visiting.has(input)) stack.push({ name: input, expanded: false });
      }
    }
  }
  return leading;
}

/**
 * The variable node a data reference reads: the variable itself (a ref variable, a resource handle), or an
 * Identity chain of a resource handle. undefined for anything else (an update's output is a value, not the variable).
 */
export function variableNodeOf(byName: ReadonlyMap<string, NodeDefMsg>, ref: string): string | undefined {
  let name = nodeOf(ref);
  for (let hops = 0; hops <= byName.size; hops++) {
    const node = byName.get(name);
    if (!node) return undefined;
    if (TF_VARIABLE_OPS.has(node.op ?? '')) return name;
    const isResourceIdentity = node.op === 'Identity' && Number(node.attr?.T?.type) === DT_RESOURCE;
    const input = node.input?.find((r) => !r.startsWith('^'));
    if (!isResourceIdentity || input === undefined) return undefined;
    name = nodeOf(input);
  }
  return undefined;
}

/**
 * Tracks, node by node in an order where inputs come first, which update of each variable a node sees: the latest
 * update (in that order) among its ancestors. Nodes that see none share one empty map, so a graph without updates
 * costs one lookup per input.
 */
export class VisibleUpdates {
  private readonly seen = new Map<string, ReadonlyMap<string, string>>();
  private readonly order = new Map<string, number>();
  private static readonly NONE: ReadonlyMap<string, string> = new Map();

  /**
   * Records `node` (after its inputs) and returns what it sees: variable node → update node. `inputs` are the
   * node's data and control inputs that were imported; an update also sees itself afterwards (its consumers do).
   */
  visit(node: NodeDefMsg, inputs: readonly string[], updatedVariable: string | undefined): ReadonlyMap<string, string> {
    const name = node.name as string;
    this.order.set(name, this.order.size);
    let merged = VisibleUpdates.NONE;
    for (const ref of inputs) {
      const other = this.seen.get(nodeOf(ref));
      if (!other || other.size === 0 || other === merged) continue;
      if (merged.size === 0) {
        merged = other;
        continue;
      }
      const union = new Map(merged);
      for (const [variable, update] of other) {
        const mine = union.get(variable);
        if (mine === undefined || this.rank(update) > this.rank(mine)) union.set(variable, update);
      }
      merged = union;
    }
    const after = updatedVariable === undefined ? merged : new Map([...merged, [updatedVariable, name]]);
    this.seen.set(name, after);
    return merged;
  }

  /** Position of a node in the visit order; a later update of the same variable wins. */
  rank(node: string): number {
    return this.order.get(node) ?? -1;
  }
}

/** The variables that the update nodes among `nodes` update (node names, sorted). */
export function updatedVariables(byName: ReadonlyMap<string, NodeDefMsg>, nodes: readonly NodeDefMsg[]): string[] {
  const out = new Set<string>();
  for (const node of nodes) {
    if (!isVariableUpdate(node)) continue;
    const variable = variableNodeOf(byName, node.input?.[0] ?? '');
    if (variable !== undefined) out.add(variable);
  }
  return [...out].sort();
}
