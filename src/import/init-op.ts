/**
 * A SavedModel's init op: what TensorFlow's loader runs once after restoring the variables. TF's loader takes the
 * `__saved_model_init_op` signature (TF2), else the `saved_model_main_op` collection, else `legacy_init_op` (TF1),
 * and feeds each asset placeholder (asset_file_def) the path of its file under `assets/`.
 *
 * flowserve runs it on the host over the checkpoint's values, before the graph is lowered: an init op that is a
 * NoOp changes nothing, one that assigns variables from constants, assets or other variables changes the values
 * the model starts from. One that needs anything else (a lookup table initialized from a file, say) fails the load
 * naming every op type it would need, as an unsupported op on a signature path does.
 */
import { InvalidArgument, Unimplemented } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import { HostTensor } from '../graph/host-tensor.js';
import type { MetaGraphDefMsg, NodeDefMsg } from './tf-messages.js';
import { hostTensorOfTf } from './tf-tensor.js';

export const INIT_OP_SIGNATURE = '__saved_model_init_op';
const INIT_OP_COLLECTIONS = ['saved_model_main_op', 'legacy_init_op'];

export interface InitOp {
  /** The node the loader runs (a NoOp grouping the work, usually). */
  node: string;
  /** Tensor names (`asset_path_initializer:0`) of the asset placeholders → the file each is fed. */
  assets: Record<string, string>;
}

/** The node name a tensor reference (`n`, `n:0`, `^n`) names. */
function nodeOf(ref: string): string {
  return (ref.startsWith('^') ? ref.slice(1) : ref).replace(/:\d+$/, '');
}

/** The init op of a MetaGraphDef, in TF's loader order; undefined when it has none. */
export function initOpOf(metaGraph: MetaGraphDefMsg, assetPath: (filename: string) => string): InitOp | undefined {
  const fromSignature = metaGraph.signature_def?.[INIT_OP_SIGNATURE]?.outputs?.[INIT_OP_SIGNATURE]?.name;
  const fromCollection = INIT_OP_COLLECTIONS.map((key) => metaGraph.collection_def?.[key]?.node_list?.value?.[0]).find(
    (name) => name !== undefined,
  );
  const name = fromSignature ?? fromCollection;
  if (!name) return undefined;
  const assets: Record<string, string> = {};
  for (const asset of metaGraph.asset_file_def ?? []) {
    if (asset.tensor_info?.name && asset.filename) assets[asset.tensor_info.name] = assetPath(asset.filename);
  }
  return { node: nodeOf(name), assets };
}

/** The op types flowserve can run in an init op. */
const RUNNABLE = new Set([
  'NoOp',
  'Const',
  'Identity',
  'Snapshot',
  'Placeholder',
  'VariableV2',
  'Variable',
  'VarHandleOp',
  'ReadVariableOp',
  'Assign',
  'AssignAdd',
  'AssignSub',
  'AssignVariableOp',
  'AssignAddVariableOp',
  'AssignSubVariableOp',
]);
const VARIABLES = new Set(['VariableV2', 'Variable', 'VarHandleOp']);
const ASSIGNS: Record<string, 'set' | 'add' | 'sub'> = {
  Assign: 'set',
  AssignVariableOp: 'set',
  AssignAdd: 'add',
  AssignAddVariableOp: 'add',
  AssignSub: 'sub',
  AssignSubVariableOp: 'sub',
};

/**
 * The variable values after the init op, by checkpoint key (the variable's node name for those it assigned, which
 * the importer looks up first): `variables` itself when the init op assigns nothing.
 */
export function runInitOp(
  nodes: readonly NodeDefMsg[],
  initOp: InitOp,
  variables: ReadonlyMap<string, HostTensor>,
  source: string,
): ReadonlyMap<string, HostTensor> {
  const byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  const order = runOrder(byName, initOp.node, source);
  const missing = new Map<string, string>();
  for (const node of order) {
    const type = node.op ?? '';
    const unfed = type === 'Placeholder' && !(`${node.name ?? ''}:0` in initOp.assets);
    if ((!RUNNABLE.has(type) || unfed) && !missing.has(type)) missing.set(type, node.name ?? '');
  }
  if (missing.size > 0) {
    const list = [...missing].map(([type, node]) => `${type} (node '${node}')`).join(', ');
    throw new Unimplemented(
      `${source}: the SavedModel's init op '${initOp.node}' needs ${missing.size} op type${missing.size === 1 ? '' : 's'} that flowserve cannot run at load: ${list}`,
    );
  }
  const values = new Map<string, HostTensor>();
  const assigned = new Map<string, HostTensor>();
  const valueOf = (ref: string, consumer: string): HostTensor => {
    const value = values.get(nodeOf(ref));
    if (!value) throw new InvalidArgument(`${source}: init op node '${consumer}' reads '${ref}', which has no value`);
    return value;
  };
  for (const node of order) {
    const name = node.name as string;
    const type = node.op ?? '';
    const data = (node.input ?? []).filter((r) => !r.startsWith('^'));
    const what = `${source}: init op node '${name}' (${type})`;
    if (type === 'Const') {
      values.set(name, hostTensorOfTf(node.attr?.value?.tensor ?? {}, `${what} attr 'value'`));
    } else if (type === 'Placeholder') {
      values.set(name, HostTensor.from('string', [initOp.assets[`${name}:0`] as string], []));
    } else if (VARIABLES.has(type)) {
      const value = assigned.get(name) ?? checkpointValue(node, variables);
      if (value) values.set(name, value);
    } else if (type === 'Identity' || type === 'Snapshot' || type === 'ReadVariableOp') {
      // A read sees the assignments made before it in this run (the variable's entry, not a snapshot).
      const variable = variableOf(byName, data[0] ?? '');
      const value = variable !== undefined ? assigned.get(variable) : undefined;
      values.set(name, value ?? valueOf(data[0] ?? '', name));
    } else if (type in ASSIGNS) {
      const variable = variableOf(byName, data[0] ?? '');
      if (variable === undefined) throw new InvalidArgument(`${what}: input 0 '${data[0] ?? ''}' is not a variable`);
      const update = valueOf(data[1] ?? '', name);
      const kind = ASSIGNS[type] as 'set' | 'add' | 'sub';
      const next =
        kind === 'set' ? update : combine(assigned.get(variable) ?? valueOf(data[0] ?? '', name), update, kind, what);
      assigned.set(variable, next);
      values.set(name, next);
    }
  }
  if (assigned.size === 0) return variables;
  return new Map([...variables, ...assigned]);
}

