/**
 * deploy/kubernetes, rendered by `kubectl kustomize` as `kubectl apply -k` would apply it: every object valid for
 * its Kubernetes schema (kubernetes-models, unknown fields refused), and the manifests agreeing with each other and
 * with flowserve: the container's arguments parse with flowserve's own flag parser, the probes hit the readiness and
 * liveness endpoints on the REST port, the Service's named ports reach the container's, the ConfigMap's files parse
 * with flowserve's readers and sit where the flags point, SIGKILL cannot cut a drain short.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import {
  parseBatchingParameters,
  parseModelServerConfig,
  parseMonitoringConfig,
  parseServerFlags,
  validateBatchingParameters,
  validateModelServerConfig,
  type ServerFlags,
} from '../../src/serving/config/index.js';
import { ServingMetrics } from '../../src/serving/metrics/serving-metrics.js';
import { execForm, lastOf } from './containerfile.js';
import { runtimeStage } from './image-command.js';
import { kubernetesProblems, type KubernetesObject } from './kubernetes-validation.js';
import { REPOSITORY_ROOT } from './paths.js';

const run = promisify(execFile);
const BASE = join(REPOSITORY_ROOT, 'deploy', 'kubernetes', 'base');
const QUEUE_OVERLAY = join(REPOSITORY_ROOT, 'deploy', 'kubernetes', 'overlays', 'queue-metric-autoscaling');

/** Why the kustomize tests cannot run here, or undefined when kubectl answers. */
async function kubectlMissing(): Promise<string | undefined> {
  try {
    await run('kubectl', ['version', '--client'], { timeout: 20_000 });
    return undefined;
  } catch (err) {
    return `kubectl is not usable here (${(err as Error).message.split('\n')[0]}); install it to render the manifests`;
  }
}
const SKIP = await kubectlMissing();

async function render(dir: string): Promise<KubernetesObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { timeout: 60_000, maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((document) => {
    if (document.errors.length > 0) throw new Error(`${dir}: ${document.errors[0]?.message}`);
    return document.toJS() as KubernetesObject;
  });
}

// The shapes the semantic checks read (validated by kubernetesProblems first).
interface HttpGet {
  path: string;
  port: string | number;
}
interface Probe {
  httpGet?: HttpGet;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string } }[];
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
}

function only(objects: KubernetesObject[], kind: string): KubernetesObject {
  const found = objects.filter((object) => object.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as KubernetesObject;
}

/** The flags the container runs with: the image's ENTRYPOINT (after `flowserve serve`), then the pod's args. */
function containerFlags(container: Container): ServerFlags {
  assert.equal(container.command, undefined, 'the image’s ENTRYPOINT runs (flowserve serve --host=0.0.0.0)');
  const entrypoint = execForm(lastOf(runtimeStage(), 'ENTRYPOINT') as NonNullable<ReturnType<typeof lastOf>>);
  return parseServerFlags([...entrypoint.slice(2), ...(container.args ?? [])]);
}

function portNumber(container: Container, port: string | number): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port);
  assert.ok(named, `container port ${port} exists`);
  return named.containerPort;
}

