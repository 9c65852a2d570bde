/**
 * Strict validation of custom resources against their CustomResourceDefinition's structural schema, with ajv. The
 * API server prunes fields a structural schema does not declare (a misspelt `storageUri` would vanish without an
 * error), so here every object schema that declares its properties and does not say
 * `x-kubernetes-preserve-unknown-fields: true` refuses other fields (`additionalProperties: false`), and
 * `x-kubernetes-int-or-string` becomes "integer or string". metadata, which CRDs leave as a bare `type: object`, is
 * checked against ObjectMeta's fields that manifests set.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

type Schema = Record<string, unknown>;

interface CustomResourceDefinition {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

/** The metadata fields a manifest may set (ObjectMeta minus what the server fills in). */
const METADATA_FIELDS = new Set(['name', 'namespace', 'labels', 'annotations', 'finalizers', 'generateName']);

/** A copy of a structural schema in which undeclared fields are errors, as the API server's pruning would drop them. */
export function strictSchema(node: Schema): Schema {
  const schema: Schema = { ...node };
  // Only the keywords that hold schemas are walked: `default`, `enum` and `example` values stay as they are.
  if (node.properties !== undefined) {
    schema.properties = Object.fromEntries(
      Object.entries(node.properties as Record<string, Schema>).map(([field, value]) => [field, strictSchema(value)]),
    );
  }
  for (const keyword of ['items', 'additionalProperties', 'not']) {
    const child = node[keyword];
    if (child !== null && typeof child === 'object') schema[keyword] = strictSchema(child as Schema);
  }
  for (const keyword of ['allOf', 'anyOf', 'oneOf']) {
    if (Array.isArray(node[keyword])) schema[keyword] = (node[keyword] as Schema[]).map(strictSchema);
  }
  if (schema['x-kubernetes-int-or-string'] === true && schema.type === undefined && schema.anyOf === undefined) {
    schema.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  const preserves = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (schema.properties !== undefined && schema.additionalProperties === undefined && !preserves) {
    schema.additionalProperties = false;
  }
  return schema;
}

export interface CrdValidator {
  apiVersion: string;
  kind: string;
  /** Every problem of `object`, as `path: message` lines (none: valid). */
  problems(object: Record<string, unknown>): string[];
}

function describe(error: ErrorObject): string {
  const extra =
    error.keyword === 'additionalProperties'
      ? ` '${String((error.params as { additionalProperty: string }).additionalProperty)}'`
      : '';
  return `${error.instancePath || '/'}: ${error.message ?? error.keyword}${extra}`;
}

/** Validators for each served version of the CRD in `file` (a YAML CustomResourceDefinition). */
export function crdValidators(file: string): CrdValidator[] {
  const crd = parse(readFileSync(file, 'utf8')) as CustomResourceDefinition;
  // Kubernetes' own vocabulary: accepted, with their meaning applied by strictSchema above.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  return crd.spec.versions
    .filter((version) => version.served)
    .map((version) => {
      const apiVersion = `${crd.spec.group}/${version.name}`;
      const kind = crd.spec.names.kind;
      const validate: ValidateFunction = ajv.compile(strictSchema(version.schema.openAPIV3Schema));
      return {
        apiVersion,
        kind,
        problems(object) {
          const problems: string[] = [];
          if (object.apiVersion !== apiVersion || object.kind !== kind) {
            problems.push(`/: ${String(object.apiVersion)} ${String(object.kind)} is not ${apiVersion} ${kind}`);
          }
          const metadata = (object.metadata ?? {}) as Record<string, unknown>;
          if (typeof metadata.name !== 'string' || metadata.name === '') problems.push('/metadata: no name');
          for (const field of Object.keys(metadata)) {
            if (!METADATA_FIELDS.has(field)) problems.push(`/metadata: unknown field '${field}'`);
          }
          if (!validate(object)) problems.push(...(validate.errors ?? []).map(describe));
          return problems;
        },
      };
    });
}