/** Every node the init op depends on (data and control edges, as a Session run), inputs first. */
function runOrder(byName: ReadonlyMap<string, NodeDefMsg>, root: string, source: string): NodeDefMsg[] {
  const order: NodeDefMsg[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: { name: string; expanded: boolean }[] = [{ name: root, expanded: false }];
  while (stack.length > 0) {
    const { name, expanded } = stack.pop() as { name: string; expanded: boolean };
    const node = byName.get(name);
    if (!node) throw new InvalidArgument(`${source}: the init op depends on node '${name}', which is not in the graph`);
    if (expanded) {
      state.set(name, 'done');
      order.push(node);
      continue;
    }
    if (state.get(name) === 'done') continue;
    if (state.get(name) === 'visiting') {
      throw new Unimplemented(`${source}: the init op's graph has a cycle through node '${name}'`);
    }
    state.set(name, 'visiting');
    stack.push({ name, expanded: true });
    for (const ref of node.input ?? [])
      if (state.get(nodeOf(ref)) !== 'done') stack.push({ name: nodeOf(ref), expanded: false });
  }
  return order;
}

/** The variable node behind a reference: the variable itself or an Identity chain of it. */
function variableOf(byName: ReadonlyMap<string, NodeDefMsg>, ref: string): string | undefined {
  let name = nodeOf(ref);
  for (let hops = 0; hops <= byName.size; hops++) {
    const node = byName.get(name);
    if (!node) return undefined;
    if (VARIABLES.has(node.op ?? '')) return name;
    const input = node.input?.find((r) => !r.startsWith('^'));
    if (node.op !== 'Identity' || input === undefined) return undefined;
    name = nodeOf(input);
  }
  return undefined;
}

/** A variable node's checkpoint value, by the keys the importer uses (graph-def.ts variableValue). */
function checkpointValue(node: NodeDefMsg, variables: ReadonlyMap<string, HostTensor>): HostTensor | undefined {
  const shared = node.attr?.shared_name?.s ? Buffer.from(node.attr.shared_name.s).toString('utf8') : '';
  for (const base of [node.name ?? '', shared]) {
    if (!base) continue;
    const value = variables.get(base) ?? variables.get(`${base}/.ATTRIBUTES/VARIABLE_VALUE`);
    if (value) return value;
  }
  return undefined;
}

const NUMERIC: ReadonlySet<DType> = new Set<DType>(['float32', 'float64', 'int32', 'int64', 'uint8']);

/** AssignAdd/AssignSub of a value of the variable's dtype and shape. */
function combine(current: HostTensor, update: HostTensor, kind: 'add' | 'sub', what: string): HostTensor {
  if (
    current.dtype !== update.dtype ||
    current.shape.join(',') !== update.shape.join(',') ||
    !NUMERIC.has(current.dtype)
  ) {
    throw new InvalidArgument(
      `${what}: cannot ${kind} a ${update.dtype} [${update.shape.join(',')}] value to a ${current.dtype} [${current.shape.join(',')}] variable`,
    );
  }
  const sign = kind === 'add' ? 1 : -1;
  if (current.dtype === 'int64') {
    const a = current.data as BigInt64Array;
    const b = update.data as BigInt64Array;
    return new HostTensor(
      'int64',
      current.shape,
      BigInt64Array.from(a, (v, i) => v + BigInt(sign) * (b[i] as bigint)),
    );
  }
  const a = current.data as Float64Array;
  const b = update.data as Float64Array;
  const out = new (a.constructor as Float64ArrayConstructor)(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) + sign * (b[i] as number);
  return new HostTensor(current.dtype, current.shape, out);
}
