/**
 * ModelServerConfig (TensorFlow Serving's config/model_server_config.proto) as a typed object, read from protobuf
 * text format (--model_config_file) or from a decoded ReloadConfigRequest, and validated as TF Serving does.
 */
import { isAbsolute, resolve } from 'node:path';
import { InvalidArgument } from '../../errors.js';
import { deviceFromSpelling } from './flags.js';
import { MessageReader } from './message-reader.js';
import { parseTextFormat } from './text-format.js';
import { quoteForMessage } from './untrusted-text.js';

/** FileSystemStoragePathSourceConfig.ServableVersionPolicy; the default is latest 1. */
export type VersionPolicy =
  { kind: 'latest'; numVersions: number } | { kind: 'all' } | { kind: 'specific'; versions: number[] };

/** Where a model's versions run: the CPU, or GPU:0 through ONNX Runtime's WebGPU execution provider. */
export type ServingDevice = 'cpu' | 'gpu';

export interface ModelConfig {
  name: string;
  basePath: string;
  modelPlatform: string;
  versionPolicy: VersionPolicy;
  /** label → version. */
  versionLabels: Record<string, number>;
  /**
   * flowserve extension (text config `device: "gpu"`; TensorFlow Serving has no such field): where this model's
   * versions run. Absent: the server's --device.
   */
  device?: ServingDevice;
}

export interface ModelServerConfig {
  models: ModelConfig[];
}

export const DEFAULT_VERSION_POLICY: VersionPolicy = { kind: 'latest', numVersions: 1 };

const MODEL_SERVER_CONFIG_FIELDS = ['model_config_list', 'custom_model_config'];
const MODEL_CONFIG_FIELDS = [
  'name',
  'base_path',
  'model_type',
  'model_platform',
  'model_version_policy',
  'version_labels',
  'logging_config',
  // flowserve extension, not in TensorFlow Serving's ModelConfig.
  'device',
];

export const DEVICE_VALUES_HINT = '"cpu" or "gpu" (also "/cpu:0", "/device:CPU:0", "/gpu:0", "/device:GPU:0")';
const POLICY_FIELDS = ['latest', 'all', 'specific'];

export const CUSTOM_CONFIG_UNSUPPORTED =
  'ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported';

const URI_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A base path as given, or resolved against `baseDir` when it is relative (flowserve's extension: TF Serving requires
 * absolute paths). URIs (`s3://…`) and absolute paths are left alone; without a `baseDir` nothing is resolved, so
 * validateModelServerConfig rejects the relative path as TF Serving does.
 */
export function resolveBasePath(basePath: string, baseDir: string | undefined): string {
  if (baseDir === undefined || basePath === '' || isAbsolute(basePath) || URI_SCHEME.test(basePath)) return basePath;
  return resolve(baseDir, basePath);
}

/**
 * Parses a --model_config_file's text. With `baseDir` (the config file's folder), relative base paths are resolved
 * against it; the reload RPC passes none, so there they must be absolute.
 */
export function parseModelServerConfig(
  text: string,
  fileName = '<model config>',
  options: { baseDir?: string } = {},
): ModelServerConfig {
  const root = new MessageReader(
    parseTextFormat(text, fileName),
    'ModelServerConfig',
    fileName,
    MODEL_SERVER_CONFIG_FIELDS,
  );
  const custom = root.last('custom_model_config');
  if (custom) root.fail(custom, CUSTOM_CONFIG_UNSUPPORTED);
  const list = root.message('model_config_list', 'ModelConfigList', ['config']);
  const models = (list?.messages('config', 'ModelConfig', MODEL_CONFIG_FIELDS) ?? [])
    .map(readModelConfig)
    .map((model) => ({ ...model, basePath: resolveBasePath(model.basePath, options.baseDir) }));
  return validateModelServerConfig({ models });
}

