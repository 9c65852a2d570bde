import type { Device } from '../devices/device.js';
import type { Operation, Tensor } from '../graph/graph.js';
import { dataInputs } from './prune.js';

/** One device's share of a step: ops that run together as one ONNX model. */
export interface Partition {
  device: Device;
  /** Execution stage: partitions run in stage order; a stage never depends on a later one. */
  stage: number;
  ops: Operation[];
}

/** A tensor crossing from one partition to another (TensorFlow's _Send/_Recv pair). */
export interface Transfer {
  tensor: Tensor;
  from: Device;
  to: Device;
}

/**
 * Groups placed ops into partitions. A device's ops are split into stages so that partitions form a DAG even
 * when data goes CPU:0 → CPU:1 → CPU:0: an op's stage is the largest stage of its producers, plus one when a
 * producer is on another device. Edges only go to the same or a later stage, and same-stage edges stay on one
 * device, so running partitions by stage respects every dependency.
 */
export function partition(
  ops: readonly Operation[],
  deviceOf: (op: Operation) => Device,
  fed: ReadonlySet<Tensor>,
): { partitions: Partition[]; transfers: Transfer[] } {
  const stageOf = new Map<Operation, number>();
  const inSet = new Set(ops);
  for (const op of ops) {
    let stage = 0;
    const device = deviceOf(op);
    for (const p of producersOf(op, fed)) {
      if (!inSet.has(p)) continue;
      const ps = stageOf.get(p) ?? 0;
      stage = Math.max(stage, deviceOf(p) === device ? ps : ps + 1);
    }
    stageOf.set(op, stage);
  }
  sinkSources(ops, inSet, stageOf, deviceOf, fed);
  const byKey = new Map<string, Partition>();
  for (const op of ops) {
    const device = deviceOf(op);
    const stage = stageOf.get(op) as number;
    const key = `${stage}|${device.name}`;
    let p = byKey.get(key);
    if (!p) byKey.set(key, (p = { device, stage, ops: [] }));
    p.ops.push(op);
  }
  const partitions = [...byKey.values()].sort(
    (a, b) => a.stage - b.stage || a.device.name.localeCompare(b.device.name),
  );
  const transfers: Transfer[] = [];
  const seen = new Set<string>();
  for (const op of ops) {
    for (const t of dataInputs(op)) {
      if (fed.has(t) || !inSet.has(t.op)) continue;
      const from = deviceOf(t.op);
      const to = deviceOf(op);
      const key = `${t.name}|${to.name}`;
      if (from !== to && !seen.has(key)) {
        seen.add(key);
        transfers.push({ tensor: t, from, to });
      }
    }
  }
  return { partitions, transfers };
}

/** The ops `op` waits for: producers of its data inputs (fed tensors excepted) and its control inputs. */
function producersOf(op: Operation, fed: ReadonlySet<Tensor>): Operation[] {
  return [
    ...dataInputs(op)
      .filter((t) => !fed.has(t))
      .map((t) => t.op),
    ...op.controlInputs,
  ];
}

/**
 * Moves each source op (no inputs: a constant, a variable read) to the latest stage its consumers allow, so that
 * a constant on GPU:0 used only after a CPU step joins that later GPU partition instead of making a partition (one
 * more ONNX model and a tensor passed along) of its own at stage 0.
 */
function sinkSources(
  ops: readonly Operation[],
  inSet: ReadonlySet<Operation>,
  stageOf: Map<Operation, number>,
  deviceOf: (op: Operation) => Device,
  fed: ReadonlySet<Tensor>,
): void {
  const consumers = new Map<Operation, Operation[]>();
  for (const op of ops) {
    for (const p of producersOf(op, fed)) {
      if (!inSet.has(p)) continue;
      const list = consumers.get(p) ?? [];
      list.push(op);
      consumers.set(p, list);
    }
  }
  for (const op of ops) {
    if (op.inputs.length > 0 || op.controlInputs.length > 0) continue;
    const users = consumers.get(op);
    if (!users) continue;
    const device = deviceOf(op);
    const latest = Math.min(...users.map((c) => (stageOf.get(c) as number) - (deviceOf(c) === device ? 0 : 1)));
    if (latest > (stageOf.get(op) as number)) stageOf.set(op, latest);
  }
}
