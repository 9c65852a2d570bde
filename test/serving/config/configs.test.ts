import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import { targetFromSpec } from '../../../src/serving/apis/shared/model-spec.js';
import { parseRestPath } from '../../../src/serving/apis/rest/paths.js';
import { parseBatchingParameters } from '../../../src/serving/config/batching-parameters.js';
import { buildCoreOptions } from '../../../src/serving/config/core-options.js';
import { parseServerFlags } from '../../../src/serving/config/flags.js';
import { modelServerConfigFromUnknown } from '../../../src/serving/config/model-server-config-object.js';
import { parseModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { parseMonitoringConfig } from '../../../src/serving/config/monitoring-config.js';
import { listVersionDirs } from '../../../src/serving/core/storage-path-source.js';
import { parseSslConfig } from '../../../src/serving/config/ssl-config.js';

const SPEC_EXAMPLE = `
model_config_list {
  config {
    name: "resnet"
    base_path: "/models/resnet"          # children 1/, 2/, 00000123/ ... are versions
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: "stable" value: 42 }
    version_labels { key: "canary" value: 43 }
  }
  config {
    name: "ranker"
    base_path: "gs://bucket/ranker"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
  }
  config {
    name: "legacy"
    base_path: "/models/legacy"
    model_platform: "tensorflow"
    model_version_policy { all {} }
  }
}`;

describe('ModelServerConfig', () => {
  it('reads the example of TF Serving documentation', () => {
    const config = parseModelServerConfig(SPEC_EXAMPLE);
    assert.deepEqual(config.models, [
      {
        name: 'resnet',
        basePath: '/models/resnet',
        modelPlatform: 'tensorflow',
        versionPolicy: { kind: 'specific', versions: [42, 43] },
        versionLabels: { stable: 42, canary: 43 },
      },
      {
        name: 'ranker',
        basePath: 'gs://bucket/ranker',
        modelPlatform: 'tensorflow',
        versionPolicy: { kind: 'latest', numVersions: 2 },
        versionLabels: {},
      },
      {
        name: 'legacy',
        basePath: '/models/legacy',
        modelPlatform: 'tensorflow',
        versionPolicy: { kind: 'all' },
        versionLabels: {},
      },
    ]);
  });

  it('names the file, line and message type of an unknown field', () => {
    const text = 'model_config_list {\n  config {\n    nam: "x"\n  }\n}';
    assert.throws(
      () => parseModelServerConfig(text, 'models.config'),
      (err: unknown) =>
        err instanceof InvalidArgument && err.message === "models.config: line 3: unknown field 'nam' in ModelConfig",
    );
    assert.throws(
      () => parseModelServerConfig('model_config_list { config { name: 3 } }', 'm'),
      /m: line 1: field 'name' in ModelConfig expects a string/,
    );
  });

  it('applies TF Serving rules: unique names, absolute base paths, default policy latest 1', () => {
    const dup =
      'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" } ' +
      'config { name: "a" base_path: "/b" model_platform: "tensorflow" } }';
    assert.throws(() => parseModelServerConfig(dup), /Illegal to list model a multiple times in config list/);
    assert.throws(
      () => parseModelServerConfig('model_config_list { config { name: "a" base_path: "rel" model_platform: "x" } }'),
      /Expected model a to have an absolute path or URI; got base_path\(\)=rel/,
    );
    const one = parseModelServerConfig(
      'model_config_list { config { name: "a" base_path: "/a" model_platform: "x" } }',
    );
    assert.deepEqual(one.models[0]?.versionPolicy, { kind: 'latest', numVersions: 1 });
  });

  it('reads a decoded ReloadConfigRequest config object (snake or camel case)', () => {
    const config = modelServerConfigFromUnknown({
      modelConfigList: {
        config: [
          {
            name: 'm',
            basePath: '/m',
            modelPlatform: 'tensorflow',
            modelVersionPolicy: { specific: { versions: ['3', 4] } },
            versionLabels: { stable: '3' },
          },
        ],
      },
    });
    assert.deepEqual(config.models[0]?.versionPolicy, { kind: 'specific', versions: [3, 4] });
    assert.deepEqual(config.models[0]?.versionLabels, { stable: 3 });
    assert.throws(() => modelServerConfigFromUnknown({}), /Only ModelConfigList is currently supported/);
  });
});

describe('versions past 2^53-1', () => {
  const big = '9223372036854775807';

  it('are refused in a config file and in a reload object instead of being rounded', () => {
    const text = `model_config_list { config { name: "m" base_path: "/m" model_version_policy { specific { versions: ${big} } } } }`;
    assert.throws(() => parseModelServerConfig(text), /versions.*9223372036854775807 is out of range/);
    const labels = `model_config_list { config { name: "m" base_path: "/m" version_labels { key: "a" value: ${big} } } }`;
    assert.throws(() => parseModelServerConfig(labels), /out of range/);
    const object = {
      model_config_list: {
        config: [{ name: 'm', base_path: '/m', model_version_policy: { specific: { versions: [big] } } }],
      },
    };
    assert.throws(
      () => modelServerConfigFromUnknown(object),
      (err) => err instanceof InvalidArgument && /out of range/.test(err.message),
    );
  });

  it('are skipped as version directories, like names past int64 in TF Serving', async () => {
    const base = await mkdtemp(join(tmpdir(), 'flowserve-bigversion-'));
    try {
      for (const name of ['7', big, '9007199254740991']) await mkdir(join(base, name));
      const dirs = await listVersionDirs(base);
      assert.deepEqual(
        [...dirs.keys()].sort((a, b) => a - b),
        [7, 9007199254740991],
      );
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('are refused in REST paths and gRPC model specs', () => {
    assert.throws(() => parseRestPath('GET', `/v1/models/m/versions/${big}`), /Failed to convert version/);
    assert.throws(() => targetFromSpec({ name: 'm', version: { value: big } }), /out of range/);
  });
});

describe('REST paths with bad percent-encoding', () => {
  // Found by npm run soak: POST /v1/models/str/labels/cg#i%3nn:predict answered 500 "URI malformed".
  it('are INVALID_ARGUMENT naming the segment, not a URIError (HTTP 500)', () => {
    for (const [path, what] of [
      ['/v1/models/str/labels/cg#i%3nn:predict', /version label 'cg#i%3nn'/],
      ['/v1/models/%E0%A4%A/metadata', /model name '%E0%A4%A'/],
    ] as const) {
      assert.throws(
        () => parseRestPath(path.endsWith('predict') ? 'POST' : 'GET', path),
        (err: unknown) =>
          err instanceof InvalidArgument && what.test(err.message) && /percent-encoded/.test(err.message),
      );
    }
    assert.equal(parseRestPath('GET', '/v1/models/caf%C3%A9').selector.name, 'café');
  });
});

describe('BatchingParameters and MonitoringConfig', () => {
  it('reads wrapped and bare values with TF defaults for the rest', () => {
    const p = parseBatchingParameters(`
      max_batch_size { value: 128 }
      batch_timeout_micros { value: 2000 }
      max_enqueued_batches: 100
      num_batch_threads { value: 8 }
      allowed_batch_sizes: 32
      allowed_batch_sizes: 64
      allowed_batch_sizes: 128
      pad_variable_length_inputs: true
    `);
    assert.equal(p.maxBatchSize, 128);
    assert.equal(p.batchTimeoutMicros, 2000);
    assert.equal(p.maxEnqueuedBatches, 100);
    assert.equal(p.numBatchThreads, 8);
    assert.deepEqual(p.allowedBatchSizes, [32, 64, 128]);
    assert.equal(p.padVariableLengthInputs, true);
    assert.equal(p.enableLargeBatchSplitting, false);
    assert.equal(p.maxExecutionBatchSize, 128);
  });

  it('rejects an allowed_batch_sizes list that does not end at max_batch_size', () => {
    assert.throws(
      () => parseBatchingParameters('max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 4'),
      /Last entry in allowed_batch_sizes must match max_batch_size/,
    );
    assert.throws(
      () => parseBatchingParameters('max_batch_sise { value: 8 }', 'b.txt'),
      /b.txt: line 1: unknown field/,
    );
  });

  it('reads the prometheus config with its default path', () => {
    assert.deepEqual(parseMonitoringConfig('prometheus_config { enable: true, path: "/m" }').prometheus, {
      enable: true,
      path: '/m',
    });
    assert.deepEqual(parseMonitoringConfig('prometheus_config { enable: true }').prometheus, {
      enable: true,
      path: '/monitoring/prometheus/metrics',
    });
  });
});

describe('server flags', () => {
  it('has TF Serving defaults', () => {
    const flags = parseServerFlags([]);
    assert.equal(flags.port, 8500);
    assert.equal(flags.restApiPort, 8501);
    assert.equal(flags.host, '127.0.0.1');
    assert.equal(flags.modelName, 'default');
    assert.equal(flags.fileSystemPollWaitSeconds, 1);
    assert.equal(flags.maxNumLoadRetries, 5);
    assert.equal(flags.loadRetryIntervalMicros, 60_000_000);
    assert.equal(flags.enableModelWarmup, true);
    assert.equal(flags.enableBatching, false);
    assert.equal(flags.device, 'cpu');
    assert.ok(flags.numWorkers >= 1);
  });

  it('accepts --flag=value, --flag value and boolean forms', () => {
    const flags = parseServerFlags([
      '--port=9000',
      '--rest_api_port',
      '0',
      '--enable_batching',
      '--enable_model_warmup=false',
      '--allow_version_labels_for_unavailable_models=true',
      '--model_base_path=/models/x',
      '--device=/cpu:0',
    ]);
    assert.equal(flags.port, 9000);
    assert.equal(flags.restApiPort, 0);
    assert.equal(flags.enableBatching, true);
    assert.equal(flags.enableModelWarmup, false);
    assert.equal(flags.allowVersionLabelsForUnavailableModels, true);
    assert.equal(flags.modelBasePath, '/models/x');
  });

  it('security flags: management off, no prefix, no TLS or token by default; each one read and passed on', async () => {
    const defaults = parseServerFlags([]);
    assert.equal(defaults.enableModelManagement, false);
    assert.equal(defaults.restApiSsl, true);
    assert.equal(defaults.sslConfigFile, '');
    assert.equal(defaults.authTokenFile, '');
    assert.equal(defaults.modelBasePathPrefix, '');
    const flags = parseServerFlags([
      '--model_base_path=/models/x',
      '--enable_model_management',
      '--rest_api_ssl=false',
      '--ssl_config_file=/etc/ssl.config',
      '--auth_token_file=/etc/token',
      '--model_base_path_prefix=/models',
    ]);
    assert.equal(flags.enableModelManagement, true);
    assert.equal(flags.restApiSsl, false);
    assert.equal(flags.sslConfigFile, '/etc/ssl.config');
    assert.equal(flags.authTokenFile, '/etc/token');
    const options = await buildCoreOptions(flags);
    assert.equal(options.enableModelManagement, true);
    assert.equal(options.modelBasePathPrefix, '/models');
    assert.equal((await buildCoreOptions({ ...defaults, modelBasePath: '/m' })).enableModelManagement, false);
  });

  it('--calling_thread_runs reaches the core options (on by default)', async () => {
    assert.equal((await buildCoreOptions(parseServerFlags(['--model_base_path=/m']))).callingThreadRuns, true);
    const off = parseServerFlags(['--model_base_path=/m', '--calling_thread_runs=false']);
    assert.equal((await buildCoreOptions(off)).callingThreadRuns, false);
  });

  it('--js_dense_runs reaches the core options (on by default)', async () => {
    assert.equal((await buildCoreOptions(parseServerFlags(['--model_base_path=/m']))).jsDenseRuns, true);
    const off = parseServerFlags(['--model_base_path=/m', '--js_dense_runs=false']);
    assert.equal((await buildCoreOptions(off)).jsDenseRuns, false);
  });

  it('--chunked_runs reaches the core options (on by default)', async () => {
    assert.equal((await buildCoreOptions(parseServerFlags(['--model_base_path=/m']))).chunkedRuns, true);
    const off = parseServerFlags(['--model_base_path=/m', '--chunked_runs=false']);
    assert.equal((await buildCoreOptions(off)).chunkedRuns, false);
  });

  it('--drain_delay_seconds: 0 (drain at once) by default, a count of seconds, never negative', () => {
    assert.equal(parseServerFlags([]).drainDelaySeconds, 0);
    assert.equal(parseServerFlags(['--drain_delay_seconds=5']).drainDelaySeconds, 5);
    assert.throws(
      () => parseServerFlags(['--drain_delay_seconds=-1']),
      /--drain_delay_seconds must be at least 0; got -1/,
    );
  });

  it('names the flag in errors', () => {
    assert.throws(() => parseServerFlags(['--port=abc']), /invalid value for --port: 'abc'/);
    assert.throws(() => parseServerFlags(['--prot=1']), /unknown option '--prot=1'/);
    assert.throws(() => parseServerFlags(['--device=tpu']), /invalid value for --device: 'tpu'/);
    assert.throws(() => parseServerFlags(['--enable_batching=maybe']), /--enable_batching: 'maybe'/);
    assert.throws(
      () => parseServerFlags(['--batching_parameters_file=/b']),
      /--batching_parameters_file is set without --enable_batching/,
    );
  });

  it('buildCoreOptions reads the files the flags name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flowserve-flags-'));
    try {
      await writeFile(
        join(dir, 'models.config'),
        'model_config_list { config { name: "m" base_path: "/m" model_platform: "tensorflow" } }',
      );
      await writeFile(join(dir, 'batching.config'), 'max_batch_size { value: 16 }');
      await writeFile(join(dir, 'monitoring.config'), 'prometheus_config { enable: true }');
      const flags = parseServerFlags([
        `--model_config_file=${join(dir, 'models.config')}`,
        '--enable_batching',
        `--batching_parameters_file=${join(dir, 'batching.config')}`,
        `--monitoring_config_file=${join(dir, 'monitoring.config')}`,
      ]);
      const options = await buildCoreOptions(flags);
      assert.equal(options.modelConfig.models[0]?.name, 'm');
      assert.equal(options.batching?.maxBatchSize, 16);
      assert.equal(options.monitoring?.prometheus.enable, true);
      const single = await buildCoreOptions(parseServerFlags(['--model_base_path=/models/a', '--model_name=a']));
      assert.equal(single.modelConfig.models[0]?.basePath, '/models/a');
      assert.equal(single.batching, undefined);
      await assert.rejects(
        buildCoreOptions(parseServerFlags([])),
        /Both server_options.model_base_path and server_options.model_config_file are empty!/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SSLConfig', () => {
  it("reads TF Serving's fields and refuses what no server could use, naming the file", () => {
    assert.throws(
      () => parseSslConfig('server_key: "k"', 'ssl.config'),
      /ssl.config: SSLConfig needs both server_key and server_cert/,
    );
    assert.throws(
      () => parseSslConfig('server_key: "k"\nserver_cert: "c"\nclient_verify: true', 'ssl.config'),
      /ssl.config: client_verify is true but custom_ca is empty/,
    );
    assert.throws(
      () => parseSslConfig('server_key: "k"\nserver_cert: "c"', 'ssl.config'),
      /ssl.config: the PEM in SSLConfig cannot be used/,
    );
    assert.throws(
      () => parseSslConfig('server_keys: "k"', 'ssl.config'),
      /line 1: unknown field 'server_keys' in SSLConfig/,
    );
  });
});
