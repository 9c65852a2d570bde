/**
 * Byte-flipped copies of the TensorFlow fixtures (../shared/fixtures/tensorflow-serving, copied to a temp dir,
 * never into the repository) arrive as new versions of a model that is serving: each fails to load with an error
 * naming the corrupted file, ends in END, and the version already serving keeps answering.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type ServerOptions } from '../../src/serving/server.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';

type StartedServer = Awaited<ReturnType<typeof startServer>>;

const FIXTURES = TF_SERVING_FIXTURES;

const SAVED_MODEL_VARIABLES = ['variables/variables.index', 'variables/variables.data-00000-of-00001'];
/** Each fixture version dir and the files of it that get corrupted. */
const CORRUPTIBLE: { fixture: string; files: string[] }[] = [
  { fixture: 'saved_model_half_plus_two_cpu/00000123', files: ['saved_model.pb', ...SAVED_MODEL_VARIABLES] },
  { fixture: 'saved_model_half_plus_two_2_versions/00000123', files: ['saved_model.pb', ...SAVED_MODEL_VARIABLES] },
  { fixture: 'saved_model_half_plus_two_tf2_cpu/00000123', files: ['saved_model.pb', ...SAVED_MODEL_VARIABLES] },
  { fixture: 'matrix_half_plus_two/1', files: ['saved_model.pb'] },
  { fixture: 'session_bundle_half_plus_two/00000123', files: ['export.meta', 'export-00000-of-00001'] },
];
/** Corruptions: a byte inverted near the start (inside the first protobuf field or the first CRC-checked block), or the file cut in half. */
const CORRUPTIONS: { name: string; apply(bytes: Buffer): Buffer }[] = [
  { name: 'byte 0 flipped', apply: (b) => flipped(b, 0) },
  { name: 'byte 3 flipped', apply: (b) => flipped(b, 3) },
  { name: 'truncated to half', apply: (b) => b.subarray(0, b.length >> 1) },
];

function flipped(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] as number) ^ 0xff;
  return copy;
}

interface VersionStatus {
  version: string;
  state: string;
  status: { error_message: string };
}

async function versionStatus(url: string, model: string, version: number): Promise<VersionStatus | undefined> {
  const res = await fetch(`${url}/v1/models/${model}/versions/${version}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { model_version_status: VersionStatus[] }).model_version_status[0];
}

/** Polls until `version` reaches `state` (bounded), and returns its status. */
async function waitForState(url: string, model: string, version: number, state: string): Promise<VersionStatus> {
  let last: VersionStatus | undefined;
  for (let i = 0; i < 400; i++) {
    last = await versionStatus(url, model, version);
    if (last?.state === state) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`version ${version} of ${model} never reached ${state}: ${JSON.stringify(last)}`);
}

describe('corrupted TensorFlow model files', () => {
  const base = mkdtempSync(join(tmpdir(), 'flowserve-corrupt-'));
  let server: StartedServer;
  let url: string;

  before(async () => {
    cpSync(join(FIXTURES, 'saved_model_half_plus_two_cpu/00000123'), join(base, '1'), { recursive: true });
    server = await startServer({
      modelConfig: {
        models: [
          {
            name: 'half_plus_two',
            basePath: base,
            modelPlatform: 'tensorflow',
            versionPolicy: { kind: 'latest', numVersions: 1 },
            versionLabels: {},
          },
        ],
      },
      fileSystemPollWaitSeconds: 0.05,
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
    rmSync(base, { recursive: true, force: true });
  });

  it('fails each corrupted version naming the file, and version 1 keeps serving', async () => {
    await waitForState(url, 'half_plus_two', 1, 'AVAILABLE');
    let version = 1;
    for (const { fixture, files } of CORRUPTIBLE) {
      for (const file of files) {
        for (const corruption of CORRUPTIONS) {
          version += 1;
          // Built in a hidden staging dir, then renamed in: the source must never see a half-copied version.
          const staging = mkdtempSync(join(base, '.staging-'));
          cpSync(join(FIXTURES, fixture), staging, { recursive: true });
          const target = join(staging, file);
          chmodSync(target, 0o644);
          writeFileSync(target, corruption.apply(readFileSync(target)));
          const versionDir = join(base, String(version));
          renameSync(staging, versionDir);

          const what = `${fixture}/${file}, ${corruption.name}`;
          const status = await waitForState(url, 'half_plus_two', version, 'END');
          assert.ok(
            status.status.error_message.includes(join(versionDir, file)),
            `${what}: the error names the file: ${status.status.error_message}`,
          );
          assert.equal((await versionStatus(url, 'half_plus_two', 1))?.state, 'AVAILABLE', what);
          const res = await fetch(`${url}/v1/models/half_plus_two:predict`, {
            method: 'POST',
            body: JSON.stringify({ instances: [1.0, 2.0, 5.0] }),
          });
          assert.deepEqual(await res.json(), { predictions: [2.5, 3.0, 4.5] }, what);
          rmSync(versionDir, { recursive: true, force: true });
        }
      }
    }
  });
});
