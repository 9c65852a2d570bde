/**
 * Triton's model_repository extension (spec open-inference-protocol.md §6.1), over the serving core's repository
 * (ServingCore.repositoryIndex / loadModel / unloadModel), which goes through the same aspired-versions manager as a
 * config reload. flowserve's repository is the set of models its model config lists (start-up config, config file,
 * reload RPC); a load serves one of them again from its base path, an unload stops serving it.
 *
 * - index: allowed in every --model_control_mode (read-only, as in Triton). One entry per version seen, with
 *   Triton's states: READY (AVAILABLE), LOADING (START, LOADING), UNLOADING, UNAVAILABLE (END: the load error as
 *   reason, or "unloaded"); a model with no version yet is one entry without a version. `ready: true` keeps READY.
 * - load / unload: refused (UNAVAILABLE, Triton's status and message start) unless --model_control_mode=explicit.
 *   They resolve when the change is done: a load once the versions have loaded (INVALID_ARGUMENT with each failed
 *   version's reason otherwise), an unload once its versions' requests have finished and they are unloaded.
 * - load parameters: `config`, a JSON ModelConfig of which flowserve takes `version_policy` (and `name`, which must
 *   match); other fields are refused by name, since flowserve cannot apply them. `file:` overrides are not supported.
 *   unload parameters: `unload_dependents` is accepted (flowserve has no ensembles, so no dependents).
 */
import { InvalidArgument, Unimplemented } from '../../../errors.js';
import type { VersionPolicy } from '../../config/model-server-config.js';
import type { ServingCore, VersionStatus } from '../../core/types.js';

/** The extension names advertised in `GET /v2` / ServerMetadata. */
export const MODEL_REPOSITORY_EXTENSIONS = ['model_repository', 'model_repository(unload_dependents)'] as const;

export type V2RepositoryState = 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';

export interface V2RepositoryIndexEntry {
  name: string;
  version?: string;
  state: V2RepositoryState;
  reason: string;
}

/** Repository API parameters as plain values (the transports unwrap gRPC's ModelRepositoryParameter). */
export type V2RepositoryParameters = Record<string, unknown>;

export interface V2RepositoryChangeOptions {
  /** Aborted when the client has gone: the change is dropped like a cancelled config reload. */
  signal?: AbortSignal;
}

/** The longest `config` parameter read: a ModelConfig is a few KiB; a larger one is not worth parsing. */
export const MAX_CONFIG_PARAMETER_CHARS = 64 * 1024;

const UNLOADED = 'unloaded';

function quote(text: string): string {
  return `'${text.length > 256 ? `${text.slice(0, 256)}…` : text}'`;
}

function indexEntry(name: string, status: VersionStatus, draining: boolean): V2RepositoryIndexEntry {
  const version = String(status.version);
  switch (status.state) {
    case 'AVAILABLE':
      return draining
        ? { name, version, state: 'UNLOADING', reason: 'the server is shutting down' }
        : { name, version, state: 'READY', reason: '' };
    case 'START':
    case 'LOADING':
      return { name, version, state: 'LOADING', reason: '' };
    case 'UNLOADING':
      return { name, version, state: 'UNLOADING', reason: '' };
    case 'END':
      return { name, version, state: 'UNAVAILABLE', reason: status.error?.message ?? UNLOADED };
  }
}

/** POST /v2/repository/index, gRPC RepositoryIndex. */
export function repositoryIndexV2(core: ServingCore, options: { ready?: boolean } = {}): V2RepositoryIndexEntry[] {
  const draining = core.readiness === 'draining';
  const entries = core.repositoryIndex().flatMap((model): V2RepositoryIndexEntry[] => {
    if (model.versions.length === 0) {
      const reason = model.served ? 'no version has been found under its base path' : UNLOADED;
      return [{ name: model.name, state: 'UNAVAILABLE', reason }];
    }
    return model.versions.map((status) => indexEntry(model.name, status, draining));
  });
  return options.ready === true ? entries.filter((e) => e.state === 'READY') : entries;
}

function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new InvalidArgument('model name is required');
  return name;
}

/** A non-negative integer from JSON, where proto3 JSON writes 64-bit integers as strings. */
function integer(value: unknown, field: string): number {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
    throw new InvalidArgument(
      `config ${field}: expected a non-negative integer, got ${quote(JSON.stringify(value) ?? '')}`,
    );
  }
  return number;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgument(`config ${field}: expected an object`);
  }
  return value as Record<string, unknown>;
}

