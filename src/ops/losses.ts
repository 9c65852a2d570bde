import { InvalidArgument } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { defineOp } from '../graph/op-def.js';
import { dimsCompatible, formatShape } from '../graph/shape.js';
import { expandDims } from './array.js';
import { graphOf, toTensor, type TensorLike } from './convert.js';
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { CPU_AND_GPU, GPU_F32, gpuKernel, staticShapes } from './kernels.js';
import { checkDType, emitLogSoftmax, FLOAT_DTYPES, logSoftmax, mul, neg, softmax, sub } from './math.js';

function classesAxisGrad(g: Tensor): Tensor {
  // dY has the logits' shape without the class axis: put the axis back; the Mul that uses it broadcasts it over the
  // classes, with the same products as a broadcast copy of dY (one Unsqueeze where Shape + Expand were three nodes).
  return expandDims(g, -1);
}

/**
 * SoftmaxCrossEntropyWithLogits(labels, logits): −Σ labels·log_softmax(logits) over the last axis, one loss per
 * example. Gradients: logits (softmax − labels)·dY, labels −log_softmax(logits)·dY.
 */
export const SoftmaxCrossEntropyWithLogits = defineOp({
  type: 'SoftmaxCrossEntropyWithLogits',
  infer: ([labels, logits], _attrs, opName) => {
    const [y, z] = [labels as Tensor, logits as Tensor];
    checkDType(opName, 'SoftmaxCrossEntropyWithLogits', z, FLOAT_DTYPES);
    if (y.dtype !== z.dtype) {
      throw new InvalidArgument(
        `Operation '${opName}': labels and logits must have the same dtype, got ${y.dtype} and ${z.dtype}`,
      );
    }
    if (z.rank < 1 || y.rank !== z.rank || !y.shape.every((d, i) => dimsCompatible(d, z.shape[i] ?? null))) {
      throw new InvalidArgument(
        `Operation '${opName}' (SoftmaxCrossEntropyWithLogits): labels and logits must have the same shape, got ${formatShape(y.shape)} and ${formatShape(z.shape)}`,
      );
    }
    return [{ dtype: z.dtype, shape: z.shape.slice(0, -1) }];
  },
  lower: ({ b, inputs, outputs }) => {
    const ls = emitLogSoftmax(b, inputs[1] as string);
    const picked = b.op('ReduceSum', [b.op('Mul', [inputs[0] as string, ls]), b.int64s([-1])], { keepdims: 0 });
    b.op('Neg', [picked], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [labels, logits] = op.inputs as [Tensor, Tensor];
    const dy = classesAxisGrad(g);
    return [mul(neg(logSoftmax(logits)), dy), mul(sub(softmax(logits), labels), dy)];
  },
  kernels: CPU_AND_GPU,
  kernelConstraints: GPU_F32,
});

export interface CrossEntropyArgs {
  labels: TensorLike;
  logits: TensorLike;
  name?: string;
}

/** Per-example softmax cross-entropy over the last axis (tf.nn.softmax_cross_entropy_with_logits). */
export function softmaxCrossEntropyWithLogits({ labels, logits, name }: CrossEntropyArgs): Tensor {
  const graph = graphOf(logits, labels);
  const z = toTensor(logits, graph);
  const y = toTensor(labels, graph, z.dtype);
  return graph.addOp({
    def: SoftmaxCrossEntropyWithLogits,
    inputs: [y, z],
    name: name ?? 'SoftmaxCrossEntropyWithLogits',
  }).output;
}

function checkSparse(opName: string, labels: Tensor, logits: Tensor): void {
  checkDType(opName, 'SparseSoftmaxCrossEntropyWithLogits', logits, FLOAT_DTYPES);
  checkDType(opName, 'SparseSoftmaxCrossEntropyWithLogits', labels, ['int32', 'int64']);
  if (
    logits.rank < 1 ||
    labels.rank !== logits.rank - 1 ||
    !labels.shape.every((d, i) => dimsCompatible(d, logits.shape[i] ?? null))
  ) {
    throw new InvalidArgument(
      `Operation '${opName}' (SparseSoftmaxCrossEntropyWithLogits): labels must have the shape of logits without the last dimension, got labels ${formatShape(labels.shape)} and logits ${formatShape(logits.shape)}`,
    );
  }
}

/** Labels with a trailing axis, [..., 1], in their own integer type (GatherElements takes int32 or int64). */
function labelIndices(b: OnnxGraphBuilder, name: string): string {
  return b.op('Unsqueeze', [name, b.int64s([-1])]);
}

/**
 * SparseSoftmaxCrossEntropyWithLogits(labels, logits): −log_softmax(logits)[label] per example; lowered as
 * LogSoftmax + GatherElements. Labels (int) get no gradient.
 */
export const SparseSoftmaxCrossEntropyWithLogits = defineOp({
  type: 'SparseSoftmaxCrossEntropyWithLogits',
  infer: ([labels, logits], _attrs, opName) => {
    const [y, z] = [labels as Tensor, logits as Tensor];
    checkSparse(opName, y, z);
    return [{ dtype: z.dtype, shape: z.shape.slice(0, -1) }];
  },
  lower: ({ b, inputs, outputs }) => {
    const ls = emitLogSoftmax(b, inputs[1] as string);
    const idx = labelIndices(b, inputs[0] as string);
    const picked = b.op('GatherElements', [ls, idx], { axis: -1 });
    b.op('Neg', [b.op('Squeeze', [picked, b.int64s([-1])])], {}, outputs[0]);
  },
  grad: ({ op, grads: [g] }) => {
    if (!g) return [null, null];
    const [labels, logits] = op.inputs as [Tensor, Tensor];
    const diff = logits.graph.addOp({
      def: SparseSoftmaxMinusOneHot,
      inputs: [labels, logits],
      name: 'SoftmaxMinusOneHot',
    }).output;
    return [null, mul(diff, classesAxisGrad(g))];
  },
  typeAttrs: (op) => ({ T: op.output.dtype, Tlabels: (op.inputs[0] as Tensor).dtype }),
  kernels: CPU_AND_GPU,
  kernelConstraints: gpuKernel({ T: ['float32'], Tlabels: ['int32'] }),
});

/** softmax(logits) − one_hot(labels): the sparse cross-entropy's logits gradient before scaling by dY. */
const SparseSoftmaxMinusOneHot = defineOp({
  type: 'SparseSoftmaxMinusOneHot',
  infer: ([labels, logits], _attrs, opName) => {
    checkSparse(opName, labels as Tensor, logits as Tensor);
    return [{ dtype: (logits as Tensor).dtype, shape: (logits as Tensor).shape }];
  },
  lower: ({ b, op, inputs, outputs }) => {
    const logits = op.inputs[1] as Tensor;
    const idx = labelIndices(b, inputs[0] as string);
    // one_hot = Cast(Equal(Range(0, classes), labels[..., None])): no OneHot kernel dtype limits.
    const labelType = (op.inputs[0] as Tensor).dtype;
    const classes64 = b.op('Squeeze', [
      b.op('Slice', [b.op('Shape', [inputs[1] as string]), b.int64s([-1]), b.int64s([logits.rank])]),
      b.int64s([0]),
    ]);
    const classes = labelType === 'int64' ? classes64 : b.op('Cast', [classes64], { to: 6 });
    const range = b.op('Range', [b.scalar(0, labelType), classes, b.scalar(1, labelType)]);
    const oneHot = b.op('Cast', [b.op('Equal', [range, idx])], { to: logits.dtype === 'float64' ? 11 : 1 });
    b.op('Sub', [b.op('Softmax', [inputs[1] as string], { axis: -1 }), oneHot], {}, outputs[0]);
  },
  notDifferentiable: true,
  typeAttrs: (op) => ({ T: op.output.dtype, Tlabels: (op.inputs[0] as Tensor).dtype }),
  kernels: CPU_AND_GPU,
  // int64 labels, or the class count read from an unknown logits shape, need int64 ops the WebGPU EP lacks.
  kernelConstraints: gpuKernel({ T: ['float32'], Tlabels: ['int32'] }, staticShapes([1], 'a static logits shape')),
});

/** Per-example cross-entropy with integer class labels (tf.nn.sparse_softmax_cross_entropy_with_logits). */
export function sparseSoftmaxCrossEntropyWithLogits({ labels, logits, name }: CrossEntropyArgs): Tensor {
  const graph = graphOf(logits, labels);
  const z = toTensor(logits, graph);
  const y = toTensor(labels, graph, 'int32');
  return graph.addOp({
    def: SparseSoftmaxCrossEntropyWithLogits,
    inputs: [y, z],
    name: name ?? 'SparseSoftmaxCrossEntropyWithLogits',
  }).output;
}
