/**
 * Reads a frozen GraphDef (`.pb`: a serialized tensorflow.GraphDef whose variables were folded into Consts) as an
 * ImportedModel with one predict signature, `serving_default`. The signature is given (`inputs`/`outputs`: TF
 * tensor names such as `x:0`) or inferred: the Placeholder nodes are the inputs, and the nodes nothing consumes
 * (by data or control edge) are the outputs, leaving out NoOps, Placeholders and stray Consts. Each tensor's dtype
 * and shape are read off the graph (graph-tensor-info.ts); an input whose dtype cannot be read is an error naming
 * it. Aliases are the node names (`name` for output 0, `name:1` beyond).
 */
import { InvalidArgument } from '../errors.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { canonicalTensorName, parseTensorRef } from './graph-def.js';
import { GraphTensorInfoReader } from './graph-tensor-info.js';
import type { ImportedModel, ImportedTensorInfo } from './imported-model.js';
import { readProtoFile } from './saved-model.js';
import type { GraphDefMsg, NodeDefMsg } from './tf-messages.js';

export interface FrozenGraphOptions {
  /** TF tensor names fed by requests (default: every Placeholder). */
  inputs?: readonly string[];
  /** TF tensor names returned (default: every node nothing consumes). */
  outputs?: readonly string[];
}

const NOT_OUTPUTS = new Set(['NoOp', 'Placeholder', 'Const']);

export async function readFrozenGraph(path: string, options: FrozenGraphOptions = {}): Promise<ImportedModel> {
  const graphDef = await readProtoFile<GraphDefMsg>(path, 'tensorflow.GraphDef');
  const nodes = graphDef.node ?? [];
  if (nodes.length === 0) throw new InvalidArgument(`${path}: the GraphDef has no nodes`);
  const reader = new GraphTensorInfoReader(nodes);
  const inputs = options.inputs?.length ? options.inputs.map(canonicalTensorName) : inferredInputs(nodes);
  const outputs = options.outputs?.length ? options.outputs.map(canonicalTensorName) : inferredOutputs(nodes);
  if (outputs.length === 0) throw new InvalidArgument(`${path}: no outputs given and none inferred`);
  const describe = (names: readonly string[], role: string): Record<string, ImportedTensorInfo> => {
    const out: Record<string, ImportedTensorInfo> = {};
    for (const name of names) {
      const { node, index } = parseTensorRef(name);
      if (!reader.hasNode(node)) throw new InvalidArgument(`${path}: ${role} '${name}' names no node of the graph`);
      const info = reader.infoOf(name);
      if (!info.dtype) {
        throw new InvalidArgument(`${path}: the dtype of ${role} '${name}' cannot be read off the graph`);
      }
      out[index === 0 ? node : `${node}:${index}`] = { name, dtype: info.dtype, shape: info.shape };
    }
    return out;
  };
  return {
    format: 'frozen_graph',
    source: path,
    tags: [],
    nodes,
    functions: graphDef.library?.function ?? [],
    signatures: {
      serving_default: {
        method: 'tensorflow/serving/predict',
        inputs: describe(inputs, 'input'),
        outputs: describe(outputs, 'output'),
      },
    },
    skippedSignatures: {},
    readVariables: async () => new Map<string, HostTensor>(),
  };
}

function inferredInputs(nodes: readonly NodeDefMsg[]): string[] {
  return nodes.filter((n) => n.op === 'Placeholder').map((n) => `${n.name ?? ''}:0`);
}

function inferredOutputs(nodes: readonly NodeDefMsg[]): string[] {
  const consumed = new Set<string>();
  for (const n of nodes) for (const ref of n.input ?? []) consumed.add(parseTensorRef(ref).node);
  return nodes
    .filter((n) => !consumed.has(n.name ?? '') && !NOT_OUTPUTS.has(n.op ?? ''))
    .map((n) => `${n.name ?? ''}:0`);
}
