/** Shared pieces of the object-storage serving tests: a server reading s3://, predict calls, bounded waits. */
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { ModelConfig } from '../../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer, type ServerOptions } from '../../../src/serving/server.js';
import type { S3Server } from '../../helpers/s3-server.js';
import { affineModel } from '../core/model-fixtures.js';

export const BUCKET = 'models';

/** Version `version` of the test models computes y = x * version + 1, so an answer names the version that gave it. */
export function versionModel(version: number): Uint8Array {
  return affineModel(version, 1);
}

export async function uploadVersion(s3: S3Server, prefix: string, version: number): Promise<void> {
  await s3.putObject(BUCKET, `${prefix}/${version}/model.onnx`, versionModel(version));
}

export function model(name: string, basePath: string, extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    name,
    basePath,
    modelPlatform: 'tensorflow',
    versionPolicy: { kind: 'latest', numVersions: 1 },
    versionLabels: {},
    ...extra,
  };
}

export interface Logged {
  lines: string[];
}

export async function serveFromS3(
  s3: S3Server | { env(): Record<string, string> },
  models: ModelConfig[],
  options: Partial<ServerOptions> = {},
  logged: Logged = { lines: [] },
): Promise<RunningServer> {
  return startServer({
    modelConfig: { models },
    grpcPort: 0,
    restPort: 0,
    fileSystemPollWaitSeconds: 0.2,
    numWorkers: 1,
    log: (level, message) => logged.lines.push(`${level} ${message}`),
    ...options,
    storage: {
      env: s3.env(),
      settleMs: 100,
      requestTimeoutMs: 2000,
      retryDelayMs: 100,
      maxRetryDelayMs: 400,
      ...options.storage,
    },
  });
}

/** The first output value of predict on [[1, 1, 1, 1]] (= the serving version + 1), or the HTTP status on failure. */
export async function predict(
  server: RunningServer,
  name: string,
  path = '',
): Promise<{ status: number; value?: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/${name}${path}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances: [[1, 1, 1, 1]] }),
  });
  const body = await response.text();
  if (response.status !== 200) return { status: response.status, body };
  const parsed = JSON.parse(body) as { predictions: number[][] };
  return { status: 200, value: parsed.predictions[0]?.[0] as number, body };
}

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function deletePrefix(s3: S3Server, prefix: string): Promise<void> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key as string }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys } }));
  } finally {
    client.destroy();
  }
}