function readModelConfig(reader: MessageReader): ModelConfig {
  const policyReader = reader.message('model_version_policy', 'ServableVersionPolicy', POLICY_FIELDS);
  const labels: Record<string, number> = {};
  for (const entry of reader.messages('version_labels', 'VersionLabelsEntry', ['key', 'value'])) {
    labels[entry.string('key') ?? ''] = entry.int('value') ?? 0;
  }
  const modelType = reader.enumValue('model_type');
  let modelPlatform = reader.string('model_platform') ?? '';
  if (modelType !== undefined && modelType !== 'MODEL_TYPE_UNSPECIFIED') {
    if (modelPlatform !== '') {
      const field = reader.last('model_type');
      if (field) reader.fail(field, 'Illegal setting both model_type (deprecated) and model_platform.');
    }
    modelPlatform = modelType === 'TENSORFLOW' ? 'tensorflow' : modelType.toLowerCase();
  }
  const deviceText = reader.string('device');
  let device: ServingDevice | undefined;
  if (deviceText !== undefined) {
    device = deviceFromSpelling(deviceText);
    const field = reader.last('device');
    if (!device && field)
      reader.fail(field, `field 'device' in ModelConfig expects ${DEVICE_VALUES_HINT}; got '${deviceText}'`);
  }
  return {
    name: reader.string('name') ?? '',
    basePath: reader.string('base_path') ?? '',
    modelPlatform,
    versionPolicy: policyReader ? readVersionPolicy(policyReader) : DEFAULT_VERSION_POLICY,
    versionLabels: labels,
    ...(device ? { device } : {}),
  };
}

function readVersionPolicy(reader: MessageReader): VersionPolicy {
  const latest = reader.message('latest', 'Latest', ['num_versions']);
  if (latest) return { kind: 'latest', numVersions: Math.max(1, latest.int('num_versions') ?? 1) };
  if (reader.message('all', 'All', [])) return { kind: 'all' };
  const specific = reader.message('specific', 'Specific', ['versions']);
  if (specific) return { kind: 'specific', versions: specific.ints('versions') };
  return DEFAULT_VERSION_POLICY;
}

/**
 * Model names flowserve accepts (TF Serving accepts any string): 1–256 of [A-Za-z0-9._-], not starting with '.'.
 * Names become URL path segments, metric labels and log text, so `/`, spaces and control characters are refused;
 * the names TF Serving users use (`half_plus_two`, `mnist`, `resnet-50`, `my_model.v2`) all fit.
 */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,255}$/;

/** Throws INVALID_ARGUMENT naming the config entry when `name` is not a valid model name. */
export function checkModelName(name: string, entry: string): void {
  if (MODEL_NAME_PATTERN.test(name)) return;
  throw new InvalidArgument(
    `${entry}: model name ${quoteForMessage(name)} is not allowed: use 1 to 256 characters from A-Z, a-z, 0-9, ` +
      "'.', '_' and '-', not starting with '.'",
  );
}

/**
 * TF Serving's checks on a model list (server_core.cc): unique names, absolute base paths, a platform; plus
 * flowserve's model name rule (MODEL_NAME_PATTERN).
 */
export function validateModelServerConfig(config: ModelServerConfig): ModelServerConfig {
  const seen = new Set<string>();
  for (const [index, model] of config.models.entries()) {
    if (model.name === '') throw new InvalidArgument('ModelConfig has no name specified.');
    checkModelName(model.name, `model_config_list.config[${index}].name`);
    if (seen.has(model.name)) {
      throw new InvalidArgument(`Illegal to list model ${model.name} multiple times in config list`);
    }
    seen.add(model.name);
    if (!isAbsolute(model.basePath) && !URI_SCHEME.test(model.basePath)) {
      throw new InvalidArgument(
        `Expected model ${model.name} to have an absolute path or URI; got base_path()=${model.basePath}`,
      );
    }
    if (model.modelPlatform === '') {
      throw new InvalidArgument(`Model ${model.name} has no model_platform set`);
    }
    if (model.versionPolicy.kind === 'specific' && model.versionPolicy.versions.length === 0) {
      throw new InvalidArgument(`Model ${model.name} has a specific version policy with no versions`);
    }
    if (model.device !== undefined && model.device !== 'cpu' && model.device !== 'gpu') {
      throw new InvalidArgument(`Model ${model.name} has device '${String(model.device)}'; expected cpu or gpu`);
    }
  }
  return config;
}

/** A model served as a config file's entry with only name and base_path set would be: the newest version, no labels. */
export function defaultModelConfig(name: string, basePath: string): ModelConfig {
  return { name, basePath, modelPlatform: 'tensorflow', versionPolicy: DEFAULT_VERSION_POLICY, versionLabels: {} };
}

/** The config single-model mode synthesises from --model_name / --model_base_path (spec §3.1). */
export function singleModelConfig(name: string, basePath: string): ModelServerConfig {
  checkModelName(name, '--model_name');
  return validateModelServerConfig({ models: [defaultModelConfig(name, basePath)] });
}
