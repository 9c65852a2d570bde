/**
 * GraphDef → flowserve Graph. Only what the fetches need is imported: the walk starts at the fetched tensors and
 * stops at fed ones (a fed tensor becomes a Placeholder of the signature's dtype and shape, which is how TF
 * Serving cuts ParseExample off a predict signature that feeds `x:0`). Control inputs are followed only into nodes
 * that update a variable or lead to one (state.ts); a read after such an update gets its value. Every op type on
 * that path must have a mapping (tf-ops.ts); when some do not, the import fails listing every missing type with
 * one node name each, before anything is built.
 */
import { InvalidArgument, NotFound, Unimplemented } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import { Graph, type Operation, type Tensor } from '../graph/graph.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { canonicalDevice } from '../devices/device-spec.js';
import { Placeholder } from '../ops/source.js';
import type { Dim } from '../graph/shape.js';
import { attrValueOfTf } from './tf-attrs.js';
import type { NodeDefMsg } from './tf-messages.js';
import { TF_IGNORED_OPS, tfOpMapping, type TfNodeContext } from './tf-ops.js';
import { isVariableUpdate, nodesLeadingToUpdates, variableNodeOf, VisibleUpdates } from './state.js';

export interface FeedSpec {
  dtype: DType;
  shape: Dim[];
}

export interface GraphImportOptions {
  /** TF tensor names (`x:0`) that requests feed, with the dtype and shape of their placeholder. */
  feeds: ReadonlyMap<string, FeedSpec>;
  /** TF tensor names to compute. */
  fetches: readonly string[];
  /** Variable values by checkpoint key (`a`, or TF2's `a/.ATTRIBUTES/VARIABLE_VALUE`). */
  variables?: ReadonlyMap<string, HostTensor>;
  /** Names the model file in errors. */
  source?: string;
}

export interface ImportedGraph {
  graph: Graph;
  /** The flowserve tensor of a TF tensor name (`x:0`, `x`); NotFound when it was not imported. */
  tensor(tfName: string): Tensor;
  /** Each imported variable op and its value from the checkpoint. */
  variables: { op: Operation; value: HostTensor }[];
  /**
   * Each imported variable update: the TF node, its flowserve op (output 0 = the variable's new value), the
   * variable op it updates, and its rank (a later update of the same variable in one run has a higher rank).
   */
  updates: ImportedUpdate[];
}

export interface ImportedUpdate {
  node: string;
  op: Operation;
  variable: Operation;
  rank: number;
}

/** `node`, `node:1` or `^node` → node name, output index, control flag. */
export function parseTensorRef(ref: string): { node: string; index: number; control: boolean } {
  if (ref.startsWith('^')) return { node: ref.slice(1), index: 0, control: true };
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1] as string, index: Number(m[2]), control: false } : { node: ref, index: 0, control: false };
}

/** Canonical `node:index` form of a tensor name. */
export function canonicalTensorName(ref: string): string {
  const { node, index } = parseTensorRef(ref);
  return `${node}:${index}`;
}

/** The TF op types among `nodes` with no mapping, each with the first node that uses it. */
export function unsupportedOps(nodes: readonly NodeDefMsg[]): Map<string, string> {
  const missing = new Map<string, string>();
  for (const n of nodes) {
    const type = n.op ?? '';
    if (!TF_IGNORED_OPS.has(type) && !tfOpMapping(type) && !missing.has(type)) missing.set(type, n.name ?? '');
  }
  return missing;
}

export function unsupportedOpsError(missing: ReadonlyMap<string, string>, source: string | undefined): Unimplemented {
  const list = [...missing].map(([type, node]) => `${type} (node '${node}')`).join(', ');
  return new Unimplemented(
    `${source ? `${source}: ` : ''}the graph uses ${missing.size} TensorFlow op type${missing.size === 1 ? '' : 's'} that flowserve cannot import: ${list}`,
  );
}

