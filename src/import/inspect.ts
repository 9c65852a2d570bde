/**
 * A readable description of a TensorFlow model, as `saved_model_cli show --all` prints one: the tag sets, each
 * signature's inputs and outputs (dtype, shape, tensor name) and method name, then what flowserve adds: which
 * signatures it can serve (and why not), the variables (name, dtype, shape) and every op type used, with the
 * unsupported ones marked and the signatures that need them named.
 *
 * Reading the variables verifies them (CRCs, sizes), so a corrupt model fails here with the reader's error naming
 * the file, as it would at load.
 */
import { dtypeInfo, type DType } from '../graph/dtype.js';
import type { Dim } from '../graph/shape.js';
import { servableSignatures } from './convert.js';
import { canonicalTensorName, neededNodes, parseTensorRef, unsupportedOps } from './graph-def.js';
import { inlineFunctionCalls } from './functions.js';
import type { ImportedModel, ImportedTensorInfo } from './imported-model.js';
import { PARSE_EXAMPLE_OPS } from './parse-example.js';
import { locateModel, type ReadModelOptions } from './model-formats.js';
import { DEFAULT_TAGS, readSavedModelMessage } from './saved-model.js';
import type { NodeDefMsg } from './tf-messages.js';
import { tfDataTypeName } from '../graph/dtype.js';

const INLINED_CALL_OPS = ['StatefulPartitionedCall', 'PartitionedCall'];

export interface ModelDescription {
  text: string;
  model: ImportedModel;
}

export async function inspectModel(path: string, options: ReadModelOptions = {}): Promise<ModelDescription> {
  const located = await locateModel(path);
  const lines: string[] = [`Model: ${located.path} (${located.entry.description})`];
  const tags = options.tags ?? DEFAULT_TAGS;
  if (located.entry.format === 'saved_model') {
    const { savedModel } = await readSavedModelMessage(located.path);
    lines.push('The given SavedModel contains the following tag-sets:');
    for (const graph of savedModel.meta_graphs ?? []) lines.push(quoteTags(graph.meta_info_def?.tags ?? []));
  }
  const model = await located.entry.read(located.path, options);
  if (model.tensorflowVersion) lines.push(`TensorFlow version: ${model.tensorflowVersion}`);
  lines.push('');
  lines.push(...signatureLines(model, located.entry.format === 'saved_model' ? quoteTags(tags) : undefined));
  lines.push('', ...(await variableLines(model)));
  lines.push('', ...opTypeLines(model));
  return { text: lines.join('\n') + '\n', model };
}

/** TensorFlow's DataType enum name (`DT_FLOAT`), as saved_model_cli prints it. */
function dtName(dtype: DType): string {
  return tfDataTypeName(dtypeInfo(dtype).tf);
}

function quoteTags(tags: readonly string[]): string {
  return `'${tags.join(', ')}'`;
}

/** saved_model_cli's spelling: `(-1, 1)`, `()` for a scalar, `unknown_rank`. */
function shapeText(shape: readonly Dim[] | undefined): string {
  if (!shape) return 'unknown_rank';
  return `(${shape.map((d) => (d === null ? '-1' : String(d))).join(', ')})`;
}

function tensorLines(role: 'inputs' | 'outputs', alias: string, info: ImportedTensorInfo): string[] {
  return [
    `    ${role}['${alias}'] tensor_info:`,
    `        dtype: ${dtName(info.dtype)}`,
    `        shape: ${shapeText(info.shape)}`,
    `        name: ${info.name}`,
  ];
}

