import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FailedPrecondition, InvalidArgument, NotFound, Unknown } from '../../../src/errors.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { createServingCore, type ServingCoreImpl, type TransitionEvent } from '../../../src/serving/core/index.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { SignatureNotFound } from '../../../src/serving/core/request-validation.js';
import { affineModel, eventually, rows, tempRepo, type TempRepo } from './model-fixtures.js';

const quiet = () => undefined;

/** State of the highest version, or undefined while the model is not known yet. */
function latestState(core: ServingCoreImpl, model: string): string | undefined {
  try {
    return core.status(model)[0]?.state;
  } catch {
    return undefined;
  }
}

function configFor(repo: TempRepo, extra = ''): string {
  return `model_config_list {
    config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" ${extra} }
  }`;
}

describe('serving core over real ONNX models', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;
  const events: TransitionEvent[] = [];

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    core = await createServingCore({
      modelConfig: parseModelServerConfig(configFor(repo)),
      fileSystemPollWaitSeconds: 0.05,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      enableModelManagement: true,
      log: quiet,
    });
    core.events.on('transition', (e) => events.push(e));
    await core.ready();
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  it('serves the latest version and computes y = 2x + 1', async () => {
    const result = await core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3, 4]) } });
    assert.equal(result.version, 1);
    assert.equal(result.signatureName, 'serving_default');
    assert.deepEqual(result.outputs.y?.toNumbers(), [3, 5, 7, 9]);
    assert.deepEqual(core.status('affine'), [{ version: 1, state: 'AVAILABLE' }]);
    const info = core.info({ name: 'affine' });
    assert.deepEqual(info.signatures.serving_default?.inputs, { x: { name: 'x', dtype: 'float32', shape: [-1, 4] } });
  });

  it('answers unknown models, versions and labels with TF Serving errors', async () => {
    const x = rows([1, 2, 3, 4]);
    await assert.rejects(
      core.run({ model: { name: 'nope' }, inputs: { x } }),
      (e: unknown) => e instanceof NotFound && e.message === 'Servable not found for request: Latest(nope)',
    );
    await assert.rejects(
      core.run({ model: { name: 'affine', version: 3 }, inputs: { x } }),
      (e: unknown) => e instanceof NotFound && e.message === 'Servable not found for request: Specific(affine, 3)',
    );
    await assert.rejects(
      core.run({ model: { name: 'affine', label: 'foo' }, inputs: { x } }),
      (e: unknown) => e instanceof InvalidArgument && e.message === 'Unrecognized servable version label: foo',
    );
    assert.throws(() => core.status('nope'), /Could not find any versions of model nope/);
    assert.throws(() => core.status('affine', 9), /Could not find version 9 of model affine/);
  });

  it('validates inputs against the signature, naming the tensor, expected and actual', async () => {
    const run = (inputs: Record<string, HostTensor>, extra: object = {}) =>
      core.run({ model: { name: 'affine' }, inputs, ...extra });
    await assert.rejects(
      run({ z: rows([1, 2, 3, 4]) }),
      /Signature input alias: x\(feed name: x\) not found.*Sent extra: \{z\}/,
    );
    await assert.rejects(run({}), /input size does not match signature: 0!=1 len\(\{\}\) != len\(\{x\}\)/);
    await assert.rejects(
      run({ x: HostTensor.from('int32', [[1, 2, 3, 4]]) }),
      (e: unknown) =>
        e instanceof InvalidArgument && e.message === "Expects arg[0] to be float but int32 is provided (input 'x')",
    );
    await assert.rejects(run({ x: rows([1, 2, 3]) }), /input 'x' has shape \[1,3\] but the signature expects \[-1,4\]/);
    await assert.rejects(
      run({ x: rows([1, 2, 3, 4]) }, { signatureName: 'nope' }),
      (e: unknown) =>
        e instanceof SignatureNotFound &&
        e instanceof FailedPrecondition &&
        e.message === 'Serving signature key "nope" not found.' &&
        e.restMessage === 'Serving signature name: "nope" not found in signature def',
    );
    await assert.rejects(
      run({ x: rows([1, 2, 3, 4]) }, { outputFilter: ['q'] }),
      /output tensor alias not found in signature: q/,
    );
  });

  it('picks up a new version, serves it once AVAILABLE, then unloads the old one', async () => {
    events.length = 0;
    await repo.addVersion('affine', 2, affineModel(3, 0));
    await eventually(() => core.status('affine')[0]?.version === 2 && core.status('affine')[1]?.state === 'END');
    const order = events.map((e) => `${e.version}:${e.to}`);
    assert.ok(order.indexOf('2:AVAILABLE') < order.indexOf('1:UNLOADING'), order.join(' '));
    const result = await core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 1, 1, 1]) } });
    assert.equal(result.version, 2);
    assert.deepEqual(result.outputs.y?.toNumbers(), [3, 3, 3, 3]);
  });

  it('a corrupt new version fails with its error in the status and the old version keeps serving', async () => {
    await repo.addVersion('affine', 3, new TextEncoder().encode('garbage'));
    await eventually(() => core.status('affine')[0]?.state === 'END' && core.status('affine')[0]?.version === 3);
    const [failed] = core.status('affine', 3);
    assert.equal(failed?.error?.code, 'INVALID_ARGUMENT');
    assert.match(failed?.error?.message ?? '', /Could not load ONNX model/);
    const result = await core.run({ model: { name: 'affine' }, inputs: { x: rows([0, 0, 0, 0]) } });
    assert.equal(result.version, 2);
    await rm(join(repo.basePath('affine'), '3'), { recursive: true });
  });

  it('reloads the config: labels, specific versions, added models; bad labels are refused', async () => {
    await repo.addVersion('other', 5, affineModel(1, 10));
    await assert.rejects(
      core.reloadConfig(configFor(repo, 'version_labels { key: "stable" value: 7 }')),
      (e: unknown) => e instanceof FailedPrecondition && /assign label to version 7 of model affine/.test(e.message),
    );
    await core.reloadConfig({
      modelConfigList: {
        config: [
          {
            name: 'affine',
            basePath: repo.basePath('affine'),
            modelPlatform: 'tensorflow',
            versionLabels: { stable: 2 },
          },
          { name: 'other', basePath: repo.basePath('other'), modelPlatform: 'tensorflow' },
        ],
      },
    });
    const byLabel = await core.run({ model: { name: 'affine', label: 'stable' }, inputs: { x: rows([1, 1, 1, 1]) } });
    assert.equal(byLabel.version, 2);
    const other = await core.run({ model: { name: 'other' }, inputs: { x: rows([1, 2, 3, 4]) } });
    assert.deepEqual(other.outputs.y?.toNumbers(), [11, 12, 13, 14]);
    await repo.addVersion('broken', 1, new TextEncoder().encode('garbage'));
    await assert.rejects(
      core.reloadConfig(
        `${configFor(repo)} model_config_list { config { name: "broken" base_path: "${repo.basePath('broken')}" model_platform: "tensorflow" } }`,
      ),
      (e: unknown) =>
        e instanceof Unknown && /1 model\(s\) did not become available: \{\{name: broken version: 1\}/.test(e.message),
    );
    await assert.rejects(core.run({ model: { name: 'other' }, inputs: { x: rows([1, 2, 3, 4]) } }), NotFound);
  });
});

