import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import { buildCoreOptions } from '../../../src/serving/config/core-options.js';
import { parseDevice, parseServerFlags } from '../../../src/serving/config/flags.js';
import { modelServerConfigFromUnknown } from '../../../src/serving/config/model-server-config-object.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';

describe('--device', () => {
  it('defaults to cpu', () => {
    assert.equal(parseServerFlags([]).device, 'cpu');
  });

  it('accepts the CPU and GPU spellings', () => {
    for (const text of ['cpu', 'CPU', '/cpu:0', '/device:CPU:0', '/device:cpu:0', ' cpu ']) {
      assert.equal(parseDevice(text), 'cpu', text);
    }
    for (const text of ['gpu', 'GPU', '/gpu:0', '/device:GPU:0', '/device:gpu:0', 'gpu:0']) {
      assert.equal(parseDevice(text), 'gpu', text);
    }
    assert.equal(parseServerFlags(['--device=gpu']).device, 'gpu');
    assert.equal(parseServerFlags(['--device', '/device:GPU:0']).device, 'gpu');
    assert.equal(parseServerFlags(['--device=/cpu:0']).device, 'cpu');
  });

  it('rejects other values, naming the flag and the accepted values', () => {
    for (const bad of ['tpu', '', '/gpu:1', '/device:GPU:2', 'gpu0', '/cpu:1', 'webgpu']) {
      assert.throws(
        () => parseServerFlags([`--device=${bad}`]),
        (e: unknown) =>
          e instanceof InvalidArgument &&
          e.message.includes(`invalid value for --device: '${bad}'`) &&
          e.message.includes('gpu, /gpu:0 or /device:GPU:0'),
        bad,
      );
    }
    assert.throws(() => parseDevice('/gpu:1'), /only GPU 0 exists/);
  });

  it('reaches the core options', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-device-'));
    try {
      const file = join(dir, 'models.config');
      await writeFile(file, 'model_config_list { config { name: "m" base_path: "/m" model_platform: "tensorflow" } }');
      const gpu = await buildCoreOptions(parseServerFlags([`--model_config_file=${file}`, '--device=/gpu:0']));
      assert.equal(gpu.device, 'gpu');
      const cpu = await buildCoreOptions(parseServerFlags(['--model_base_path=/models/a']));
      assert.equal(cpu.device, 'cpu');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ModelConfig device (flowserve extension)', () => {
  const config = (device: string) => `model_config_list {
  config {
    name: "a"
    base_path: "/models/a"
    model_platform: "tensorflow"
    ${device}
  }
  config { name: "b" base_path: "/models/b" model_platform: "tensorflow" }
}`;

  it('reads device: "gpu" / "cpu" and leaves it unset otherwise', () => {
    const gpu = parseModelServerConfig(config('device: "gpu"'));
    assert.equal(gpu.models[0]?.device, 'gpu');
    assert.equal(gpu.models[1]?.device, undefined);
    assert.ok(!('device' in (gpu.models[1] ?? {})), 'absent, so configs without it compare as before');
    assert.equal(parseModelServerConfig(config('device: "/device:GPU:0"')).models[0]?.device, 'gpu');
    assert.equal(parseModelServerConfig(config('device: "cpu"')).models[0]?.device, 'cpu');
    assert.equal(parseModelServerConfig(config('device: "/cpu:0"')).models[0]?.device, 'cpu');
  });

  it('a bad value names the file, the line and the accepted values', () => {
    assert.throws(
      () => parseModelServerConfig(config('device: "tpu"'), 'models.config'),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        /models\.config: line 6: field 'device' in ModelConfig expects "cpu" or "gpu"/.test(e.message) &&
        e.message.includes("got 'tpu'"),
    );
    assert.throws(
      () => parseModelServerConfig(config('device: "/gpu:1"'), 'm.config'),
      /m\.config: line 6: .*'\/gpu:1'/,
    );
    assert.throws(
      () => parseModelServerConfig(config('device: 1'), 'm.config'),
      /line 6: field 'device' in ModelConfig expects a string/,
    );
  });

  it('the object form accepts device when present and ignores its absence', () => {
    const fromObject = modelServerConfigFromUnknown({
      model_config_list: {
        config: [
          { name: 'a', base_path: '/a', model_platform: 'tensorflow', device: 'gpu' },
          { name: 'b', basePath: '/b', modelPlatform: 'tensorflow' },
        ],
      },
    });
    assert.equal(fromObject.models[0]?.device, 'gpu');
    assert.equal(fromObject.models[1]?.device, undefined);
    assert.throws(
      () =>
        modelServerConfigFromUnknown({
          model_config_list: { config: [{ name: 'a', base_path: '/a', model_platform: 'tensorflow', device: 'tpu' }] },
        }),
      /device of model a must be "cpu" or "gpu"/,
    );
    assert.throws(
      () =>
        modelServerConfigFromUnknown({
          models: [
            {
              name: 'a',
              basePath: '/a',
              modelPlatform: 'tf',
              versionPolicy: { kind: 'all' },
              versionLabels: {},
              device: 'x',
            },
          ],
        }),
      /Model a has device 'x'; expected cpu or gpu/,
    );
  });
});
