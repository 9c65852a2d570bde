/**
 * MNIST models as graph builders: the chapter's softmax regression, a 784-256-128-10 MLP and the small CNN of
 * TensorFlow's "Deep MNIST for experts". Every builder names the input placeholder `x` ([?, 784] float32 pixels
 * in [0, 1]), the one-hot labels `y_` ([?, 10] float32) and the class scores `y` (softmax), as the chapter does.
 */
import { InvalidArgument } from '../errors.js';
import { getDefaultGraph, withGraph, type Graph, type Tensor } from '../graph/graph.js';
import { cast, reshape } from '../ops/array.js';
import { add, equal, matmul, relu, softmax } from '../ops/math.js';
import { biasAdd, conv2d, maxPool } from '../ops/nn.js';
import { softmaxCrossEntropyWithLogits } from '../ops/losses.js';
import { argMax, reduceMean } from '../ops/reduce.js';
import { placeholder } from '../ops/source.js';
import type { Variable } from '../ops/variables.js';
import { constant, getVariable, glorotUniform, truncatedNormal, zeros } from './initializers.js';

export const MODEL_NAMES = ['softmax', 'mlp', 'cnn'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface MnistModel {
  name: ModelName;
  /** Input images, `x:0`, [?, 784] float32. */
  x: Tensor;
  /** One-hot labels, `y_:0`, [?, 10] float32. */
  labels: Tensor;
  /** Unnormalised class scores, [?, 10]. */
  logits: Tensor;
  /** softmax(logits), `y:0`: what the exported signatures serve. */
  scores: Tensor;
  /** Mean softmax cross-entropy over the batch (scalar). */
  loss: Tensor;
  /** Fraction of the batch whose argmax matches the label (scalar float32). */
  accuracy: Tensor;
  /** The model's trainable variables. */
  variables: Variable[];
}

export interface ModelOptions {
  /** Seed of the weight initializers (each variable draws from seed + its index). Default 0. */
  seed?: number;
  /** Default: the default graph. */
  graph?: Graph;
}

const PIXELS = 784;
const CLASSES = 10;

/** Placeholders, then `body(x)` → logits, then the shared head (scores `y`, loss, accuracy). */
function build(
  name: ModelName,
  options: ModelOptions,
  body: (x: Tensor, variable: (name: string, shape: number[], init: 'weight' | 'bias') => Tensor) => Tensor,
  initializers: { weight: (seed: number) => ReturnType<typeof zeros>; bias: () => ReturnType<typeof zeros> },
): MnistModel {
  const graph = options.graph ?? getDefaultGraph();
  const seed = options.seed ?? 0;
  return withGraph(graph, () => {
    const x = placeholder('float32', { shape: [null, PIXELS], name: 'x' });
    const labels = placeholder('float32', { shape: [null, CLASSES], name: 'y_' });
    const variables: Variable[] = [];
    const variable = (vname: string, shape: number[], init: 'weight' | 'bias'): Tensor => {
      const initializer = init === 'weight' ? initializers.weight(seed + variables.length) : initializers.bias();
      const v = getVariable(vname, shape, { initializer, graph });
      variables.push(v);
      return v.value;
    };
    const logits = body(x, variable);
    const scores = softmax(logits, { name: 'y' });
    const loss = reduceMean(softmaxCrossEntropyWithLogits({ labels, logits }), undefined, { name: 'cross_entropy' });
    const correct = equal(argMax(logits, 1), argMax(labels, 1), { name: 'correct_prediction' });
    const accuracy = reduceMean(cast(correct, 'float32'), undefined, { name: 'accuracy' });
    return { name, x, labels, logits, scores, loss, accuracy, variables };
  });
}

/** The chapter's model: y = softmax(x·W + b), W and b initialised to zeros. */
export function softmaxRegression(options: ModelOptions = {}): MnistModel {
  return build(
    'softmax',
    options,
    (x, variable) => add(matmul(x, variable('W', [PIXELS, CLASSES], 'weight')), variable('b', [CLASSES], 'bias')),
    { weight: () => zeros(), bias: () => zeros() },
  );
}

/** 784-256-128-10 with ReLU; Glorot-uniform weights, zero biases. */
export function mlp(options: ModelOptions = {}): MnistModel {
  const sizes = [PIXELS, 256, 128, CLASSES];
  return build(
    'mlp',
    options,
    (x, variable) => {
      let h = x;
      for (let i = 0; i + 1 < sizes.length; i++) {
        const w = variable(`W${i + 1}`, [sizes[i] as number, sizes[i + 1] as number], 'weight');
        const b = variable(`b${i + 1}`, [sizes[i + 1] as number], 'bias');
        h = add(matmul(h, w), b);
        if (i + 2 < sizes.length) h = relu(h);
      }
      return h;
    },
    { weight: (seed) => glorotUniform({ seed }), bias: () => zeros() },
  );
}

/**
 * TensorFlow's Deep MNIST CNN: reshape to [?, 28, 28, 1]; conv 5×5×32 SAME + ReLU + max-pool 2; conv 5×5×64 +
 * ReLU + max-pool 2; dense 1024 + ReLU; dense 10. Weights truncated normal (stddev 0.1), biases 0.1 (as the
 * tutorial's weight_variable / bias_variable). No dropout.
 */
export function cnn(options: ModelOptions = {}): MnistModel {
  return build(
    'cnn',
    options,
    (x, variable) => {
      const image = reshape(x, [-1, 28, 28, 1], { name: 'x_image' });
      const conv = (input: Tensor, k: string, inC: number, outC: number) => {
        const w = variable(`W_conv${k}`, [5, 5, inC, outC], 'weight');
        const b = variable(`b_conv${k}`, [outC], 'bias');
        const h = relu(biasAdd(conv2d(input, w, { strides: [1, 1, 1, 1], padding: 'SAME' }), b));
        return maxPool(h, { ksize: [1, 2, 2, 1], strides: [1, 2, 2, 1], padding: 'SAME' });
      };
      const pool2 = conv(conv(image, '1', 1, 32), '2', 32, 64);
      const flat = reshape(pool2, [-1, 7 * 7 * 64], { name: 'h_pool2_flat' });
      const fc1 = relu(
        add(matmul(flat, variable('W_fc1', [7 * 7 * 64, 1024], 'weight')), variable('b_fc1', [1024], 'bias')),
      );
      return add(matmul(fc1, variable('W_fc2', [1024, CLASSES], 'weight')), variable('b_fc2', [CLASSES], 'bias'));
    },
    { weight: (seed) => truncatedNormal({ stddev: 0.1, seed }), bias: () => constant(0.1) },
  );
}

/** Builds a model by name. */
export function buildModel(name: ModelName, options: ModelOptions = {}): MnistModel {
  switch (name) {
    case 'softmax':
      return softmaxRegression(options);
    case 'mlp':
      return mlp(options);
    case 'cnn':
      return cnn(options);
    default:
      throw new InvalidArgument(`unknown model '${String(name)}'; expected one of ${MODEL_NAMES.join(', ')}`);
  }
}