export function importGraphDef(nodes: readonly NodeDefMsg[], options: GraphImportOptions): ImportedGraph {
  const byName = new Map<string, NodeDefMsg>();
  for (const n of nodes) {
    if (!n.name) throw new InvalidArgument(`${options.source ?? 'graph'}: a node has no name`);
    if (byName.has(n.name))
      throw new InvalidArgument(`${options.source ?? 'graph'}: node name '${n.name}' is used twice`);
    byName.set(n.name, n);
  }
  const feeds = new Map([...options.feeds].map(([name, spec]) => [canonicalTensorName(name), spec]));
  const fedNodes = new Set([...feeds.keys()].map((n) => parseTensorRef(n).node));
  const needed = neededNodes(byName, options.fetches, fedNodes, options.source);
  const missing = unsupportedOps(needed.filter((n) => !fedNodes.has(n.name as string)));
  if (missing.size > 0) throw unsupportedOpsError(missing, options.source);

  const graph = new Graph();
  const built = new Map<string, Tensor[]>();
  const variables: ImportedGraph['variables'] = [];
  const updates: ImportedUpdate[] = [];
  const updateOps = new Map<string, Operation>();
  const visible = new VisibleUpdates();
  const imported = new Set(needed.map((n) => n.name as string));
  for (const [name, spec] of feeds) {
    const { node, index } = parseTensorRef(name);
    const opName = index === 0 ? node : `${node}_output_${index}`;
    const t = graph.addOp({
      def: Placeholder,
      attrs: { dtype: spec.dtype, shape: spec.shape },
      name: opName,
      reservedName: true,
    }).output;
    const outputs = built.get(node) ?? [];
    outputs[index] = t;
    built.set(node, outputs);
  }
  for (const node of needed) {
    const name = node.name as string;
    if (fedNodes.has(name)) continue;
    const type = node.op ?? '';
    const updated = isVariableUpdate(node) ? updatedVariable(byName, node) : undefined;
    // Before the NoOp check: a NoOp grouping updates passes them on to the nodes ordered after it.
    const sees = visible.visit(
      node,
      (node.input ?? []).filter((ref) => imported.has(parseTensorRef(ref).node)),
      updated,
    );
    if (TF_IGNORED_OPS.has(type)) {
      built.set(name, []);
      continue;
    }
    const inputs = (node.input ?? [])
      .filter((ref) => !ref.startsWith('^'))
      .map((ref) => {
        // A read of a variable that an earlier update of this run changed gets the update's value.
        const variable = sees.size > 0 ? variableNodeOf(byName, ref) : undefined;
        const update = variable === undefined ? undefined : sees.get(variable);
        return update === undefined ? resolve(built, ref, name) : (updateOps.get(update) as Operation).output;
      });
    const ctx: TfNodeContext = {
      graph,
      name,
      type,
      inputs,
      attr: (key) => {
        const value = node.attr?.[key];
        return value ? attrValueOfTf(value, `node '${name}' (${type}) attr '${key}'`) : undefined;
      },
      attrNames: () => Object.keys(node.attr ?? {}),
      variableValue: () => variableValue(node, options.variables),
    };
    let outputs: Tensor[];
    try {
      outputs = (tfOpMapping(type) as NonNullable<ReturnType<typeof tfOpMapping>>)(ctx);
    } catch (err) {
      if (err instanceof Error && !err.message.includes(`'${name}'`))
        err.message = `node '${name}' (${type}): ${err.message}`;
      throw err;
    }
    const op = outputs[0]?.op ?? (graph.hasOperation(name) ? graph.operation(name) : undefined);
    if (op && node.device) op.requestedDevice = canonicalDevice(node.device);
    if (op?.def.variableSource) {
      const value = ctx.variableValue();
      if (!value) {
        throw new NotFound(
          `${options.source ? `${options.source}: ` : ''}variable '${name}' has no value in the model's checkpoint`,
        );
      }
      variables.push({ op, value });
    }
    if (updated !== undefined) {
      const update = graph.operation(name);
      updateOps.set(name, update);
      updates.push({
        node: name,
        op: update,
        variable: (built.get(updated)?.[0] as Tensor).op,
        rank: visible.rank(name),
      });
    }
    built.set(name, outputs);
  }
  return {
    graph,
    variables,
    updates,
    tensor: (tfName) => {
      const { node, index } = parseTensorRef(tfName);
      const t = built.get(node)?.[index];
      if (!t) throw new NotFound(`tensor '${tfName}' is not in the imported graph`);
      return t;
    },
  };
}

