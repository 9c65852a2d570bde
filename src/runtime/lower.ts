import { InvalidArgument } from '../errors.js';
import type { Operation, Tensor } from '../graph/graph.js';
import { OnnxGraphBuilder } from '../onnx/builder.js';
import type { Partition } from './partition.js';
import { isRefOnlyInput } from './prune.js';

/** Where a partition input comes from at run time. */
export type InputSource =
  { kind: 'feed'; tensor: Tensor } | { kind: 'variable'; variable: Operation } | { kind: 'step'; tensor: Tensor };

export interface LoweredPartition {
  partition: Partition;
  model: Uint8Array;
  inputs: { name: string; source: InputSource }[];
  /** ONNX output name → the tensor it carries. */
  outputs: { name: string; tensor: Tensor }[];
}

/**
 * Lowers one partition to an ONNX model. Inputs are the fed tensors it reads, the variables it reads (from the
 * session's store) and tensors made by earlier partitions; outputs are what later partitions, the caller, or
 * the variable store need.
 */
export interface LowerOptions {
  /** ONNX name for a fed tensor (default `feed/<tensor name>`). */
  feedName?: (t: Tensor) => string;
  /** ONNX name for an output (default the tensor name); a different name adds an Identity. */
  outputName?: (t: Tensor) => string;
  /**
   * Supplies a variable's value inside the model instead of as an input (export freezes variables this way):
   * must add an initializer called `name`.
   */
  freezeVariable?: (variable: Operation, name: string, b: OnnxGraphBuilder) => void;
  /** metadata_props of the model. */
  metadata?: Record<string, string>;
  /**
   * false: fed inputs and outputs are declared without a shape, so ONNX Runtime accepts any shape (imported
   * TensorFlow graphs, whose signature shapes TF Serving does not enforce). Default true.
   */
  declareShapes?: boolean;
  /**
   * Keep activations NCHW between convolutions instead of transposing to and from TensorFlow's NHWC around each
   * one (onnx/channels-first.ts). Same results; default false.
   */
  channelsFirst?: boolean;
}

export function lowerPartition(
  partition: Partition,
  fed: ReadonlySet<Tensor>,
  needOutside: (t: Tensor) => boolean,
  options: LowerOptions = {},
): LoweredPartition {
  const b = new OnnxGraphBuilder(`partition_${partition.stage}_${partition.device.type}_${partition.device.index}`);
  const inPartition = new Set(partition.ops);
  const names = new Map<Tensor, string>();
  const inputs: LoweredPartition['inputs'] = [];
  const outputs: LoweredPartition['outputs'] = [];
  const declareShapes = options.declareShapes ?? true;

  const nameOf = (t: Tensor): string => {
    const known = names.get(t);
    if (known) return known;
    if (fed.has(t)) {
      const name = options.feedName ? options.feedName(t) : `feed/${t.name}`;
      b.input({ name, dtype: t.dtype, shape: declareShapes ? t.shape : undefined });
      inputs.push({ name, source: { kind: 'feed', tensor: t } });
      names.set(t, name);
      return name;
    }
    if (!inPartition.has(t.op)) {
      const name = `recv/${t.name}`;
      b.input({ name, dtype: t.dtype, shape: t.shape });
      inputs.push({ name, source: { kind: 'step', tensor: t } });
      names.set(t, name);
      return name;
    }
    throw new InvalidArgument(`internal: tensor '${t.name}' used before it is computed in its partition`);
  };

  for (const op of partition.ops) {
    if (op.def.noOp) continue;
    for (const t of op.outputs) {
      if (fed.has(t)) continue;
      names.set(t, t.name);
    }
    let inputNames: string[];
    if (op.def.variableSource) {
      const name = `var/${op.name}`;
      if (options.freezeVariable) options.freezeVariable(op, name, b);
      else {
        b.input({ name, dtype: op.output.dtype, shape: op.output.shape });
        inputs.push({ name, source: { kind: 'variable', variable: op } });
      }
      inputNames = [name];
    } else {
      inputNames = op.inputs.map((t, i) => (isRefOnlyInput(op, i) ? '' : nameOf(t)));
    }
    // Outputs that are fed are computed under a private name so the feed wins.
    const outputNames = op.outputs.map((t) => (fed.has(t) ? b.temp('shadowed') : t.name));
    op.def.lower({
      op,
      attrs: op.attrs,
      inputs: inputNames,
      outputs: outputNames,
      b,
      deviceType: partition.device.type,
    });
    for (const t of op.outputs) {
      if (!fed.has(t) && needOutside(t)) {
        const name = options.outputName ? options.outputName(t) : t.name;
        if (name !== t.name) b.op('Identity', [t.name], {}, name);
        b.output({ name, dtype: t.dtype, shape: declareShapes ? t.shape : undefined });
        outputs.push({ name, tensor: t });
      }
    }
  }
  return {
    partition,
    model: b.build(
      { 'flowserve.device': partition.device.name, ...options.metadata },
      { channelsFirst: options.channelsFirst ?? false },
    ),
    inputs,
    outputs,
  };
}
