/**
 * Open Inference Protocol health and metadata over the serving core, for every transport: server metadata
 * (name, version, extensions), model metadata (the signature's inputs and outputs as protocol tensors), liveness
 * and readiness of the server and of a model version.
 */
import { readFileSync } from 'node:fs';
import { NotFound } from '../../../errors.js';
import type { ServingCore, TensorSpec } from '../../core/types.js';
import { v2DatatypeOf, type V2Datatype } from './datatypes.js';
import { MODEL_CONFIGURATION_EXTENSION } from './config.js';
import { selectorOfV2 } from './infer.js';
import { MODEL_REPOSITORY_EXTENSIONS } from './repository.js';
import { STATISTICS_EXTENSION } from './statistics.js';

export interface V2ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface V2TensorMetadata {
  name: string;
  datatype: V2Datatype;
  shape: number[];
}

export interface V2ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: V2TensorMetadata[];
  outputs: V2TensorMetadata[];
}

/**
 * Extensions advertised in `GET /v2` / ServerMetadata: only those flowserve implements, every one in full (perf_analyzer
 * reads every statistics field once `statistics` is listed).
 */
const EXTENSIONS: readonly string[] = [
  'binary_tensor_data',
  'parameters',
  MODEL_CONFIGURATION_EXTENSION,
  STATISTICS_EXTENSION,
  ...MODEL_REPOSITORY_EXTENSIONS,
];

let packageVersion: string | undefined;

/** package.json's version, read once (dist/src/serving/apis/v2/ → the package root). */
function serverVersion(): string {
  if (packageVersion === undefined) {
    try {
      const url = new URL('../../../../../package.json', import.meta.url);
      packageVersion = String((JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? '');
    } catch {
      packageVersion = '';
    }
  }
  return packageVersion;
}

export function serverMetadataV2(_core: ServingCore): V2ServerMetadata {
  return { name: 'flowserve', version: serverVersion(), extensions: [...EXTENSIONS] };
}

function tensorMetadata(name: string, spec: TensorSpec): V2TensorMetadata {
  // An undeclared rank has no dims to report; every unknown dim is -1, as the protocol writes variable dims.
  return { name, datatype: v2DatatypeOf(spec.dtype), shape: spec.shape.map((d) => (d < 0 ? -1 : d)) };
}

/**
 * The model's metadata: the loaded versions (AVAILABLE ones, newest first) and the inputs and outputs of the
 * signature an inference without `signature_name` uses (`serving_default`, else the servable's default), taken
 * from the version the request addresses (the latest when `version` is absent or "").
 */
export function modelMetadataV2(core: ServingCore, name: string, version?: string): V2ModelMetadata {
  const selector = selectorOfV2(name, version);
  const info = core.info(selector);
  const signatureName = 'serving_default' in info.signatures ? 'serving_default' : info.defaultSignature;
  const signature = info.signatures[signatureName];
  if (!signature) throw new NotFound(`model '${name}' has no signature '${signatureName}'`);
  const versions = core
    .status(name)
    .filter((s) => s.state === 'AVAILABLE')
    .map((s) => s.version)
    .sort((a, b) => b - a)
    .map(String);
  return {
    name: info.modelName,
    versions,
    platform: core.describe(selector).platform,
    inputs: Object.entries(signature.inputs).map(([alias, spec]) => tensorMetadata(alias, spec)),
    outputs: Object.entries(signature.outputs).map(([alias, spec]) => tensorMetadata(alias, spec)),
  };
}

/**
 * Whether the addressed version (the latest when `version` is absent or "") can take requests: false for an
 * unknown model or version, one not AVAILABLE, and while the server drains.
 */
export function modelReadyV2(core: ServingCore, name: string, version?: string): boolean {
  if (core.readiness === 'draining') return false;
  try {
    core.info(selectorOfV2(name, version));
    return true;
  } catch {
    return false;
  }
}

/** The process answers: live. */
export function serverLiveV2(): boolean {
  return true;
}

/** Ready once the initially configured models have settled, until a shutdown begins (ServingCore.readiness). */
export function serverReadyV2(core: ServingCore): boolean {
  return core.readiness === 'ready';
}