/** Kubernetes CPU quantities: "2", "500m". */
function cpus(quantity: string | undefined): number {
  assert.ok(quantity !== undefined, 'a CPU quantity');
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('deploy/kubernetes rendered by kubectl kustomize', { skip: SKIP }, () => {
  test('every object of the base and the overlay is valid for its Kubernetes schema', async () => {
    for (const dir of [BASE, QUEUE_OVERLAY]) {
      const objects = await render(dir);
      assert.deepEqual(
        objects.map((object) => object.kind).sort(),
        ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service'],
        dir,
      );
      assert.deepEqual(objects.flatMap(kubernetesProblems), [], dir);
    }
  });

  test('the validation refuses a misspelt field, a wrong type, a missing field and an unknown kind', async () => {
    const deployment = only(await render(BASE), 'Deployment');
    const broken = (edit: (spec: DeploymentSpec) => void): KubernetesObject => {
      const copy = structuredClone(deployment);
      edit(copy.spec as DeploymentSpec);
      return copy;
    };
    const container = (spec: DeploymentSpec) => spec.template.spec.containers[0] as Container;
    const cases: [KubernetesObject, RegExp][] = [
      [
        broken((spec) => {
          const probe = container(spec).readinessProbe as unknown as { httpGet: Record<string, unknown> };
          probe.httpGet.paht = probe.httpGet.path;
          delete probe.httpGet.path;
        }),
        /unknown field spec\.template\.spec\.containers\[0\]\.readinessProbe\.httpGet\.paht/,
      ],
      [broken((spec) => Object.assign(spec, { replica: 2 })), /unknown field spec\.replica$/],
      [
        broken((spec) => Object.assign(container(spec).securityContext ?? {}, { readOnlyRootFileSystem: true })),
        /unknown field .*securityContext\.readOnlyRootFileSystem/,
      ],
      [broken((spec) => Object.assign(spec, { replicas: '2' })), /must be integer/],
      [broken((spec) => delete (container(spec) as Partial<Container>).name), /must have required property name/],
      [{ ...deployment, apiVersion: 'apps/v1beta1' }, /unknown apiVersion\/kind apps\/v1beta1 Deployment/],
      [{ ...deployment, kind: 'Deploymnet' }, /unknown apiVersion\/kind/],
    ];
    for (const [object, expected] of cases) {
      const problems = kubernetesProblems(object);
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `${String(expected)}: ${JSON.stringify(problems)}`,
      );
    }
  });

  test('the Deployment: ≥ 2 replicas, probes on the REST port, preStop then a drain shorter than the grace period', async () => {
    const deployment = only(await render(BASE), 'Deployment');
    const spec = deployment.spec as DeploymentSpec;
    assert.ok(spec.replicas >= 2, `${spec.replicas} replicas`);
    assert.ok(matches(spec.selector.matchLabels, spec.template.metadata.labels), 'the selector picks its own pods');
    const pod = spec.template.spec;
    assert.equal(pod.containers.length, 1);
    const container = pod.containers[0] as Container;
    const flags = containerFlags(container);

    assert.equal(flags.host, '0.0.0.0', 'listens on the pod IP, where probes and the Service reach it');
    assert.equal(portNumber(container, 'grpc'), flags.port, 'the grpc port is the one --port opens');
    assert.equal(portNumber(container, 'http'), flags.restApiPort, 'the http port is the one --rest_api_port opens');

    for (const [probe, path] of [
      [container.readinessProbe, '/v2/health/ready'],
      [container.livenessProbe, '/v2/health/live'],
      [container.startupProbe, '/v2/health/live'],
    ] as const) {
      assert.equal(probe?.httpGet?.path, path);
      assert.equal(portNumber(container, probe?.httpGet?.port as string), flags.restApiPort, `${path} on REST`);
    }

    const preStop = container.lifecycle?.preStop;
    const sleepSeconds =
      preStop?.sleep?.seconds ?? Number(preStop?.exec?.command.join(' ').match(/^sleep (\d+)$/)?.[1]);
    assert.ok(sleepSeconds > 0, `preStop sleeps before SIGTERM: ${JSON.stringify(preStop)}`);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    assert.ok(
      grace > sleepSeconds + flags.drainTimeoutSeconds,
      `terminationGracePeriodSeconds ${grace} > preStop ${sleepSeconds} s + --drain_timeout_seconds ${flags.drainTimeoutSeconds}`,
    );

    const limits = container.resources?.limits ?? {};
    const requests = container.resources?.requests ?? {};
    for (const resource of ['cpu', 'memory']) {
      assert.ok(requests[resource] && limits[resource], `${resource} request and limit`);
    }
    assert.ok(flags.numWorkers <= cpus(limits.cpu), `--num_workers=${flags.numWorkers} within ${limits.cpu} CPUs`);
  });

  test('the pod runs as uid 1000, non-root, read-only root, no capabilities; /tmp is an emptyDir', async () => {
    const pod = (only(await render(BASE), 'Deployment').spec as DeploymentSpec).template.spec;
    const container = pod.containers[0] as Container;
    const security = { ...pod.securityContext, ...container.securityContext };
    assert.equal(security.runAsNonRoot, true);
    assert.equal(security.runAsUser, 1000);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL']);
    const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
    assert.ok(tmp, '/tmp is mounted (model cache, TensorFlow imports)');
    assert.ok(pod.volumes?.find((volume) => volume.name === tmp.name)?.emptyDir, '/tmp is an emptyDir');
  });

  test('the ConfigMap holds the files the flags name, and flowserve’s own readers accept them', async () => {
    const objects = await render(BASE);
    const deployment = only(objects, 'Deployment');
    const pod = (deployment.spec as DeploymentSpec).template.spec;
    const container = pod.containers[0] as Container;
    const flags = containerFlags(container);
    const configMap = only(objects, 'ConfigMap');
    const data = configMap.data as Record<string, string>;

    /** The ConfigMap key a flag's path names, through the container's mount of the ConfigMap. */
    const keyOf = (path: string): string => {
      const mount = container.volumeMounts?.find((m) => posix.dirname(path) === m.mountPath);
      assert.ok(mount, `${path} is under a mount`);
      const volume = pod.volumes?.find((v) => v.name === mount.name);
      assert.equal(volume?.configMap?.name, configMap.metadata.name, `${path} comes from the ConfigMap`);
      const key = posix.basename(path);
      assert.ok(key in data, `the ConfigMap has ${key}`);
      return key;
    };

    const models = validateModelServerConfig(
      parseModelServerConfig(data[keyOf(flags.modelConfigFile)] as string, flags.modelConfigFile),
    );
    assert.ok(models.models.length > 0, 'at least one model');
    assert.ok(flags.enableBatching);
    const batching = validateBatchingParameters(
      parseBatchingParameters(data[keyOf(flags.batchingParametersFile)] as string, flags.batchingParametersFile),
    );
    assert.ok(batching.numBatchThreads <= flags.numWorkers, 'no more batch threads than workers to run them');
    const monitoring = parseMonitoringConfig(data[keyOf(flags.monitoringConfigFile)] as string);
    assert.equal(monitoring.prometheus.enable, true);
    const annotations = (deployment.spec as DeploymentSpec).template.metadata.annotations ?? {};
    assert.equal(annotations['prometheus.io/path'], monitoring.prometheus.path, 'Prometheus scrapes that path');
    assert.equal(Number(annotations['prometheus.io/port']), flags.restApiPort, 'on the REST port');
  });

  test('the Service names its ports grpc (h2c) and http and reaches the pods’ ports of those names', async () => {
    const objects = await render(BASE);
    const service = only(objects, 'Service');
    const template = (only(objects, 'Deployment').spec as DeploymentSpec).template;
    const spec = service.spec as {
      selector: Record<string, string>;
      ports: { name: string; port: number; targetPort: string | number; appProtocol?: string }[];
    };
    assert.ok(matches(spec.selector, template.metadata.labels), 'the Service selects the Deployment’s pods');
    const byName = new Map(spec.ports.map((port) => [port.name, port]));
    assert.deepEqual([...byName.keys()].sort(), ['grpc', 'http']);
    assert.equal(byName.get('grpc')?.appProtocol, 'kubernetes.io/h2c');
    const container = template.spec.containers[0] as Container;
    for (const port of spec.ports) {
      assert.equal(portNumber(container, port.targetPort), portNumber(container, port.name), `${port.name} target`);
    }
  });

  test('the HPA scales the Deployment on CPU from 2 replicas; the overlay adds the Prometheus queue metric', async () => {
    const objects = await render(BASE);
    const deployment = only(objects, 'Deployment');
    const hpaSpec = (object: KubernetesObject) =>
      object.spec as {
        scaleTargetRef: { apiVersion: string; kind: string; name: string };
        minReplicas: number;
        metrics: { type: string; resource?: { name: string }; pods?: { metric: { name: string } } }[];
      };
    const base = hpaSpec(only(objects, 'HorizontalPodAutoscaler'));
    assert.deepEqual(base.scaleTargetRef, {
      apiVersion: deployment.apiVersion,
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    assert.ok(base.minReplicas >= 2);
    assert.ok(base.metrics.some((metric) => metric.type === 'Resource' && metric.resource?.name === 'cpu'));

    const overlay = hpaSpec(only(await render(QUEUE_OVERLAY), 'HorizontalPodAutoscaler'));
    assert.ok(
      overlay.metrics.some((metric) => metric.resource?.name === 'cpu'),
      'CPU is kept',
    );
    const queue = overlay.metrics.find((metric) => metric.type === 'Pods')?.pods?.metric.name;
    assert.ok(queue, 'a Pods metric');
    // The metric flowserve really exports under that name, a gauge of waiting tasks.
    const metrics = new ServingMetrics(new Registry());
    const gauge = metrics.registry.getSingleMetric(queue);
    assert.ok(gauge, `flowserve exports ${queue}`);
    assert.equal((await gauge.get()).type, 'gauge');
  });

  test('the PodDisruptionBudget covers the Deployment’s pods and leaves at least one serving', async () => {
    const objects = await render(BASE);
    const deployment = only(objects, 'Deployment').spec as DeploymentSpec;
    const pdb = only(objects, 'PodDisruptionBudget').spec as {
      selector: { matchLabels: Record<string, string> };
      maxUnavailable?: number;
      minAvailable?: number;
    };
    assert.ok(matches(pdb.selector.matchLabels, deployment.template.metadata.labels));
    const available = pdb.minAvailable ?? deployment.replicas - (pdb.maxUnavailable ?? deployment.replicas);
    assert.ok(available >= 1 && available < deployment.replicas, `${available} of ${deployment.replicas} stay`);
  });

  test('the image is the one scripts/build-image.sh tags: flowserve:<package.json version>', async () => {
    const container = (only(await render(BASE), 'Deployment').spec as DeploymentSpec).template.spec
      .containers[0] as Container;
    const { version } = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(container.image, `flowserve:${version}`);
  });
});