function resolve(built: ReadonlyMap<string, Tensor[]>, ref: string, consumer: string): Tensor {
  const { node, index } = parseTensorRef(ref);
  const t = built.get(node)?.[index];
  if (!t)
    throw new InvalidArgument(`node '${consumer}' reads '${ref}', which does not exist or has no output ${index}`);
  return t;
}

/** The variable node an update node (input 0) updates; InvalidArgument when input 0 is not a variable. */
function updatedVariable(byName: ReadonlyMap<string, NodeDefMsg>, node: NodeDefMsg): string {
  const ref = (node.input ?? [])[0] ?? '';
  const variable = variableNodeOf(byName, ref);
  if (variable === undefined) {
    throw new InvalidArgument(
      `node '${node.name ?? ''}' (${node.op ?? ''}): input 0 '${ref}' must be a variable (VariableV2 or VarHandleOp)`,
    );
  }
  return variable;
}

/** Checkpoint key of a variable node: its name or shared_name, as TF1 saves them, or TF2's object-graph key. */
function variableValue(
  node: NodeDefMsg,
  variables: ReadonlyMap<string, HostTensor> | undefined,
): HostTensor | undefined {
  if (!variables) return undefined;
  const shared = node.attr?.shared_name?.s ? Buffer.from(node.attr.shared_name.s).toString('utf8') : '';
  for (const base of [node.name ?? '', shared]) {
    if (!base) continue;
    const value = variables.get(base) ?? variables.get(`${base}/.ATTRIBUTES/VARIABLE_VALUE`);
    if (value) return value;
  }
  return undefined;
}

/**
 * The nodes the fetches depend on through data edges and control edges into variable updates (state.ts), stopping
 * at fed nodes, inputs before consumers.
 */
export function neededNodes(
  nodes: ReadonlyMap<string, NodeDefMsg> | readonly NodeDefMsg[],
  fetches: readonly string[],
  fed: ReadonlySet<string>,
  source: string | undefined,
): NodeDefMsg[] {
  const byName = Array.isArray(nodes)
    ? new Map(nodes.map((n) => [n.name ?? '', n]))
    : (nodes as ReadonlyMap<string, NodeDefMsg>);
  const order: NodeDefMsg[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const leadingToUpdates = nodesLeadingToUpdates(byName);
  // Iterative post-order: graphs can be thousands of nodes deep.
  const stack: { name: string; expanded: boolean; from: string }[] = fetches
    .map((f) => ({ name: parseTensorRef(f).node, expanded: false, from: `fetch '${f}'` }))
    .reverse();
  while (stack.length > 0) {
    const top = stack.pop() as { name: string; expanded: boolean; from: string };
    const node = byName.get(top.name);
    if (!node)
      throw new NotFound(
        `${source ? `${source}: ` : ''}${top.from} names node '${top.name}', which is not in the graph`,
      );
    if (top.expanded) {
      state.set(top.name, 'done');
      order.push(node);
      continue;
    }
    const s = state.get(top.name);
    if (s === 'done') continue;
    if (s === 'visiting') {
      throw new Unimplemented(
        `${source ? `${source}: ` : ''}the graph has a cycle through node '${top.name}' (control flow is not supported)`,
      );
    }
    state.set(top.name, 'visiting');
    stack.push({ ...top, expanded: true });
    if (fed.has(top.name)) continue;
    for (const ref of node.input ?? []) {
      const { node: input, control } = parseTensorRef(ref);
      if ((control && !leadingToUpdates.has(input)) || state.get(input) === 'done') continue;
      stack.push({ name: input, expanded: false, from: `node '${top.name}'` });
    }
  }
  return order;
}
