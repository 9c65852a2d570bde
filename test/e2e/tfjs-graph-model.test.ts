/**
 * A TF.js graph model served over REST: a version directory holding model.json and its weight file is detected,
 * imported and served like a SavedModel (human's liveness model, linked in place from node_modules).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startServer, type ServerOptions } from '../../src/serving/server.js';

const MODELS = fileURLToPath(new URL('../../../node_modules/@vladmandic/human/models/', import.meta.url));

describe('a TF.js graph model over REST', () => {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let base: string;
  let url: string;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'flowserve-tfjs-serve-'));
    const version = join(base, '1');
    await mkdir(version);
    await symlink(join(MODELS, 'liveness.json'), join(version, 'model.json'));
    await symlink(join(MODELS, 'liveness.bin'), join(version, 'liveness.bin'));
    server = await startServer({
      modelConfig: {
        models: [
          {
            name: 'liveness',
            basePath: base,
            modelPlatform: 'tensorflow',
            versionPolicy: { kind: 'latest', numVersions: 1 },
            versionLabels: {},
          },
        ],
      },
      fileSystemPollWaitSeconds: 0,
      maxNumLoadRetries: 0,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      log: () => undefined,
    } as ServerOptions);
    url = `http://127.0.0.1:${server.restPort}`;
  });
  after(async () => {
    await server?.close();
    await rm(base, { recursive: true, force: true });
  });

  it('predicts TF.js’s answer for an all-0.5 image, two rows at once', async () => {
    const image = Array.from({ length: 32 }, () => Array.from({ length: 32 }, () => [0.5, 0.5, 0.5]));
    const res = await fetch(`${url}/v1/models/liveness:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: [image, image] }),
    });
    const body = (await res.json()) as { predictions: number[][] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.predictions.length, 2);
    for (const row of body.predictions) {
      assert.deepEqual(
        row.map((v) => Number(v.toFixed(5))),
        [0.61576, 0.38424],
      );
    }
  });

  it('describes the signature from model.json in its metadata', async () => {
    const res = await fetch(`${url}/v1/models/liveness/metadata`);
    const body = (await res.json()) as {
      metadata: { signature_def: { signature_def: Record<string, { inputs: Record<string, unknown> }> } };
    };
    assert.equal(res.status, 200, JSON.stringify(body));
    const sig = body.metadata.signature_def.signature_def.serving_default;
    assert.deepEqual(Object.keys(sig?.inputs ?? {}), ['conv2d_1_input']);
  });
});
