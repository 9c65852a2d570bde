import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgument, NotFound, Unavailable, Unimplemented } from '../../../../src/errors.js';
import { parseModelServerConfig } from '../../../../src/serving/config/model-server-config.js';
import { parseModelControlMode } from '../../../../src/serving/config/model-control-mode.js';
import { createServingCore, type ServingCoreImpl } from '../../../../src/serving/core/index.js';
import { repositoryIndexV2, repositoryLoadV2, repositoryUnloadV2 } from '../../../../src/serving/apis/v2/repository.js';
import { affineModel, rows, slowModel, tempRepo, type TempRepo } from '../../core/model-fixtures.js';
import { HostTensor } from '../../../../src/graph/host-tensor.js';

const quiet = () => undefined;

function configFor(repo: TempRepo, names: string[]): string {
  const entries = names
    .map((n) => `config { name: "${n}" base_path: "${repo.basePath(n)}" model_platform: "tensorflow" }`)
    .join(' ');
  return `model_config_list { ${entries} }`;
}

async function serve(repo: TempRepo, names: string[], explicit: boolean): Promise<ServingCoreImpl> {
  const core = await createServingCore({
    modelConfig: parseModelServerConfig(configFor(repo, names)),
    fileSystemPollWaitSeconds: 0,
    numWorkers: 1,
    maxNumLoadRetries: 0,
    ...(explicit ? { modelControlMode: 'explicit' as const } : {}),
    log: quiet,
  });
  await core.ready();
  return core;
}

describe('model repository extension', () => {
  let repo: TempRepo;
  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    await repo.addVersion('slow', 1, slowModel(256, 30));
  });
  after(() => repo.remove());

  it('refuses load and unload by default with UNAVAILABLE naming the flag; the index still answers', async () => {
    const core = await serve(repo, ['affine'], false);
    try {
      for (const call of [() => repositoryLoadV2(core, 'affine'), () => repositoryUnloadV2(core, 'affine')]) {
        await assert.rejects(
          call(),
          (e: unknown) =>
            e instanceof Unavailable &&
            e.message.startsWith('explicit model load / unload is not allowed') &&
            e.message.includes('--model_control_mode=explicit'),
        );
      }
      assert.deepEqual(repositoryIndexV2(core), [{ name: 'affine', version: '1', state: 'READY', reason: '' }]);
      // Nothing changed: still served.
      await core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3, 4]) } });
    } finally {
      await core.close();
    }
  });

  it('unloads and loads again through the manager, the index showing each state', async () => {
    const core = await serve(repo, ['affine'], true);
    try {
      await repositoryUnloadV2(core, 'affine', { unload_dependents: false });
      assert.deepEqual(repositoryIndexV2(core), [
        { name: 'affine', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
      ]);
      assert.deepEqual(repositoryIndexV2(core, { ready: true }), []);
      await assert.rejects(core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3, 4]) } }), NotFound);
      await repositoryUnloadV2(core, 'affine'); // unloading an unloaded model succeeds, as in Triton
      await repositoryLoadV2(core, 'affine');
      assert.deepEqual(repositoryIndexV2(core, { ready: true }), [
        { name: 'affine', version: '1', state: 'READY', reason: '' },
      ]);
      const result = await core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3, 4]) } });
      assert.deepEqual(result.outputs.y?.toNumbers(), [3, 5, 7, 9]);
    } finally {
      await core.close();
    }
  });

  it('a load of a served model polls it again; a config parameter sets the version policy', async () => {
    const local = await tempRepo();
    await local.addVersion('affine', 1, affineModel(2, 1));
    const core = await serve(local, ['affine'], true);
    try {
      await local.addVersion('affine', 2, affineModel(3, 0));
      await repositoryLoadV2(core, 'affine');
      assert.equal(core.info({ name: 'affine' }).version, 2, 'the new version on disk loaded');
      await repositoryLoadV2(core, 'affine', { config: JSON.stringify({ version_policy: { all: {} } }) });
      assert.deepEqual(core.servedVersions('affine'), [
        { name: 'affine', version: 2 },
        { name: 'affine', version: 1 },
      ]);
      await assert.rejects(
        repositoryLoadV2(core, 'affine', { config: JSON.stringify({ max_batch_size: 8 }) }),
        (e: unknown) => e instanceof InvalidArgument && e.message.includes("'max_batch_size'"),
      );
      await assert.rejects(repositoryLoadV2(core, 'affine', { 'file:1/model.onnx': 'AAAA' }), Unimplemented);
      await assert.rejects(repositoryLoadV2(core, 'nope'), NotFound);
      await assert.rejects(repositoryUnloadV2(core, 'nope'), NotFound);
    } finally {
      await core.close();
      await local.remove();
    }
  });

  it('a load that fails reports the version and its reason', async () => {
    const local = await tempRepo();
    await local.addVersion('affine', 1, affineModel(2, 1));
    const core = await serve(local, ['affine'], true);
    try {
      await repositoryUnloadV2(core, 'affine');
      await mkdir(join(local.basePath('affine'), '3'));
      await writeFile(join(local.basePath('affine'), '3', 'model.onnx'), 'not an onnx model');
      await assert.rejects(
        repositoryLoadV2(core, 'affine'),
        (e: unknown) =>
          e instanceof InvalidArgument &&
          e.message.startsWith("load failed for model 'affine': version 3 is at UNAVAILABLE state: "),
      );
      const entry = repositoryIndexV2(core).find((e) => e.version === '3');
      assert.equal(entry?.state, 'UNAVAILABLE');
      assert.notEqual(entry?.reason, 'unloaded');
    } finally {
      await core.close();
      await local.remove();
    }
  });

  it('loses no accepted request while the model is unloaded and loaded under load', async () => {
    const core = await serve(repo, ['slow'], true);
    try {
      const x = () => new HostTensor('float32', [1, 256], new Float32Array(256).fill(0.5));
      let stop = false;
      const outcomes = { ok: 0, notFound: 0, other: [] as string[] };
      const client = async () => {
        for (let i = 0; i < 400 && !stop; i++) {
          try {
            await core.run({ model: { name: 'slow' }, inputs: { x: x() } });
            outcomes.ok++;
          } catch (err) {
            // Refused before it was accepted: the model was not being served when it arrived.
            if (err instanceof NotFound) {
              outcomes.notFound++;
              await new Promise((r) => setTimeout(r, 2));
            } else outcomes.other.push(String(err));
          }
        }
      };
      const clients = Array.from({ length: 4 }, () => client());
      for (let round = 0; round < 2; round++) {
        await new Promise((r) => setTimeout(r, 30));
        await repositoryUnloadV2(core, 'slow');
        await repositoryLoadV2(core, 'slow');
      }
      stop = true;
      await Promise.all(clients);
      assert.deepEqual(outcomes.other, [], 'every accepted request was answered');
      assert.ok(outcomes.ok > 0);
      assert.equal(repositoryIndexV2(core, { ready: true }).length, 1);
    } finally {
      await core.close();
    }
  });

  it('parses --model_control_mode, and poll only with version polling on', () => {
    assert.equal(parseModelControlMode('EXPLICIT', 1), 'explicit');
    assert.equal(parseModelControlMode('none', 0), 'none');
    assert.equal(parseModelControlMode('poll', 1), 'poll');
    assert.throws(() => parseModelControlMode('poll', 0), /file_system_poll_wait_seconds/);
    assert.throws(() => parseModelControlMode('manual', 1), /expected none, poll or explicit/);
  });
});