/** model_config.proto's ModelVersionPolicy (JSON) as a TF Serving version policy. */
export function versionPolicyFromTriton(value: unknown): VersionPolicy {
  const policy = object(value, 'version_policy');
  const kinds = Object.keys(policy);
  if (kinds.length !== 1) {
    throw new InvalidArgument(
      `config version_policy: expected exactly one of latest, all, specific; got ${kinds.length}`,
    );
  }
  if ('latest' in policy) {
    const numVersions = integer(
      object(policy.latest, 'version_policy.latest').num_versions ?? 1,
      'version_policy.latest.num_versions',
    );
    if (numVersions < 1) throw new InvalidArgument('config version_policy.latest.num_versions must be at least 1');
    return { kind: 'latest', numVersions };
  }
  if ('all' in policy) return { kind: 'all' };
  if ('specific' in policy) {
    const versions = object(policy.specific, 'version_policy.specific').versions;
    if (!Array.isArray(versions) || versions.length === 0) {
      throw new InvalidArgument('config version_policy.specific.versions: expected a non-empty list of versions');
    }
    if (versions.length > 1024)
      throw new InvalidArgument('config version_policy.specific.versions: more than 1024 versions');
    return { kind: 'specific', versions: versions.map((v, i) => integer(v, `version_policy.specific.versions[${i}]`)) };
  }
  throw new InvalidArgument(
    `config version_policy: unknown kind ${quote(kinds[0] ?? '')}; expected latest, all or specific`,
  );
}

/** The load `config` parameter: the version policy it sets, if any. */
function versionPolicyFromConfig(name: string, value: unknown): VersionPolicy | undefined {
  if (typeof value !== 'string')
    throw new InvalidArgument("parameter 'config' must be a string holding a JSON ModelConfig");
  if (value.length > MAX_CONFIG_PARAMETER_CHARS) {
    throw new InvalidArgument(
      `parameter 'config' is ${value.length} characters; at most ${MAX_CONFIG_PARAMETER_CHARS} are read`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgument(`parameter 'config' is not valid JSON: ${(err as Error).message}`);
  }
  const config = object(parsed, '(the parameter)');
  const unsupported = Object.keys(config).filter((k) => k !== 'name' && k !== 'version_policy');
  if (unsupported.length > 0) {
    throw new InvalidArgument(
      `parameter 'config': flowserve applies only version_policy (and name) from a load's config; ` +
        `it cannot apply ${unsupported.slice(0, 10).map(quote).join(', ')}`,
    );
  }
  if (config.name !== undefined && config.name !== name) {
    throw new InvalidArgument(
      `parameter 'config' names model ${quote(String(config.name))}, but the load is for ${quote(name)}`,
    );
  }
  return config.version_policy === undefined ? undefined : versionPolicyFromTriton(config.version_policy);
}

/** POST /v2/repository/models/{m}/load, gRPC RepositoryModelLoad. */
export async function repositoryLoadV2(
  core: ServingCore,
  name: string,
  parameters: V2RepositoryParameters = {},
  options: V2RepositoryChangeOptions = {},
): Promise<void> {
  const model = checkModelName(name);
  core.checkModelControl('load', model);
  let versionPolicy: VersionPolicy | undefined;
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (key === 'config') versionPolicy = versionPolicyFromConfig(model, value);
    else if (key.startsWith('file:')) {
      throw new Unimplemented(
        `load parameter ${quote(key)}: file overrides are not supported; put the version directory under the ` +
          "model's base path instead",
      );
    } else throw new InvalidArgument(`unknown load parameter ${quote(key)}; flowserve reads 'config'`);
  }
  await core.loadModel(model, {
    ...(versionPolicy ? { versionPolicy } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** POST /v2/repository/models/{m}/unload, gRPC RepositoryModelUnload. */
export async function repositoryUnloadV2(
  core: ServingCore,
  name: string,
  parameters: V2RepositoryParameters = {},
  options: V2RepositoryChangeOptions = {},
): Promise<void> {
  const model = checkModelName(name);
  core.checkModelControl('unload', model);
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (key !== 'unload_dependents') {
      throw new InvalidArgument(`unknown unload parameter ${quote(key)}; flowserve reads 'unload_dependents'`);
    }
    if (typeof value !== 'boolean') throw new InvalidArgument("parameter 'unload_dependents' must be a boolean");
  }
  await core.unloadModel(model, options.signal ? { signal: options.signal } : {});
}
