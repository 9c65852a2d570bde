/**
 * Removes the copy an Identity makes when it only renames a computed value into a graph output.
 *
 * A variable's new value is lowered as `Identity(new) → <assign>:0` (Assign names its output), and the partition
 * outputs it while later ops of the step read it too (Adam's `m_update` and `v_update`). ONNX Runtime keeps an
 * Identity whose output is a graph output, so every step copied each of those tensors once more (for the CNN's
 * 3136×1024 weight: 2 × 12.8 MB per step, docs/performance.md#training). Here the producer writes the output name
 * directly and the Identity's readers read that name: same values, no copy.
 *
 * Only an Identity whose input is made by a node of this graph (not a graph input or an initializer), is not itself
 * a graph output, and feeds no other Identity-to-output is folded; its input then gets the output's name.
 */
import type onnxProto from 'onnx-proto';

type GraphProto = InstanceType<typeof onnxProto.onnx.GraphProto>;

export function foldOutputIdentities(graph: GraphProto): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name as string));
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const renamedTo = new Map<string, string>();
  const dropped = new Set<onnxProto.onnx.INodeProto>();
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Identity' || (n.domain ?? '') !== '' || n.input?.length !== 1 || n.output?.length !== 1) continue;
    const [from, to] = [n.input[0] as string, n.output[0] as string];
    if (!outputs.has(to) || outputs.has(from) || renamedTo.has(from) || !producer.has(from)) continue;
    renamedTo.set(from, to);
    dropped.add(n);
  }
  if (renamedTo.size === 0) return;
  graph.node = (graph.node ?? []).filter((n) => !dropped.has(n));
  for (const n of graph.node) {
    n.input = (n.input ?? []).map((name) => renamedTo.get(name) ?? name);
    n.output = (n.output ?? []).map((name) => renamedTo.get(name) ?? name);
  }
  // value_info entries of renamed values would now describe a name nothing produces.
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !renamedTo.has(v.name as string));
}
