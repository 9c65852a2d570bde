/**
 * GET /api/dashboard/models/NAME/versions/V/placement: the graph a loaded version runs, each op with its device —
 * the chapter's log_device_placement for a served model. The graph is the ONNX graph the worker loaded (an
 * exported flowserve model's inference graph, or the graph an imported TensorFlow model was converted into),
 * summarised once at load (src/serving/core/graph-summary.ts).
 *
 * A served version runs whole on its one device (the model's `device`: ONNX Runtime's CPU EP, or the WebGPU EP),
 * so it is one partition with no transfers; ONNX Runtime does not report which nodes it may hand to its CPU EP
 * inside a WebGPU session. The shape still carries partitions and transfers, which are what a multi-device graph
 * (a training Session's placement) has.
 */
import { NotFound } from '../../errors.js';
import { localDeviceName } from '../../devices/names.js';
import type { ServingCoreImpl } from '../core/serving-core.js';
import type { DashboardModelFormat, DashboardPlacement, DashboardPlacementOp } from './api-types.js';

/** "1", "2", … as a version number; anything else is NOT_FOUND (the path names no version). */
export function parseVersionParam(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw new NotFound(`version '${text}' is not a version number`);
  return Number(text);
}

export async function placementView(
  core: ServingCoreImpl,
  name: string,
  versionText: string,
  maxOps: number,
): Promise<DashboardPlacement> {
  const version = parseVersionParam(versionText);
  // The same resolution as any request for this version (NOT_FOUND naming it when it is not loaded).
  const description = core.describe({ name, version });
  const graph = await description.graph?.();
  if (!graph) throw new NotFound(`model '${name}' version ${version} does not describe its graph`);
  if (graph.unavailable) throw new NotFound(`the graph of model '${name}' version ${version}: ${graph.unavailable}`);
  const device = localDeviceName(description.device === 'gpu' ? 'GPU' : 'CPU', 0);
  const listed = graph.nodes.slice(0, maxOps);
  const ops: DashboardPlacementOp[] = listed.map((node) => ({
    name: node.name,
    type: node.type,
    device,
    partition: 0,
    inputs: node.inputs,
    outputs: node.outputs,
  }));
  return {
    model: name,
    version,
    graph: 'onnx',
    format: (description.format ?? 'onnx') as DashboardModelFormat,
    devices: [device],
    partitions: [{ index: 0, device, ops: graph.totalNodes }],
    transfers: [],
    inputs: graph.inputs,
    outputs: graph.outputs,
    initializers: graph.initializers,
    totalOps: graph.totalNodes,
    ops,
    maxOps,
    truncated: graph.totalNodes > ops.length,
    log: ops.map((op) => `${op.name}: (${op.type}): ${op.device}`),
  };
}
