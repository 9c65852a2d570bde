/**
 * The cluster demo's model: MNIST softmax regression trained for a few SGD steps and exported with flowserve's own
 * exportModel, as version 1 and, after more steps, version 2 (different weights, so the answers tell them apart).
 */
import { join } from 'node:path';
import * as fs from '../../src/index.js';
import { withSoftmaxTraining } from '../../test/helpers/trained-mnist.js';

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
  const { test } = fs.loadMnist({ trainLimit: 1, testLimit: count });
  return withSoftmaxTraining(200, async ({ session, model, train }) => {
    const signatures = {
      serving_default: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
    };
    const versionDirs: Record<number, string> = {};
    for (const [version, steps] of [
      [1, 2],
      [2, 3],
    ] as const) {
      await train(steps);
      versionDirs[version] = (await fs.exportModel(session, { exportBase, version, signatures })).versionDir;
    }
    return { versionDirs, images: test.images, count };
  });
}
