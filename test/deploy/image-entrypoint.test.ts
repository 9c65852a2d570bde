/**
 * The image's exact commands, run on this host (no container engine runs here): the Containerfile's ENTRYPOINT +
 * CMD, and KServe's own `kserve-tensorflow-serving` runtime (command + args, read from
 * ../shared/fixtures/kserve/) with the flowserve image swapped in. Each serves a model over REST predict and gRPC.
 *
 * What differs from the pod, and why: the model path (/models/model, /mnt/models) becomes a temp directory holding
 * the model; --host becomes 127.0.0.1 (tests listen on loopback only); --port becomes 0 (any free port) and
 * --rest_api_port a port found free here, since 8500/8501/9000/8080 may be taken on a shared host and
 * --rest_api_port=0 means "no REST". Each swap replaces that flag's value in place (or appends the flag where the
 * image relies on its default), and the first tests pin what the unswapped arguments mean.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { serveArgumentsOf } from '../../src/cli/tensorflow-model-server-args.js';
import { createClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { parseServerFlags } from '../../src/serving/config/index.js';
import { referenceScores, tempBase, writeClassifier } from '../serving/apis/fixtures.js';
import { TF_SERVING_FIXTURES } from '../helpers/tf-serving-fixtures.js';
import { execForm, lastOf } from './containerfile.js';
import { freePort, runImageCommand, runtimeStage, type RunningCommand } from './image-command.js';
import { KSERVE_FIXTURES } from './paths.js';

interface ContainerSpec {
  command?: string[];
  args?: string[];
}

/** The runtime stage's ENTRYPOINT, in exec form. */
function imageEntrypoint(): string[] {
  const entrypoint = lastOf(runtimeStage(), 'ENTRYPOINT');
  assert.ok(entrypoint, 'the runtime stage has an ENTRYPOINT');
  return execForm(entrypoint);
}

/** The image's command line: ENTRYPOINT then CMD, both in exec form. */
function imageCommandLine(): string[] {
  const cmd = lastOf(runtimeStage(), 'CMD');
  return [...imageEntrypoint(), ...(cmd ? execForm(cmd) : [])];
}

/** KServe's TF Serving runtime container, `{{.Name}}` filled in as KServe fills it (the InferenceService's name). */
function kserveTensorflowServing(modelName: string): { command: string; args: string[] } {
  const runtime = parse(readFileSync(join(KSERVE_FIXTURES, 'kserve-tensorflow-serving.yaml'), 'utf8')) as {
    spec: { containers: ContainerSpec[] };
  };
  const container = runtime.spec.containers[0] as ContainerSpec;
  assert.equal(container.command?.length, 1, 'one command, the server binary');
  return {
    command: container.command?.[0] as string,
    args: (container.args ?? []).map((arg) => arg.replaceAll('{{.Name}}', modelName)),
  };
}

/** `args` with `--NAME=value`, replacing the flag's value where it is given (`--NAME=…`), appending it otherwise. */
function withFlag(args: readonly string[], name: string, value: string | number): string[] {
  assert.ok(!args.includes(`--${name}`), `--${name} is given as --${name}=VALUE`);
  const given = args.some((arg) => arg.startsWith(`--${name}=`));
  const flag = `--${name}=${value}`;
  return given ? args.map((arg) => (arg.startsWith(`--${name}=`) ? flag : arg)) : [...args, flag];
}

/** The swaps of the header: model path → `modelDir`, loopback, free ports. */
async function onThisHost(args: readonly string[], containerModelPath: string, modelDir: string): Promise<string[]> {
  const swapped = args.map((arg) => arg.replace(`=${containerModelPath}`, `=${modelDir}`));
  assert.notDeepEqual(swapped, args, `the arguments name ${containerModelPath}`);
  return withFlag(withFlag(withFlag(swapped, 'host', '127.0.0.1'), 'port', 0), 'rest_api_port', await freePort());
}

