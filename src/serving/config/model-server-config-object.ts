/**
 * Reads a ModelServerConfig handed over as a plain object: a decoded ReloadConfigRequest.config from
 * @grpc/proto-loader (snake_case with `keepCase`, camelCase without; int64 as number or string; maps as objects or
 * as `[{key, value}]`), protobuf text, or an already typed ModelServerConfig.
 */
import { InvalidArgument } from '../../errors.js';
import { deviceFromSpelling } from './flags.js';
import {
  DEVICE_VALUES_HINT,
  CUSTOM_CONFIG_UNSUPPORTED,
  DEFAULT_VERSION_POLICY,
  parseModelServerConfig,
  validateModelServerConfig,
  type ModelConfig,
  type ModelServerConfig,
  type ServingDevice,
  type VersionPolicy,
} from './model-server-config.js';

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Field by snake_case or camelCase name. */
function field(obj: Obj, snake: string): unknown {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return obj[snake] ?? obj[camel];
}

/** int64 fields arrive as numbers, strings, bigints or Long objects depending on proto-loader options. */
function toInt(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'object' && v !== null ? Number(String(v)) : Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgument(`${what} must be an integer`);
  // Past 2^53 a double rounds (9223372036854775807 → ...6000): refuse rather than address another version.
  if (!Number.isSafeInteger(n)) throw new InvalidArgument(`${what} ${String(v)} is out of range (|n| ≤ 2^53-1)`);
  return n;
}

export function modelServerConfigFromUnknown(config: unknown): ModelServerConfig {
  if (typeof config === 'string') return parseModelServerConfig(config);
  if (!isObject(config)) throw new InvalidArgument(CUSTOM_CONFIG_UNSUPPORTED);
  if (Array.isArray(config.models)) return validateModelServerConfig(config as unknown as ModelServerConfig);
  const oneof = field(config, 'config');
  const list = field(config, 'model_config_list');
  if (!isObject(list) || (oneof !== undefined && oneof !== 'model_config_list' && oneof !== 'modelConfigList')) {
    throw new InvalidArgument(CUSTOM_CONFIG_UNSUPPORTED);
  }
  const entries = field(list, 'config') ?? [];
  if (!Array.isArray(entries)) throw new InvalidArgument('model_config_list.config must be a list');
  return validateModelServerConfig({ models: entries.map(modelConfigFromObject) });
}

function modelConfigFromObject(entry: unknown): ModelConfig {
  if (!isObject(entry)) throw new InvalidArgument('model_config_list.config entries must be messages');
  const name = String(field(entry, 'name') ?? '');
  return {
    name,
    basePath: String(field(entry, 'base_path') ?? ''),
    modelPlatform: String(field(entry, 'model_platform') ?? '') || platformFromType(field(entry, 'model_type')),
    versionPolicy: policyFromObject(field(entry, 'model_version_policy'), name),
    versionLabels: labelsFromObject(field(entry, 'version_labels'), name),
    ...deviceFromObject(field(entry, 'device'), name),
  };
}

/** The flowserve `device` extension, when an object carries it (proto-decoded configs never do). */
function deviceFromObject(device: unknown, model: string): { device?: ServingDevice } {
  if (device === undefined || device === null || device === '') return {};
  const parsed = typeof device === 'string' ? deviceFromSpelling(device) : undefined;
  if (!parsed)
    throw new InvalidArgument(`device of model ${model} must be ${DEVICE_VALUES_HINT}; got '${String(device)}'`);
  return { device: parsed };
}

function platformFromType(modelType: unknown): string {
  return modelType === 1 || modelType === 'TENSORFLOW' ? 'tensorflow' : '';
}

function policyFromObject(policy: unknown, model: string): VersionPolicy {
  if (!isObject(policy)) return DEFAULT_VERSION_POLICY;
  const latest = field(policy, 'latest');
  if (isObject(latest)) {
    return { kind: 'latest', numVersions: Math.max(1, toInt(field(latest, 'num_versions') ?? 1, 'num_versions')) };
  }
  if (isObject(field(policy, 'all'))) return { kind: 'all' };
  const specific = field(policy, 'specific');
  if (isObject(specific)) {
    const versions = field(specific, 'versions') ?? [];
    if (!Array.isArray(versions)) throw new InvalidArgument(`specific.versions of model ${model} must be a list`);
    return { kind: 'specific', versions: versions.map((v) => toInt(v, `version of model ${model}`)) };
  }
  return DEFAULT_VERSION_POLICY;
}

function labelsFromObject(labels: unknown, model: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (Array.isArray(labels)) {
    for (const e of labels) if (isObject(e)) out[String(e.key)] = toInt(e.value, `label ${String(e.key)} of ${model}`);
  } else if (isObject(labels)) {
    for (const [k, v] of Object.entries(labels)) out[k] = toInt(v, `label ${k} of model ${model}`);
  }
  return out;
}
