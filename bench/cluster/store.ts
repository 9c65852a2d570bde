/**
 * Where the replicas read their models from: one S3 bucket on a loopback s3rver (what the demo is about), or one
 * shared local directory (for comparison, and where S3 is not available). `publish` makes a version visible to
 * every replica at once: the S3 upload (the storage layer downloads a version whole before serving it), or a rename
 * into the base path.
 */
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3Server } from '../../test/helpers/s3-server.js';

export interface ModelStore {
  kind: 's3' | 'local';
  /** --model_base_path for every replica. */
  basePath: string;
  /** Environment a replica needs to read `basePath`. */
  env: Record<string, string>;
  publish(version: number, localVersionDir: string): Promise<void>;
  close(): Promise<void>;
}

const BUCKET = 'models';
const PREFIX = 'mnist';

export async function s3Store(): Promise<ModelStore> {
  const s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  return {
    kind: 's3',
    basePath: `s3://${BUCKET}/${PREFIX}`,
    env: s3.env(),
    publish: (version, dir) => s3.uploadDirectory(BUCKET, `${PREFIX}/${version}`, dir),
    close: () => s3.close(),
  };
}

export function localStore(): ModelStore {
  const root = mkdtempSync(join(tmpdir(), 'flowserve-cluster-models-'));
  const basePath = join(root, PREFIX);
  mkdirSync(basePath);
  return {
    kind: 'local',
    basePath,
    env: {},
    publish: async (version, dir) => {
      // Copied beside, then renamed: a polling replica never sees half a version.
      const staging = join(root, `.staging-${version}`);
      cpSync(dir, staging, { recursive: true });
      renameSync(staging, join(basePath, String(version)));
    },
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
}