describe('warmup', () => {
  it('replays assets.extra/warmup.json before AVAILABLE; a bad warmup file fails the load', async () => {
    const repo = await tempRepo();
    const good = { requests: [{ inputs: { x: { dtype: 'float32', shape: [1, 4], values: [1, 2, 3, 4] } } }] };
    const bad = [{ inputs: { x: { dtype: 'float32', shape: [1, 3], values: [1, 2, 3] } } }];
    await repo.addVersion('w', 1, affineModel(), { 'assets.extra/warmup.json': JSON.stringify(good) });
    await repo.addVersion('bad', 1, affineModel(), { 'assets.extra/warmup.json': JSON.stringify(bad) });
    const core = await createServingCore({
      modelConfig: parseModelServerConfig(
        `model_config_list {
          config { name: "w" base_path: "${repo.basePath('w')}" model_platform: "tensorflow" }
          config { name: "bad" base_path: "${repo.basePath('bad')}" model_platform: "tensorflow" }
        }`,
      ),
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      log: quiet,
    });
    try {
      await assert.rejects(
        core.ready(),
        /did not become available: \{\{name: bad version: 1\} due to error: warmup request 0 failed/,
      );
      assert.deepEqual(core.status('w'), [{ version: 1, state: 'AVAILABLE' }]);
      const metrics = await core.metrics.metrics();
      assert.match(metrics, /:tensorflow:serving:model_warmup_latency_count\{model_path="[^"]+w\/1",status="OK"\} 1/);
    } finally {
      await core.close();
      await repo.remove();
    }
  });
});

describe('config file polling', () => {
  it('re-reads --model_config_file and applies changes without a restart', async () => {
    const repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel());
    await repo.addVersion('other', 1, affineModel());
    const file = join(repo.root, 'models.config');
    await writeFile(file, configFor(repo));
    const core = await createServingCore({
      modelConfig: parseModelServerConfig(configFor(repo)),
      modelConfigFile: file,
      modelConfigFilePollWaitSeconds: 0.05,
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      log: quiet,
    });
    try {
      await core.ready();
      await writeFile(
        file,
        `model_config_list { config { name: "other" base_path: "${repo.basePath('other')}" model_platform: "tensorflow" } }`,
      );
      await eventually(() => core.modelConfig.models[0]?.name === 'other');
      await eventually(() => latestState(core, 'affine') === 'END');
      await eventually(() => latestState(core, 'other') === 'AVAILABLE');
    } finally {
      await core.close();
      await repo.remove();
    }
  });
});
