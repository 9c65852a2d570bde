import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { METHOD_CLASSIFY, METHOD_PREDICT, METHOD_REGRESS, type ExampleFeatureSpec } from '../serving/core/types.js';

/** A signature over graph tensors, before export turns it into names (docs/servable-format.md). */
export interface GraphSignature {
  method: string;
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  classLabels?: string[];
  exampleFeatures?: Record<string, ExampleFeatureSpec>;
}

/** The per-example shape of a batched tensor ([batch, ...rest] → rest); every dim must be known. */
function exampleShape(t: Tensor): number[] {
  const rest = t.shape.slice(1);
  if (rest.some((d) => d === null)) {
    throw new InvalidArgument(
      `tensor '${t.name}' needs a known shape after the batch dimension to map tf.Example features`,
    );
  }
  return rest as number[];
}

function featureKind(t: Tensor): ExampleFeatureSpec['kind'] {
  if (t.dtype === 'float32' || t.dtype === 'float64') return 'float_list';
  if (t.dtype === 'string') return 'bytes_list';
  return 'int64_list';
}

export interface ClassificationSignatureOptions {
  /** The input tensor ([batch, ...]). */
  input: Tensor;
  /** Scores per class ([batch, classes]). */
  scores: Tensor;
  /** Optional class-label output ([batch, classes], string). */
  classes?: Tensor;
  /** Labels returned as `classes` when there is no classes tensor (default "0".."N-1"). */
  classLabels?: string[];
  /** The tf.Example feature that carries the input (default: the input op's name). */
  exampleFeature?: string;
}

/** A classification signature (the chapter's exporter.classification_signature). */
export function classificationSignature(options: ClassificationSignatureOptions): GraphSignature {
  const { input, scores } = options;
  if (scores.rank !== 2) throw new InvalidArgument(`classification scores '${scores.name}' must be [batch, classes]`);
  const numClasses = scores.shape[1];
  const classLabels =
    options.classLabels ??
    (numClasses !== null && numClasses !== undefined && !options.classes
      ? Array.from({ length: numClasses }, (_, i) => String(i))
      : undefined);
  return {
    method: METHOD_CLASSIFY,
    inputs: { inputs: input },
    outputs: { scores, ...(options.classes ? { classes: options.classes } : {}) },
    ...(classLabels ? { classLabels } : {}),
    exampleFeatures: {
      [options.exampleFeature ?? input.op.name]: {
        input: 'inputs',
        kind: featureKind(input),
        shape: exampleShape(input),
      },
    },
  };
}

/** A predict signature: named inputs and outputs. */
export function predictSignature(options: {
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
}): GraphSignature {
  return { method: METHOD_PREDICT, inputs: { ...options.inputs }, outputs: { ...options.outputs } };
}

/** A regression signature: one input, one `outputs` tensor. */
export function regressionSignature(options: {
  input: Tensor;
  output: Tensor;
  exampleFeature?: string;
}): GraphSignature {
  return {
    method: METHOD_REGRESS,
    inputs: { inputs: options.input },
    outputs: { outputs: options.output },
    exampleFeatures: {
      [options.exampleFeature ?? options.input.op.name]: {
        input: 'inputs',
        kind: featureKind(options.input),
        shape: exampleShape(options.input),
      },
    },
  };
}
