/**
 * What a served version's graph is, kept beside the loaded model for the dashboard's placement view: the ONNX
 * graph the worker runs (for an imported TensorFlow model, the graph it was converted into), as a list of nodes
 * with their types and tensors. Read on first use (a dashboard's placement request), not at load, from the file the
 * worker loaded: protobufjs decodes `bytes` fields (weights) as views, so a large model costs its file read, not a
 * copy.
 *
 * Bounded: a model file over MAX_GRAPH_FILE_BYTES is not read (the summary says so), and at most MAX_SUMMARY_OPS
 * nodes are kept (the count of all is kept too).
 */
import { readFile, stat } from 'node:fs/promises';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const MAX_GRAPH_FILE_BYTES = 512 * 1024 * 1024;
export const MAX_SUMMARY_OPS = 10_000;

export interface GraphNodeSummary {
  name: string;
  type: string;
  inputs: string[];
  outputs: string[];
}

export interface GraphSummary {
  /** The first nodes in graph order (ONNX graphs are topologically sorted), at most MAX_SUMMARY_OPS. */
  nodes: GraphNodeSummary[];
  totalNodes: number;
  inputs: string[];
  outputs: string[];
  initializers: number;
  /** Set when the graph could not be summarised (too large, unreadable): why. */
  unavailable?: string;
}

/** A version's graph summary, read on first call and kept; never rejects. */
export type GraphSummarySource = () => Promise<GraphSummary>;

/** The summary of the ONNX model at `path`, read once when first asked for (servers without a dashboard never do). */
export function lazyGraphSummary(path: string): GraphSummarySource {
  let summary: Promise<GraphSummary> | undefined;
  return () => (summary ??= summariseOnnxGraph(path));
}

/** Summarises the ONNX model at `path`; never throws (a failure is the summary's `unavailable`). */
export async function summariseOnnxGraph(path: string, maxFileBytes = MAX_GRAPH_FILE_BYTES): Promise<GraphSummary> {
  const empty = (why: string): GraphSummary => ({
    nodes: [],
    totalNodes: 0,
    inputs: [],
    outputs: [],
    initializers: 0,
    unavailable: why,
  });
  try {
    const size = (await stat(path)).size;
    if (size > maxFileBytes)
      return empty(`the model file is ${size} bytes, over the ${maxFileBytes} read for this view`);
    const graph = onnx.ModelProto.decode(await readFile(path)).graph;
    const allNodes = graph?.node ?? [];
    const initializerNames = new Set((graph?.initializer ?? []).map((t) => t.name ?? ''));
    return {
      nodes: allNodes.slice(0, MAX_SUMMARY_OPS).map((node, i) => ({
        name: node.name || `${node.opType ?? 'node'}_${i}`,
        type: node.domain ? `${node.domain}.${node.opType ?? ''}` : (node.opType ?? ''),
        inputs: [...(node.input ?? [])],
        outputs: [...(node.output ?? [])],
      })),
      totalNodes: allNodes.length,
      // Initializers may also be listed as graph inputs (IR < 4 style); they are weights, not feeds.
      inputs: (graph?.input ?? []).map((v) => v.name ?? '').filter((name) => !initializerNames.has(name)),
      outputs: (graph?.output ?? []).map((v) => v.name ?? ''),
      initializers: initializerNames.size,
    };
  } catch (err) {
    return empty(`the model file could not be read: ${(err as Error).message}`);
  }
}
