/**
 * Who may change the served models, and to what (issue 9 items 5 and 7): the model management switch, the base
 * path prefix (`..` and symlink escapes), URL-scheme base paths, and the model name rule.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgument, PermissionDenied, Unimplemented } from '../../../src/errors.js';
import {
  parseModelServerConfig,
  singleModelConfig,
  type ModelConfig,
} from '../../../src/serving/config/model-server-config.js';
import { escapeControlCharacters, quoteForMessage } from '../../../src/serving/config/untrusted-text.js';
import { createServingCore, type Servable, type ServingCoreImpl } from '../../../src/serving/core/index.js';
import { defaultLog, type ServingCoreOptions } from '../../../src/serving/core/options.js';

const fakeServable: Servable = {
  signatures: {},
  defaultSignature: 'serving_default',
  run: () => Promise.resolve({}),
  unload: () => Promise.resolve(),
};

function model(name: string, basePath: string): ModelConfig {
  return {
    name,
    basePath,
    modelPlatform: 'tensorflow',
    versionPolicy: { kind: 'latest', numVersions: 1 },
    versionLabels: {},
  };
}

/** A reload request as grpc-js decodes it. */
function reloadRequest(models: { name: string; base_path: string }[]) {
  return {
    config: 'model_config_list',
    model_config_list: { config: models.map((m) => ({ ...m, model_platform: 'tensorflow' })) },
  };
}

