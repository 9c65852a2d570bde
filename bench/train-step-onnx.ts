/**
 * Writes the ONNX model(s) of one MNIST training step as a Session lowers them on the CPU, so that
 * `npm run profile:onnx -- FILE --batch 100` can show where a step's time goes (docs/performance.md#training).
 *
 * Usage: node dist/bench/train-step-onnx.js MODEL OUT_DIR [--optimizer sgd|momentum|adam]
 * MODEL is softmax, mlp or cnn; the optimizer defaults to the one bench:train uses (sgd for softmax, adam otherwise).
 * Writes OUT_DIR/<MODEL>-step-<stage>.onnx, one file per partition (one on a single CPU device).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Graph, withGraph, type Tensor } from '../src/graph/graph.js';
import { lowerPartition } from '../src/runtime/lower.js';
import { partition } from '../src/runtime/partition.js';
import { prune } from '../src/runtime/prune.js';
import { Session } from '../src/runtime/session.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../src/train/models.js';
import {
  AdamOptimizer,
  getOrCreateGlobalStep,
  GradientDescentOptimizer,
  MomentumOptimizer,
} from '../src/train/optimizers.js';

const [name, outDir] = process.argv.slice(2) as [ModelName, string];
if (!MODEL_NAMES.includes(name) || !outDir) {
  throw new Error('usage: train-step-onnx MODEL OUT_DIR [--optimizer sgd|momentum|adam]');
}
const i = process.argv.indexOf('--optimizer');
const optimizerName = i > 0 ? process.argv[i + 1] : name === 'softmax' ? 'sgd' : 'adam';

const graph = new Graph();
const { model, trainOp } = withGraph(graph, () => {
  const model = buildModel(name, { seed: 1, graph });
  const optimizer =
    optimizerName === 'sgd'
      ? new GradientDescentOptimizer(0.5)
      : optimizerName === 'momentum'
        ? new MomentumOptimizer(0.01, 0.9)
        : new AdamOptimizer(1e-3);
  const trainOp = optimizer.minimize(model.loss, {
    varList: model.variables,
    globalStep: getOrCreateGlobalStep(graph),
  });
  return { model, trainOp };
});
// The same pruning, placement, partitioning and lowering as Session.run([loss, accuracy], feeds, [trainOp]).
const session = new Session(graph, { deviceCount: { GPU: 0 } });
const placement = session.placement();
const fed = new Set<Tensor>([model.x, model.labels]);
const fetches = new Set<Tensor>([model.loss, model.accuracy]);
const ops = prune([...fetches], [trainOp], fed);
const { partitions } = partition(ops, (op) => placement.get(op) as NonNullable<ReturnType<typeof placement.get>>, fed);
const partitionOf = new Map(partitions.flatMap((p) => p.ops.map((op) => [op, p] as const)));
await mkdir(outDir, { recursive: true });
for (const p of partitions) {
  const needOutside = (t: Tensor) =>
    fetches.has(t) ||
    t.op.def.variableUpdate !== undefined ||
    ops.some((op) => op.inputs.includes(t) && partitionOf.get(op) !== p);
  const lowered = lowerPartition(p, fed, needOutside);
  const file = join(outDir, `${name}-step-${p.stage}.onnx`);
  await writeFile(file, lowered.model);
  console.log(
    `${file}: ${p.device.name}, ${p.ops.length} ops, ${lowered.inputs.length} inputs, ${lowered.outputs.length} outputs`,
  );
}
await session.close();
