/**
 * Relative base paths (a flowserve extension; TF Serving wants absolute ones): --model_base_path resolves against
 * the working directory, a config file's base_path against the config file's folder, and the reload RPC, which
 * has no file to be relative to, still requires absolute paths.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildCoreOptions,
  modelServerConfigFromUnknown,
  parseModelServerConfig,
  parseServerFlags,
} from '../../../src/serving/config/index.js';

const CONFIG = (basePath: string) =>
  `model_config_list { config { name: "m" base_path: "${basePath}" model_platform: "tensorflow" } }`;

describe('relative base paths', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flowserve-relative-'));
    await mkdir(join(dir, 'configs'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--model_base_path resolves against the working directory', async () => {
    const options = await buildCoreOptions(parseServerFlags(['--model_base_path=models/mnist']));
    assert.equal(options.modelConfig?.models[0]?.basePath, join(process.cwd(), 'models', 'mnist'));
  });

  it("a config file's base_path resolves against the config file's folder, not the working directory", async () => {
    const file = join(dir, 'configs', 'models.config');
    await writeFile(file, CONFIG('../models/m'));
    // The config file itself named relative to the working directory, as a user types it.
    const options = await buildCoreOptions(parseServerFlags([`--model_config_file=${relative(process.cwd(), file)}`]));
    assert.equal(options.modelConfig?.models[0]?.basePath, join(dir, 'models', 'm'));
    assert.equal(options.modelConfigFile, file, 'the polled config file is remembered by its absolute path');
  });

  it('absolute paths and URIs are kept as written', () => {
    const config = (basePath: string) =>
      parseModelServerConfig(CONFIG(basePath), 'm.config', { baseDir: dir }).models[0]?.basePath;
    assert.equal(config('/srv/models/m'), '/srv/models/m');
    assert.equal(config('s3://bucket/m'), 's3://bucket/m');
  });

  it('without a folder to resolve against (the reload RPC), a relative base path is refused as TF Serving does', () => {
    assert.throws(
      () => parseModelServerConfig(CONFIG('models/m')),
      /Expected model m to have an absolute path or URI; got base_path\(\)=models\/m/,
    );
    assert.throws(
      () =>
        modelServerConfigFromUnknown({
          model_config_list: { config: [{ name: 'm', base_path: 'models/m', model_platform: 'tensorflow' }] },
        }),
      /absolute path or URI/,
    );
  });
});
