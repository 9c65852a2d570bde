/**
 * Offline validation of rendered Kubernetes objects with `kubernetes-models` (the Kubernetes OpenAPI schemas,
 * compiled): types, enums, required fields. Its validators accept fields the schema does not know, as the API server
 * does unless asked for strict field validation; a misspelt field (`readinessProbe.httpGet.paht`) would be dropped
 * silently in the cluster. So unknown fields are found too: each object is validated once more through proxies that
 * record which fields the validator reads. A compiled validator reads every property its schema declares and walks
 * (enumerates) the maps it allows (labels, ConfigMap data); a field it never reads is one the schema lacks.
 */
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: object) => ValidatingModel;

/** The kinds deploy/kubernetes may hold, by `apiVersion kind`; any other kind fails validation. */
const MODELS: Record<string, ModelClass> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
  'v1 ServiceAccount': ServiceAccount,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
};

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** A deep copy of `value` whose every object reports reads of its own fields: `unread` keeps the fields not read. */
function tracked(value: unknown, path: string, unread: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item, index) => tracked(item, `${path}[${index}]`, unread));
  if (value === null || typeof value !== 'object') return value;
  const fieldPaths = new Map(Object.keys(value).map((key) => [key, `${path}.${key}`]));
  for (const fieldPath of fieldPaths.values()) unread.add(fieldPath);
  const markRead = (key: string | symbol) => {
    if (typeof key === 'string' && fieldPaths.has(key)) unread.delete(fieldPaths.get(key) as string);
  };
  const copy = Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, tracked(field, `${path}.${key}`, unread)]),
  );
  return new Proxy(copy, {
    get(target, key, receiver) {
      markRead(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
    has(target, key) {
      markRead(key);
      return Reflect.has(target, key);
    },
    // A map (additionalProperties) is validated by enumerating it: all its keys are allowed.
    ownKeys(target) {
      for (const key of fieldPaths.keys()) markRead(key);
      return Reflect.ownKeys(target);
    },
  });
}

/** Every problem of one object: an unknown kind, schema errors, fields the schema does not have. */
export function kubernetesProblems(object: KubernetesObject): string[] {
  const where = `${object.kind ?? '(no kind)'} ${object.metadata?.name ?? '(no name)'}`;
  const Model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (!Model) return [`${where}: unknown apiVersion/kind ${object.apiVersion} ${object.kind}`];
  const problems: string[] = [];
  try {
    new Model(object).validate();
  } catch (err) {
    problems.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const unread = new Set<string>();
  const probe = tracked(object, '', unread) as object;
  try {
    // The model's validate() with the probe as `this`: the same compiled validator, reading the tracked copy.
    Model.prototype.validate.call(probe);
  } catch {
    // Reported above.
  }
  for (const field of unread) problems.push(`${where}: unknown field ${field.slice(1)}`);
  return problems;
}
