/**
 * deploy/kserve: the `flowserve` ClusterServingRuntime and the InferenceService examples, validated strictly against
 * KServe's own CRDs (../shared/fixtures/kserve/, read in place) so that a misspelt field fails; the runtime's
 * arguments parsed with flowserve's flag parser; and the runtime's command + arguments run on this host for every
 * model format it claims, each served over the protocols it lists (v1 and v2, REST and gRPC).
 *
 * Swaps on this host, as in image-entrypoint.test.ts: /mnt/models → a temp directory, --host → 127.0.0.1,
 * --port → 0, --rest_api_port → a free port; /etc/flowserve/metrics.config → the checkout's file the image copies.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { createClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { parseMonitoringConfig, parseServerFlags, type ServerFlags } from '../../src/serving/config/index.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';
import { referenceScores, tempBase, writeClassifier } from '../serving/apis/fixtures.js';
import { crdValidators, type CrdValidator } from './crd-schema.js';
import { freePort, hostPathOfImageFile, runImageCommand, type RunningCommand } from './image-command.js';
import { KSERVE_FIXTURES, REPOSITORY_ROOT } from './paths.js';

const KSERVE_DIR = join(REPOSITORY_ROOT, 'deploy', 'kserve');

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
}
interface Runtime {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    annotations?: Record<string, string>;
    supportedModelFormats: { name: string; version?: string; autoSelect?: boolean }[];
    protocolVersions: string[];
    containers: Container[];
  };
}
interface InferenceService {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    predictor: {
      model: { modelFormat: { name: string; version?: string }; runtime?: string; storageUri: string };
    };
  };
}

function readYaml(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => document.toJS() as Record<string, unknown>);
}

const runtimeValidator = crdValidators(join(KSERVE_FIXTURES, 'serving.kserve.io_clusterservingruntimes.yaml'));
const isvcValidators = crdValidators(join(KSERVE_FIXTURES, 'serving.kserve.io_inferenceservices.yaml'));

function problemsOf(object: Record<string, unknown>): string[] {
  const validators: CrdValidator[] = [...runtimeValidator, ...isvcValidators];
  const validator = validators.find((v) => v.apiVersion === object.apiVersion && v.kind === object.kind);
  if (!validator) return [`no CRD serves ${String(object.apiVersion)} ${String(object.kind)}`];
  return validator.problems(object);
}

const RUNTIME = parse(readFileSync(join(KSERVE_DIR, 'cluster-serving-runtime.yaml'), 'utf8')) as Runtime;
const ISVC_FILES = ['inference-service-s3.yaml', 'inference-service-pvc.yaml'];

/** The runtime's one container, `{{.Name}}` filled in as KServe does. */
function runtimeCommand(modelName: string): { command: string[]; args: string[] } {
  assert.equal(RUNTIME.spec.containers.length, 1);
  const container = RUNTIME.spec.containers[0] as Container;
  assert.ok(container.command, 'the runtime names its command');
  return { command: container.command, args: (container.args ?? []).map((a) => a.replaceAll('{{.Name}}', modelName)) };
}

function runtimeFlags(modelName: string): ServerFlags {
  const { command, args } = runtimeCommand(modelName);
  assert.deepEqual(command, ['flowserve', 'serve']);
  return parseServerFlags(args);
}

