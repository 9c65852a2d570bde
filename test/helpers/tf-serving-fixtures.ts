/**
 * TensorFlow Serving's fixtures (`../shared/fixtures/tensorflow-serving/` beside the repository: read there, never
 * copied in), and server options that serve some of them as TF Serving's tests do.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '../../src/serving/server.js';

function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return resolve(dir, '..', 'shared', 'fixtures', 'tensorflow-serving');
}

/** The absolute path of the TF Serving fixtures folder. */
export const TF_SERVING_FIXTURES = fixturesDir();

/** startServer options serving each `{name, dir}` (dir relative to the fixtures) on ephemeral loopback ports. */
export function fixtureServerOptions(
  models: readonly { name: string; dir: string }[],
  extra: Partial<ServerOptions> = {},
): ServerOptions {
  return {
    modelConfig: {
      models: models.map(({ name, dir }) => ({
        name,
        basePath: join(TF_SERVING_FIXTURES, dir),
        modelPlatform: 'tensorflow',
        versionPolicy: { kind: 'latest', numVersions: 1 },
        versionLabels: {},
      })),
    },
    fileSystemPollWaitSeconds: 0,
    maxNumLoadRetries: 0,
    numWorkers: 1,
    grpcPort: 0,
    restPort: 0,
    log: () => undefined,
    ...extra,
  };
}
