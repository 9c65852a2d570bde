/**
 * GET /api/dashboard/models: every model the server knows with its versions, from the same core calls the public
 * APIs use — versions and errors from the repository index (GetModelStatus's states, errors uncut here), signatures
 * from core.info() rendered by signatureDef() as GetModelMetadata does (dtype names) and v2DatatypeOf as
 * /v2/models/NAME does, platform/device/instances/batching from core.describe() as the v2 model config does.
 */
import { tfDtypeName } from '../apis/shared/tensor-proto.js';
import { signatureDef } from '../apis/shared/signature-def.js';
import { v2DatatypeOf } from '../apis/v2/datatypes.js';
import type { VersionPolicy } from '../config/model-server-config.js';
import type { ServingCoreImpl } from '../core/serving-core.js';
import type { ModelDescription, Signature, TensorSpec, VersionStatus } from '../core/types.js';
import type {
  DashboardModel,
  DashboardModelFormat,
  DashboardModels,
  DashboardSignature,
  DashboardTensor,
  DashboardVersion,
} from './api-types.js';

export function versionPolicyText(policy: VersionPolicy): string {
  switch (policy.kind) {
    case 'latest':
      return `latest ${policy.numVersions}`;
    case 'all':
      return 'all';
    case 'specific':
      return `specific ${policy.versions.join(',')}`;
  }
}

function tensor(spec: TensorSpec): DashboardTensor {
  const info = signatureDef({ method: '', inputs: { t: spec }, outputs: {} }).inputs?.t;
  return {
    name: spec.name,
    dtype: tfDtypeName(info?.dtype ?? 0),
    datatype: v2DatatypeOf(spec.dtype),
    shape: (info?.tensor_shape?.dim ?? []).map((d) => Number(d.size)),
    unknownRank: info?.tensor_shape?.unknown_rank === true,
  };
}

export function dashboardSignature(signature: Signature): DashboardSignature {
  const def = signatureDef(signature);
  const tensors = (specs: Record<string, TensorSpec>) =>
    Object.fromEntries(Object.keys(specs).map((alias) => [alias, tensor(specs[alias] as TensorSpec)]));
  return { methodName: def.method_name ?? '', inputs: tensors(signature.inputs), outputs: tensors(signature.outputs) };
}

/** core.describe() of one version, or undefined when it is not loaded (any state but AVAILABLE). */
export function describeLoaded(core: ServingCoreImpl, name: string, version: number): ModelDescription | undefined {
  try {
    return core.describe({ name, version });
  } catch {
    return undefined;
  }
}

function versionView(
  core: ServingCoreImpl,
  name: string,
  status: VersionStatus,
  labels: Record<string, number>,
): DashboardVersion {
  const loaded = status.state === 'AVAILABLE' ? describeLoaded(core, name, status.version) : undefined;
  return {
    version: status.version,
    state: status.state,
    labels: Object.keys(labels)
      .filter((label) => labels[label] === status.version)
      .sort(),
    error: status.error ? { code: status.error.code, message: status.error.message } : null,
    loaded: loaded
      ? {
          format: (loaded.format ?? 'onnx') as DashboardModelFormat,
          platform: loaded.platform,
          device: loaded.device,
          instances: loaded.instances,
          defaultSignature: loaded.defaultSignature,
          signatures: Object.fromEntries(
            Object.keys(loaded.signatures)
              .sort()
              .map((key) => [key, dashboardSignature(loaded.signatures[key] as Signature)]),
          ),
        }
      : null,
  };
}

export function modelsView(core: ServingCoreImpl): DashboardModels {
  const batching = core.batching;
  const models = core.repositoryIndex().map((entry): DashboardModel => {
    const config = core.modelConfigOf(entry.name);
    const basePath = config?.basePath ?? '';
    const labels = { ...(config?.versionLabels ?? {}) };
    return {
      name: entry.name,
      served: entry.served,
      source: { basePath, kind: basePath.startsWith('s3://') ? 's3' : 'local' },
      device: core.deviceOf(entry.name),
      versionPolicy: config ? versionPolicyText(config.versionPolicy) : '',
      batching: batching
        ? {
            maxBatchSize: batching.maxBatchSize,
            batchTimeoutMicros: batching.batchTimeoutMicros,
            maxEnqueuedBatches: batching.maxEnqueuedBatches,
            numBatchThreads: batching.numBatchThreads,
            allowedBatchSizes: [...batching.allowedBatchSizes],
            padVariableLengthInputs: batching.padVariableLengthInputs,
          }
        : null,
      labels,
      versions: entry.versions.map((status) => versionView(core, entry.name, status, labels)),
    };
  });
  return { models };
}