describe('deploy/kserve against KServe’s CRDs', () => {
  test('the runtime and both InferenceServices are valid, strictly, for KServe’s CRD schemas', () => {
    assert.deepEqual(problemsOf(RUNTIME as unknown as Record<string, unknown>), []);
    for (const file of ISVC_FILES) {
      const objects = readYaml(join(KSERVE_DIR, file));
      assert.equal(objects.length, 1, file);
      assert.deepEqual(problemsOf(objects[0] as Record<string, unknown>), [], file);
    }
  });

  test('the strict schemas accept KServe’s own TF Serving and Triton runtimes, so they are not stricter than KServe', () => {
    for (const file of ['kserve-tensorflow-serving.yaml', 'kserve-tritonserver.yaml']) {
      assert.deepEqual(problemsOf(parse(readFileSync(join(KSERVE_FIXTURES, file), 'utf8'))), [], file);
    }
  });

  test('a misspelt field, a wrong type or an unknown apiVersion fails validation', () => {
    const runtime = () => structuredClone(RUNTIME) as unknown as Record<string, unknown> & Runtime;
    const isvc = () =>
      readYaml(join(KSERVE_DIR, 'inference-service-s3.yaml'))[0] as Record<string, unknown> & InferenceService;
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        (() => {
          const r = runtime();
          (r.spec as unknown as Record<string, unknown>).supportedModelFormat = r.spec.supportedModelFormats;
          return r;
        })(),
        /^\/spec: must NOT have additional properties 'supportedModelFormat'/,
      ],
      [
        (() => {
          const r = runtime();
          Object.assign(r.spec.containers[0] as Container, { arg: ['--port=9000'] });
          return r;
        })(),
        /^\/spec\/containers\/0: must NOT have additional properties 'arg'/,
      ],
      [
        (() => {
          const r = runtime();
          Object.assign(r.spec.supportedModelFormats[0] as object, { priority: 'high' });
          return r;
        })(),
        /^\/spec\/supportedModelFormats\/0\/priority: must be integer/,
      ],
      [
        (() => {
          const i = isvc();
          const model = i.spec.predictor.model as unknown as Record<string, unknown>;
          model.storageURI = model.storageUri;
          delete model.storageUri;
          return i;
        })(),
        /^\/spec\/predictor\/model: must NOT have additional properties 'storageURI'/,
      ],
      [
        (() => {
          const i = isvc();
          Object.assign(i.metadata, { lables: { a: 'b' } });
          return i;
        })(),
        /^\/metadata: unknown field 'lables'/,
      ],
      [{ ...isvc(), apiVersion: 'serving.kserve.io/v1' }, /no CRD serves serving\.kserve\.io\/v1 InferenceService/],
    ];
    for (const [object, expected] of cases) {
      const problems = problemsOf(object);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${String(expected)}: ${JSON.stringify(problems)}`,
      );
    }
  });

  test('the runtime is `flowserve`, claims onnx and tensorflow 1 and 2, and speaks v1, grpc-v1, v2 and grpc-v2', () => {
    assert.equal(RUNTIME.metadata.name, 'flowserve');
    assert.deepEqual(
      RUNTIME.spec.supportedModelFormats.map((format) => `${format.name} ${format.version ?? ''}`).sort(),
      ['onnx 1', 'tensorflow 1', 'tensorflow 2'],
    );
    assert.deepEqual([...RUNTIME.spec.protocolVersions].sort(), ['grpc-v1', 'grpc-v2', 'v1', 'v2']);
  });

  test('its arguments are flowserve flags with KServe’s conventions: /mnt/models, HTTP 8080, gRPC 9000', () => {
    const flags = runtimeFlags('mnist');
    assert.equal(flags.modelName, 'mnist');
    assert.equal(flags.modelBasePath, '/mnt/models');
    assert.equal(flags.restApiPort, 8080);
    assert.equal(flags.port, 9000);
    assert.equal(flags.host, '0.0.0.0', 'KServe’s queue proxy and probes reach the container on the pod IP');
    const { version } = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal((RUNTIME.spec.containers[0] as Container).image, `flowserve:${version}`);
  });

  test('Prometheus finds the metrics where the annotations say: the image’s monitoring config, on the HTTP port', () => {
    const flags = runtimeFlags('mnist');
    const config = parseMonitoringConfig(readFileSync(hostPathOfImageFile(flags.monitoringConfigFile), 'utf8'));
    assert.equal(config.prometheus.enable, true);
    assert.equal(RUNTIME.spec.annotations?.['prometheus.kserve.io/path'], config.prometheus.path);
    assert.equal(Number(RUNTIME.spec.annotations?.['prometheus.kserve.io/port']), flags.restApiPort);
  });

  test('the InferenceServices use storageUri s3:// and pvc://, the flowserve runtime and a format it claims', () => {
    const schemes = ISVC_FILES.map((file) => {
      const isvc = readYaml(join(KSERVE_DIR, file))[0] as unknown as InferenceService;
      const { model } = isvc.spec.predictor;
      assert.equal(model.runtime, 'flowserve', file);
      const claimed = RUNTIME.spec.supportedModelFormats.filter(
        (format) =>
          format.name === model.modelFormat.name &&
          (model.modelFormat.version === undefined || format.version === model.modelFormat.version),
      );
      assert.ok(claimed.length > 0, `${file}: ${JSON.stringify(model.modelFormat)} is claimed by the runtime`);
      return new URL(model.storageUri).protocol;
    });
    assert.deepEqual(schemes.sort(), ['pvc:', 's3:']);
  });
});

describe('the flowserve runtime’s command + arguments, run on this host', () => {
  const base = tempBase('flowserve-kserve-');
  const running: RunningCommand[] = [];
  after(async () => {
    await Promise.all(running.map((command) => command.stop()));
    rmSync(base, { recursive: true, force: true });
  });

  /** Starts the runtime's container command for `name`, with /mnt/models at `modelDir` (swaps of the header). */
  async function startRuntime(name: string, modelDir: string): Promise<{ grpc: number; rest: number }> {
    const { command, args } = runtimeCommand(name);
    const restPort = await freePort();
    const onHost = args.map((arg) => {
      if (arg.startsWith('--host=')) return '--host=127.0.0.1';
      if (arg.startsWith('--port=')) return '--port=0';
      if (arg.startsWith('--rest_api_port=')) return `--rest_api_port=${restPort}`;
      if (arg === '--model_base_path=/mnt/models') return `--model_base_path=${modelDir}`;
      if (arg.startsWith('--monitoring_config_file=')) {
        return `--monitoring_config_file=${hostPathOfImageFile(arg.slice(arg.indexOf('=') + 1))}`;
      }
      return arg;
    });
    const server = runImageCommand(command[0] as string, [...command.slice(1), ...onHost]);
    running.push(server);
    return server.ports();
  }

  async function v2Metadata(rest: number, name: string) {
    const client = createClient({ server: `127.0.0.1:${rest}`, api: 'rest', protocol: 'v2' });
    try {
      assert.equal(await client.serverReady(), true);
      return await client.modelMetadata({ name });
    } finally {
      client.close();
    }
  }

  test('onnx: v1 REST and gRPC predict, v2 REST and gRPC infer, and Prometheus metrics at /metrics', async () => {
    const modelDir = join(base, 'onnx', 'mnt', 'models');
    writeClassifier(modelDir, 1);
    const { grpc, rest } = await startRuntime('classifier', modelDir);
    const x = [1, 0.5, -2, 3];
    const expected = referenceScores(x, 1);
    const close = (actual: ArrayLike<number>, what: string) =>
      expected.forEach((value, i) => assert.ok(Math.abs((actual[i] as number) - value) < 1e-5, `${what}[${i}]`));

    const v1Rest = await fetch(`http://127.0.0.1:${rest}/v1/models/classifier:predict`, {
      method: 'POST',
      body: JSON.stringify({ signature_name: 'predict_probs', instances: [x] }),
    });
    assert.equal(v1Rest.status, 200);
    close(((await v1Rest.json()) as { predictions: number[][] }).predictions[0] as number[], 'v1 REST');

    const v1Grpc = createClient({ server: `127.0.0.1:${grpc}` });
    try {
      const result = await v1Grpc.predict(
        { name: 'classifier', signatureName: 'predict_probs' },
        { x: HostTensor.from('float32', x, [1, 4]) },
      );
      close(result.outputs.probabilities?.data as Float32Array, 'v1 gRPC');
    } finally {
      v1Grpc.close();
    }

    const metadata = await v2Metadata(rest, 'classifier');
    const input = metadata.inputs[0]?.name as string;
    for (const [api, server] of [
      ['rest', `127.0.0.1:${rest}`],
      ['grpc', `127.0.0.1:${grpc}`],
    ] as const) {
      const client = createClient({ server, api, protocol: 'v2' });
      try {
        const result = await client.infer({ name: 'classifier' }, { [input]: HostTensor.from('float32', x, [1, 4]) });
        const scores = Object.values(result.outputs).find((tensor) => tensor.shape.join() === '1,3');
        assert.ok(scores, `v2 ${api}: a [1,3] output among ${Object.keys(result.outputs).join(', ')}`);
        close(scores.data as Float32Array, `v2 ${api}`);
      } finally {
        client.close();
      }
    }

    const metrics = await fetch(`http://127.0.0.1:${rest}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(
      await metrics.text(),
      /^:tensorflow:serving:request_count\{model_name="classifier",status="OK"\} [1-9]/m,
    );
  });

  for (const [format, fixture] of [
    ['tensorflow 1', 'saved_model_half_plus_two_cpu'],
    ['tensorflow 2', 'saved_model_half_plus_two_tf2_cpu'],
  ] as const) {
    test(`${format}: a SavedModel at /mnt/models answers v1 REST and gRPC predict and v2 REST infer`, async () => {
      const modelDir = join(base, fixture, 'mnt', 'models');
      cpSync(join(TF_SERVING_FIXTURES, fixture), modelDir, { recursive: true });
      const { grpc, rest } = await startRuntime('half-plus-two', modelDir);

      // y = 0.5 x + 2
      const v1Rest = await fetch(`http://127.0.0.1:${rest}/v1/models/half-plus-two:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances: [1, 2, 5] }),
      });
      assert.deepEqual(await v1Rest.json(), { predictions: [2.5, 3, 4.5] });

      const v1Grpc = createClient({ server: `127.0.0.1:${grpc}` });
      try {
        const result = await v1Grpc.predict({ name: 'half-plus-two' }, { x: HostTensor.from('float32', [4], [1]) });
        assert.deepEqual([...(result.outputs.y?.data as Float32Array)], [4]);
      } finally {
        v1Grpc.close();
      }

      const metadata = await v2Metadata(rest, 'half-plus-two');
      const v2 = createClient({ server: `127.0.0.1:${rest}`, api: 'rest', protocol: 'v2' });
      try {
        const input = metadata.inputs[0];
        assert.ok(input);
        const result = await v2.infer(
          { name: 'half-plus-two' },
          { [input.name]: HostTensor.from('float32', [0, 10], [2, 1]) },
        );
        const output = Object.values(result.outputs)[0];
        assert.deepEqual([...(output?.data as Float32Array)], [2, 7]);
      } finally {
        v2.close();
      }
    });
  }
});
