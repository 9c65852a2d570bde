/**
 * TF2 graphs call into their FunctionDefLibrary through StatefulPartitionedCall / PartitionedCall. flowserve
 * imports a flat graph, so each call is inlined: the body's nodes are copied under `<call node>/`, the function's
 * arguments become the call's inputs (captured variable handles included), body references
 * `node:output_arg:index` become `node:index`, and the call's outputs become Identity nodes (`<call>` for output
 * 0, `<call>/output_<i>` for the others, with every reference to `<call>:<i>` redirected there), ordered after the
 * function's control_ret nodes.
 */
import { InvalidArgument, Unimplemented } from '../errors.js';
import type { FunctionDefMsg, NodeDefMsg } from './tf-messages.js';

const CALL_OPS = new Set(['StatefulPartitionedCall', 'PartitionedCall']);
/** Bounds nesting (a function calling itself would otherwise never end). */
const MAX_INLINE_DEPTH = 32;

export function inlineFunctionCalls(
  nodes: readonly NodeDefMsg[],
  functions: readonly FunctionDefMsg[],
  source: string,
): NodeDefMsg[] {
  if (!nodes.some((n) => CALL_OPS.has(n.op ?? ''))) return [...nodes];
  const library = new Map(functions.map((f) => [f.signature?.name ?? '', f]));
  let current = [...nodes];
  for (let depth = 0; depth < MAX_INLINE_DEPTH; depth++) {
    if (!current.some((n) => CALL_OPS.has(n.op ?? ''))) return current;
    const redirect = new Map<string, string>();
    const next: NodeDefMsg[] = [];
    for (const node of current) {
      if (!CALL_OPS.has(node.op ?? '')) {
        next.push(node);
        continue;
      }
      next.push(...inlineCall(node, library, redirect, source));
    }
    current = next.map((n) => ({ ...n, input: (n.input ?? []).map((ref) => redirect.get(ref) ?? ref) }));
  }
  throw new Unimplemented(
    `${source}: function calls nest deeper than ${MAX_INLINE_DEPTH} (recursion is not supported)`,
  );
}

function inlineCall(
  call: NodeDefMsg,
  library: ReadonlyMap<string, FunctionDefMsg>,
  redirect: Map<string, string>,
  source: string,
): NodeDefMsg[] {
  const callName = call.name as string;
  const fname = call.attr?.f?.func?.name ?? '';
  const fn = library.get(fname);
  if (!fn)
    throw new InvalidArgument(`${source}: node '${callName}' calls function '${fname}', which is not in the library`);
  const prefix = `${callName}/`;
  const args = new Map<string, string>();
  const dataInputs = (call.input ?? []).filter((r) => !r.startsWith('^'));
  const controlInputs = (call.input ?? []).filter((r) => r.startsWith('^'));
  (fn.signature?.input_arg ?? []).forEach((arg, i) => {
    const outer = dataInputs[i];
    if (outer === undefined)
      throw new InvalidArgument(
        `${source}: node '${callName}' passes no value for argument '${arg.name}' of '${fname}'`,
      );
    args.set(arg.name ?? '', outer);
  });
  const rewrite = (ref: string): string => {
    if (ref.startsWith('^')) return `^${prefix}${ref.slice(1)}`;
    const parts = ref.split(':');
    if (parts.length === 1) {
      const outer = args.get(ref);
      if (outer !== undefined) return outer;
      return `${prefix}${ref}`;
    }
    // node:output_arg:index. The output arg is the op's first for every op the importer maps with several
    // outputs in one list; a later output arg would need the op's OpDef, so it is refused by name.
    if (parts.length === 3) return `${prefix}${parts[0]}:${parts[2]}`;
    return `${prefix}${ref}`;
  };
  const body: NodeDefMsg[] = (fn.node_def ?? []).map((n) => ({
    ...n,
    name: `${prefix}${n.name}`,
    input: [...(n.input ?? []).map(rewrite), ...controlInputs],
    ...(n.device || !call.device ? {} : { device: call.device }),
  }));
  // control_ret: the stateful ops a call runs even when no output depends on them (a variable update, say); the
  // outputs are ordered after them, so fetching an output runs them as TF's call would.
  const mustRun = Object.values(fn.control_ret ?? {}).map((node) => `^${prefix}${node}`);
  const outputs = (fn.signature?.output_arg ?? []).map((arg, i) => {
    const ret = fn.ret?.[arg.name ?? ''];
    if (ret === undefined)
      throw new InvalidArgument(`${source}: function '${fname}' returns nothing for output '${arg.name}'`);
    const name = i === 0 ? callName : `${prefix}output_${i}`;
    if (i > 0) redirect.set(`${callName}:${i}`, name);
    return { name, op: 'Identity', input: [rewrite(ret), ...mustRun], attr: {} } satisfies NodeDefMsg;
  });
  return [...body, ...outputs];
}