describe('model management and base path rules', () => {
  let root: string;
  let prefix: string;
  let outside: string;
  const cores: ServingCoreImpl[] = [];

  function versionDir(base: string): string {
    mkdirSync(join(base, '1'), { recursive: true });
    return base;
  }

  async function coreWith(options: Partial<ServingCoreOptions>, models: ModelConfig[]): Promise<ServingCoreImpl> {
    const core = await createServingCore({
      modelConfig: { models },
      fileSystemPollWaitSeconds: -1,
      maxNumLoadRetries: 0,
      log: () => undefined,
      loaderFactory: () => ({ load: () => Promise.resolve(fakeServable) }),
      ...options,
    });
    cores.push(core);
    await core.ready();
    return core;
  }

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'flowserve-access-'));
    prefix = join(root, 'models');
    outside = join(root, 'elsewhere');
    versionDir(join(prefix, 'a'));
    versionDir(join(prefix, 'b'));
    versionDir(join(outside, 'secret'));
    symlinkSync(join(outside, 'secret'), join(prefix, 'link-out'));
    symlinkSync(join(prefix, 'b'), join(prefix, 'link-in'));
  });

  after(async () => {
    for (const core of cores) await core.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('an empty model list is refused while model management is off (the default), and every model keeps serving', async () => {
    const core = await coreWith({}, [model('a', join(prefix, 'a'))]);
    await assert.rejects(core.reloadConfig(reloadRequest([])), (err: unknown) => {
      assert.ok(err instanceof PermissionDenied, String(err));
      assert.equal(err.grpcCode, 7);
      assert.equal(err.httpStatus, 403);
      assert.match(err.message, /HandleReloadConfigRequest is disabled.*--enable_model_management=true/);
      return true;
    });
    assert.deepEqual(
      core.status('a').map((s) => s.state),
      ['AVAILABLE'],
    );
  });

  it('with model management on, a reload inside the prefix is applied', async () => {
    const core = await coreWith({ enableModelManagement: true, modelBasePathPrefix: prefix }, [
      model('a', join(prefix, 'a')),
    ]);
    await core.reloadConfig(
      reloadRequest([
        { name: 'a', base_path: join(prefix, 'a') },
        { name: 'b', base_path: join(prefix, 'link-in') },
      ]),
    );
    assert.deepEqual(
      core.status('b').map((s) => s.state),
      ['AVAILABLE'],
    );
  });

  it('a reload pointing a model at /proc, or escaping the prefix by .. or by a symlink, is refused', async () => {
    const core = await coreWith({ enableModelManagement: true, modelBasePathPrefix: prefix }, [
      model('a', join(prefix, 'a')),
    ]);
    const escapes: [string, RegExp][] = [
      ['/proc', /base_path "\/proc" of model x resolves to "\/proc", outside --model_base_path_prefix=/],
      [`${prefix}/../elsewhere/secret`, /resolves to ".*elsewhere\/secret", outside --model_base_path_prefix=/],
      [join(prefix, 'link-out'), /link-out" of model x resolves to ".*elsewhere\/secret", outside/],
      [join(prefix, 'link-out', 'not-yet', 'there'), /resolves to ".*elsewhere\/secret\/not-yet\/there", outside/],
      [`${prefix}-sibling/a`, /outside --model_base_path_prefix=/],
    ];
    for (const [path, message] of escapes) {
      await assert.rejects(core.reloadConfig(reloadRequest([{ name: 'x', base_path: path }])), (err: unknown) => {
        assert.ok(err instanceof InvalidArgument, `${path}: ${String(err)}`);
        assert.match(err.message, message);
        assert.ok(err.message.includes(prefix), err.message);
        return true;
      });
    }
    assert.deepEqual(
      core.status('a').map((s) => s.state),
      ['AVAILABLE'],
    );
    assert.throws(() => core.status('x'), /Could not find any versions of model x/);
  });

  it('a start-up config outside the prefix fails the start', async () => {
    await assert.rejects(
      coreWith({ modelBasePathPrefix: prefix }, [model('s', join(outside, 'secret'))]),
      /base_path ".*elsewhere\/secret" of model s resolves to .* outside --model_base_path_prefix/,
    );
  });

  it('URL base paths of schemes without a storage are UNIMPLEMENTED in reloads and at start-up, naming the path', async () => {
    const core = await coreWith({ enableModelManagement: true }, [model('a', join(prefix, 'a'))]);
    for (const path of ['gs://bucket/m', 'file:///models/m', 'hdfs://nn/m', 'az://c/m']) {
      await assert.rejects(core.reloadConfig(reloadRequest([{ name: 'm', base_path: path }])), (err: unknown) => {
        assert.ok(err instanceof Unimplemented, `${path}: ${String(err)}`);
        assert.equal(err.grpcCode, 12);
        assert.ok(err.message.includes(`"${path}"`), err.message);
        assert.match(err.message, /supported: local directories and s3:\/\//);
        return true;
      });
    }
    await assert.rejects(coreWith({}, [model('m', 'gs://bucket/m')]), Unimplemented);
  });

  it('a newline in a model name is rejected in reloads and config files, naming the entry, escaped', async () => {
    const core = await coreWith({ enableModelManagement: true }, [model('a', join(prefix, 'a'))]);
    const forged = 'a\n2024-01-01T00:00:00.000Z INFO all models unloaded';
    await assert.rejects(
      core.reloadConfig(
        reloadRequest([
          { name: 'a', base_path: join(prefix, 'a') },
          { name: forged, base_path: join(prefix, 'b') },
        ]),
      ),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgument, String(err));
        assert.match(err.message, /^model_config_list\.config\[1\]\.name: model name "a\\n2024-01-01T00/);
        assert.ok(!err.message.includes('\n'), 'the message holds no raw newline');
        return true;
      },
    );
    assert.throws(
      () =>
        parseModelServerConfig(
          `model_config_list { config { name: "x\\ny" base_path: "/m" model_platform: "tensorflow" } }`,
        ),
      /model_config_list\.config\[0\]\.name: model name "x\\ny" is not allowed/,
    );
    assert.throws(() => singleModelConfig('a/b', '/m'), /--model_name: model name "a\/b" is not allowed/);
  });

  it("model names: TF Serving users' names pass; paths, dotfiles, spaces, controls and long names do not", () => {
    for (const name of ['half_plus_two', 'mnist', 'resnet-50', 'my_model.v2', 'default', 'A1', 'x'.repeat(256)]) {
      assert.doesNotThrow(() => singleModelConfig(name, '/m'), name);
    }
    for (const name of ['.hidden', '..', 'a/b', 'a b', 'tab\there', 'nul\u0000', 'x'.repeat(257), 'é', 'a\u2028b']) {
      assert.throws(() => singleModelConfig(name, '/m'), InvalidArgument, JSON.stringify(name));
    }
  });

  it('base paths with control characters are refused, and the default log escapes them', async () => {
    const core = await coreWith({ enableModelManagement: true }, [model('a', join(prefix, 'a'))]);
    await assert.rejects(
      core.reloadConfig(reloadRequest([{ name: 'a', base_path: `${prefix}/a\nERROR forged` }])),
      /base_path ".*\/a\\nERROR forged" of model a contains control characters/,
    );
    assert.equal(escapeControlCharacters('a\nb\r\u0007\u2028'), 'a\\nb\\r\\u0007\\u2028');
    assert.equal(quoteForMessage('x'.repeat(300)).length, 2 + 200 + '…(300 characters)'.length);
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      written.push(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      defaultLog('error', 'model a\nINFO forged');
    } finally {
      process.stderr.write = original;
    }
    assert.equal(written.length, 1);
    assert.match(written[0] as string, /ERROR model a\\nINFO forged\n$/);
  });
});
