/**
 * The cluster demo's model: MNIST softmax regression trained for a few SGD steps and exported with flowserve's own
 * exportModel, as version 1 and, after more steps, version 2 (different weights, so the answers tell them apart).
 */
import { join } from 'node:path';
import * as fs from '../../src/index.js';
import { buildModel } from '../../src/train/models.js';

export const PIXELS = 784;

export interface MnistExport {
  /** The exported version directories, by version (1 and 2). */
  versionDirs: Record<number, string>;
  /** Test images to send, `count` × 784. */
  images: Float32Array;
  count: number;
}

export async function exportMnistVersions(dir: string, count = 16): Promise<MnistExport> {
  const exportBase = join(dir, 'mnist');
  const g = new fs.Graph();
  const model = fs.withGraph(g, () => buildModel('softmax', { seed: 7 }));
  const session = new fs.Session(g, { logger: () => {} });
  try {
    await session.run(fs.globalVariablesInitializer(g));
    const train = fs.withGraph(g, () => new fs.GradientDescentOptimizer(0.5).minimize(model.loss));
    const { train: split, test } = fs.loadMnist({ trainLimit: 200, testLimit: count });
    const labels = new Float32Array(200 * 10);
    split.labels.forEach((l, i) => (labels[i * 10 + l] = 1));
    const feed = new Map([
      [model.x, new fs.HostTensor('float32', [200, PIXELS], split.images)],
      [model.labels, new fs.HostTensor('float32', [200, 10], labels)],
    ]);
    const signatures = {
      serving_default: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
    };
    const versionDirs: Record<number, string> = {};
    for (const [version, steps] of [
      [1, 2],
      [2, 3],
    ] as const) {
      for (let step = 0; step < steps; step++) await session.run(train, feed);
      versionDirs[version] = (await fs.exportModel(session, { exportBase, version, signatures })).versionDir;
    }
    return { versionDirs, images: test.images, count };
  } finally {
    await session.close();
  }
}