async function restPredict(port: number, model: string, body: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/models/${model}:predict`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as unknown;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

function assertClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((value, i) =>
    assert.ok(Math.abs(value - (expected[i] as number)) < 1e-5, `${what}[${i}]: ${value} vs ${expected[i]}`),
  );
}

describe('the image’s commands, as the image and KServe give them', () => {
  test('the Containerfile’s ENTRYPOINT + CMD is `flowserve serve` on 0.0.0.0:8500 (gRPC) and 8501 (REST)', () => {
    const [command, subcommand, ...args] = imageCommandLine();
    assert.deepEqual([command, subcommand], ['flowserve', 'serve']);
    const flags = parseServerFlags(args);
    assert.equal(flags.host, '0.0.0.0');
    assert.equal(flags.port, 8500);
    assert.equal(flags.restApiPort, 8501);
    assert.equal(flags.modelName, 'model');
    assert.equal(flags.modelBasePath, '/models/model');
  });

  test('arguments given to the container (Kubernetes `args`) replace CMD and may override the ENTRYPOINT’s --host', () => {
    const [, , ...entrypointArgs] = imageEntrypoint();
    const flags = parseServerFlags([...entrypointArgs, '--model_config_file=/etc/flowserve/models.config']);
    assert.equal(flags.host, '0.0.0.0', 'without --host the image listens on every interface');
    assert.equal(parseServerFlags([...entrypointArgs, '--host=::']).host, '::', 'the last --host wins');
  });

  test('KServe’s tensorflow-serving arguments mean what TF Serving makes of them, all honoured', () => {
    const { command, args } = kserveTensorflowServing('half-plus-two');
    assert.equal(command, '/usr/bin/tensorflow_model_server');
    const flags = parseServerFlags(serveArgumentsOf(args));
    assert.equal(flags.modelName, 'half-plus-two');
    assert.equal(flags.port, 9000);
    assert.equal(flags.restApiPort, 8080);
    assert.equal(flags.modelBasePath, '/mnt/models');
    assert.equal(flags.restApiTimeoutInMs, 60000);
    assert.equal(flags.host, '0.0.0.0', 'TF Serving binds every interface; so does tensorflow_model_server');
    assert.equal(parseServerFlags(serveArgumentsOf([...args, '--host=127.0.0.1'])).host, '127.0.0.1');
  });

  describe('run on this host', () => {
    const base = tempBase('flowserve-image-');
    const running: RunningCommand[] = [];
    after(async () => {
      await Promise.all(running.map((command) => command.stop()));
      rmSync(base, { recursive: true, force: true });
    });

    test('ENTRYPOINT + CMD serves the model at /models/model over REST predict and gRPC', async () => {
      const modelDir = join(base, 'models', 'model');
      writeClassifier(modelDir, 1);
      const [command, ...args] = imageCommandLine();
      const server = runImageCommand(command as string, await onThisHost(args, '/models/model', modelDir));
      running.push(server);
      const { grpc, rest } = await server.ports();
      const x = [0.5, -1, 2, 0.25];
      const expected = referenceScores(x, 1);

      const body = (await restPredict(rest, 'model', { signature_name: 'predict_probs', instances: [x] })) as {
        predictions: number[][];
      };
      assertClose(body.predictions[0] as number[], expected, 'REST predictions');

      const client = createClient({ server: `127.0.0.1:${grpc}` });
      try {
        const result = await client.predict(
          { name: 'model', signatureName: 'predict_probs' },
          { x: HostTensor.from('float32', x, [1, 4]) },
        );
        assertClose([...(result.outputs.probabilities?.data as Float32Array)], expected, 'gRPC probabilities');
      } finally {
        client.close();
      }
      assert.equal(await server.stop(), 0, 'SIGTERM drains and exits 0');
    });

    test('KServe’s tensorflow-serving command + args serve a TensorFlow SavedModel at /mnt/models', async () => {
      const mntModels = join(base, 'mnt', 'models');
      // What KServe's storage initializer leaves at /mnt/models: the model's version directories.
      cpSync(join(TF_SERVING_FIXTURES, 'saved_model_half_plus_two_cpu'), mntModels, { recursive: true });
      const { command, args } = kserveTensorflowServing('half-plus-two');
      const server = runImageCommand(command, await onThisHost(args, '/mnt/models', mntModels));
      running.push(server);
      const { grpc, rest } = await server.ports();

      // y = 0.5 x + 2
      const body = (await restPredict(rest, 'half-plus-two', { instances: [1, 2, 5] })) as { predictions: number[] };
      assert.deepEqual(body.predictions, [2.5, 3, 4.5]);

      const client = createClient({ server: `127.0.0.1:${grpc}` });
      try {
        const result = await client.predict({ name: 'half-plus-two' }, { x: HostTensor.from('float32', [3, -4], [2]) });
        assert.deepEqual([...(result.outputs.y?.data as Float32Array)], [3.5, 0]);
        assert.equal(result.model.version, 123);
      } finally {
        client.close();
      }
      assert.equal(await server.stop(), 0, 'SIGTERM drains and exits 0');
    });
  });
});