function signatureLines(model: ImportedModel, tagSet: string | undefined): string[] {
  const { usable, skipped } = servableSignatures(model);
  const servable = new Map(usable.map((u) => [u.key, u]));
  const lines = [
    tagSet
      ? `MetaGraphDef with tag-set: ${tagSet} contains the following SignatureDefs:`
      : 'The model contains the following SignatureDefs:',
  ];
  for (const [key, sig] of Object.entries(model.signatures).sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push('', `signature_def['${key}']:`);
    lines.push('  The given SavedModel SignatureDef contains the following input(s):');
    for (const [alias, info] of Object.entries(sig.inputs)) lines.push(...tensorLines('inputs', alias, info));
    lines.push('  The given SavedModel SignatureDef contains the following output(s):');
    for (const [alias, info] of Object.entries(sig.outputs)) lines.push(...tensorLines('outputs', alias, info));
    lines.push(`  Method name is: ${sig.method}`);
    const entry = servable.get(key);
    lines.push(
      entry
        ? `  flowserve: servable${statefulNote(entry.updates)}`
        : `  flowserve: NOT servable: ${skipped[key] ?? ''}`,
    );
  }
  for (const [key, why] of Object.entries(model.skippedSignatures)) {
    lines.push('', `signature_def['${key}']: NOT servable: ${why}`);
  }
  return lines;
}

/** A stateful signature's mark: its runs change what later runs see (docs/tensorflow-models.md#state). */
function statefulNote(updates: readonly string[] | undefined): string {
  if (!updates?.length) return '';
  return `, stateful: updates variable${updates.length === 1 ? '' : 's'} ${updates.join(', ')} (runs one at a time, never batched)`;
}

async function variableLines(model: ImportedModel): Promise<string[]> {
  const variables = await model.readVariables();
  if (variables.size === 0) return ['Variables: none'];
  const lines = [`Variables (${variables.size}, from ${model.variablesPath ?? model.source}):`];
  for (const [name, tensor] of [...variables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`  ${name}: ${dtName(tensor.dtype)} ${shapeText(tensor.shape)}`);
  }
  return lines;
}

function opTypeLines(model: ImportedModel): string[] {
  const all: NodeDefMsg[] = [...model.nodes, ...model.functions.flatMap((f) => f.node_def ?? [])];
  const counts = new Map<string, number>();
  for (const node of all) counts.set(node.op ?? '', (counts.get(node.op ?? '') ?? 0) + 1);
  const missing = unsupportedOps(all);
  // Function calls are inlined (functions.ts), and tf.Example parsing runs on the host (parse-example.ts): neither is
  // mapped to an op definition.
  for (const call of INLINED_CALL_OPS) missing.delete(call);
  for (const parse of PARSE_EXAMPLE_OPS) missing.delete(parse);
  const neededBy = signaturesNeedingOps(model, new Set(missing.keys()));
  const lines = [
    `Op types (${counts.size}, ${all.length} nodes${model.functions.length ? ` including ${model.functions.length} library functions` : ''}; ${missing.size} unsupported):`,
  ];
  for (const [type, count] of [...counts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let mark = PARSE_EXAMPLE_OPS.has(type) ? '  [tf.Examples parsed on the host]' : '';
    if (missing.has(type)) {
      const sigs = neededBy.get(type);
      mark = `  [unsupported${sigs?.size ? `; needed by ${[...sigs].map((s) => `'${s}'`).join(', ')}` : '; on no signature path'}]`;
    }
    lines.push(`  ${type} ×${count}${mark}`);
  }
  return lines;
}

/** For each unsupported op type, the signatures whose outputs depend on a node of it. */
function signaturesNeedingOps(model: ImportedModel, unsupported: ReadonlySet<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (unsupported.size === 0) return out;
  let nodes: NodeDefMsg[];
  try {
    nodes = inlineFunctionCalls(model.nodes, model.functions, model.source);
  } catch {
    return out;
  }
  for (const [key, sig] of Object.entries(model.signatures)) {
    const fed = new Set(Object.values(sig.inputs).map((i) => parseTensorRef(canonicalTensorName(i.name)).node));
    let needed: NodeDefMsg[];
    try {
      needed = neededNodes(
        nodes,
        Object.values(sig.outputs).map((o) => o.name),
        fed,
        model.source,
      );
    } catch {
      continue;
    }
    for (const node of needed) {
      if (fed.has(node.name ?? '') || !unsupported.has(node.op ?? '')) continue;
      const set = out.get(node.op ?? '') ?? new Set<string>();
      set.add(key);
      out.set(node.op ?? '', set);
    }
  }
  return out;
}
