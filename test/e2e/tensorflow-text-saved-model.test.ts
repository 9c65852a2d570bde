/**
 * A text-format SavedModel (`saved_model.pbtxt` alone in the version dir) served through a real server: it predicts
 * as its binary twin would, and a malformed one stops the server from starting (as TF Serving does for a model that
 * fails to load) with an error naming the file and the line.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { HALF_PLUS_TWO_PBTXT } from '../import/text-saved-model-fixture.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

interface VersionStatus {
  state: string;
  status: { error_message: string };
}

async function versionStatus(url: string, model: string): Promise<VersionStatus | undefined> {
  const res = await fetch(`${url}/v1/models/${model}/versions/1`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { model_version_status: VersionStatus[] }).model_version_status[0];
}

/** Polls until version 1 of `model` reaches `state` (bounded), and returns its status. */
async function waitForState(url: string, model: string, state: string): Promise<VersionStatus> {
  let last: VersionStatus | undefined;
  for (let i = 0; i < 400; i++) {
    last = await versionStatus(url, model);
    if (last?.state === state) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${model} never reached ${state}: ${JSON.stringify(last)}`);
}

function serverOptions(base: string, models: string[]): ServerOptions {
  return {
    modelConfig: {
      models: models.map((name) => ({
        name,
        basePath: join(base, name),
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
  } as ServerOptions;
}

describe('text-format SavedModels (saved_model.pbtxt)', () => {
  const base = mkdtempSync(join(tmpdir(), 'flowserve-pbtxt-'));
  const brokenLine = HALF_PLUS_TWO_PBTXT.split('\n').findIndex((l) => l.includes('op: "AddV2"')) + 1;
  let server: StartedServer;
  let url: string;

  before(async () => {
    const write = (model: string, text: string) => {
      mkdirSync(join(base, model, '1'), { recursive: true });
      writeFileSync(join(base, model, '1', 'saved_model.pbtxt'), text);
    };
    write('text', HALF_PLUS_TWO_PBTXT);
    // An op type given as an enum-like identifier where a string belongs.
    write('broken', HALF_PLUS_TWO_PBTXT.replace('op: "AddV2"', 'op: AddV2'));
    server = await startServer(serverOptions(base, ['text']));
    url = `http://127.0.0.1:${server.restPort}`;
  });
  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('predicts 0.5 x + 2 from a SavedModel given only as text', async () => {
    await waitForState(url, 'text', 'AVAILABLE');
    const res = await fetch(`${url}/v1/models/text:predict`, {
      method: 'POST',
      body: JSON.stringify({
        instances: [
          [1, 2, 3],
          [-4, 0, 10],
        ],
      }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      predictions: [
        [2.5, 3, 3.5],
        [0, 2, 7],
      ],
    });
    const meta = (await (await fetch(`${url}/v1/models/text/metadata`)).json()) as Record<string, unknown>;
    assert.match(JSON.stringify(meta), /"serving_default".*"x:0"/);
  });

  it('refuses to start on a malformed saved_model.pbtxt, naming the file and the line', async () => {
    const file = join(base, 'broken', '1', 'saved_model.pbtxt');
    await assert.rejects(startServer(serverOptions(base, ['broken'])), (err: Error) => {
      assert.ok(
        err.message.includes(`${file}: line ${brokenLine}:`),
        `names file and line ${brokenLine}: ${err.message}`,
      );
      assert.match(err.message, /field 'op' in tensorflow\.NodeDef expects a quoted string/);
      return true;
    });
  });
});
