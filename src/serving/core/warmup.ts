/**
 * Model warmup (spec §3.6, format in docs/warmup-format.md): before a version becomes AVAILABLE, replay the requests
 * stored in `<version>/assets.extra/warmup.json`, so the first real request does not pay for lazy initialisation.
 * TF Serving's own `assets.extra/tf_serving_warmup_requests` (TFRecord of PredictionLog) needs the protobuf codecs
 * of the API layer, so the core only defines its hook (TfWarmupReader); startServer passes the reader in.
 * Any failure (parse or run) fails the version's load, as in TF Serving.
 */
import { readOptionalText } from './read-optional.js';
import { join } from 'node:path';
import { InvalidArgument } from '../../errors.js';
import { isDType } from '../../graph/dtype.js';
import { HostTensor, type NestedArray } from '../../graph/host-tensor.js';
import type { ExampleFeatures } from './example-parsing.js';
import { modelInputs } from './model-inputs.js';
import { resolveOutputAliases, resolveSignatureName } from './request-validation.js';
import type { Servable } from './servable.js';
import type { ServableInfo, Signature } from './types.js';

export const WARMUP_FILE = join('assets.extra', 'warmup.json');
/** TensorFlow Serving's warmup file: a TFRecord file of serialized tensorflow.serving.PredictionLog. */
export const TF_WARMUP_FILE = join('assets.extra', 'tf_serving_warmup_requests');
/** TF Serving's cap on warmup records. */
export const MAX_WARMUP_RECORDS = 1000;

export interface WarmupRequest {
  signatureName: string;
  inputs: Record<string, HostTensor>;
  /** A Classify/Regress record on a signature that parses tf.Examples: its examples (RunRequest.examples). */
  examples?: readonly ExampleFeatures[];
  iterations: number;
  /** Output aliases to fetch; undefined or empty = every output of the signature. */
  outputFilter?: readonly string[];
  /** Checks the outputs as the real API would (e.g. Classify's shape checks); a throw fails the warmup. */
  checkOutputs?: (outputs: Record<string, HostTensor>) => void;
  /** Where the request comes from, for errors (e.g. "<file>: record 3 (predict_log)"). */
  origin?: string;
}

/**
 * Reads TF Serving's warmup file (TF_WARMUP_FILE) of a version dir into warmup requests, resolving undefined when
 * the version has none. `servable` is the version being loaded (its signatures decide how tf.Examples become
 * inputs). A rejection fails the load. Injected through ServingCoreOptions.readTfWarmup.
 */
export type TfWarmupReader = (versionDir: string, servable: ServableInfo) => Promise<WarmupRequest[] | undefined>;

interface WarmupFileTensor {
  dtype?: unknown;
  shape?: unknown;
  values?: unknown;
}

interface WarmupFileRequest {
  signature_name?: unknown;
  iterations?: unknown;
  inputs?: Record<string, WarmupFileTensor>;
}

/** Reads the warmup file of a version dir; undefined when there is none. */
export async function readWarmupRequests(versionDir: string): Promise<WarmupRequest[] | undefined> {
  const path = join(versionDir, WARMUP_FILE);
  const text = await readOptionalText(path);
  if (text === undefined) return undefined;
  return parseWarmupFile(text, path);
}

export function parseWarmupFile(text: string, path: string): WarmupRequest[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgument(`${path}: invalid JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(list)) throw new InvalidArgument(`${path}: expected a list of requests or {"requests": [...]}`);
  if (list.length > MAX_WARMUP_RECORDS) {
    throw new InvalidArgument(`Number of warmup records exceeds the maximum (${MAX_WARMUP_RECORDS}) at ${path}`);
  }
  return list.map((entry: WarmupFileRequest, i) => {
    const where = `${path}: request ${i}`;
    if (typeof entry !== 'object' || entry === null || typeof entry.inputs !== 'object' || entry.inputs === null) {
      throw new InvalidArgument(`${where} has no "inputs" object`);
    }
    const inputs: Record<string, HostTensor> = {};
    for (const [alias, t] of Object.entries(entry.inputs)) {
      if (!isDType(t.dtype))
        throw new InvalidArgument(`${where} input '${alias}' has unknown dtype '${String(t.dtype)}'`);
      if (!Array.isArray(t.values)) throw new InvalidArgument(`${where} input '${alias}' has no "values" list`);
      const shape = Array.isArray(t.shape) ? (t.shape as number[]) : undefined;
      try {
        inputs[alias] = HostTensor.from(t.dtype, t.values as NestedArray, shape);
      } catch (err) {
        throw new InvalidArgument(`${where} input '${alias}': ${(err as Error).message}`);
      }
    }
    const iterations = entry.iterations === undefined ? 1 : Number(entry.iterations);
    if (!Number.isInteger(iterations) || iterations < 1) {
      throw new InvalidArgument(`${where} has iterations ${String(entry.iterations)}; expected a positive integer`);
    }
    return {
      signatureName: typeof entry.signature_name === 'string' ? entry.signature_name : '',
      inputs,
      iterations,
    };
  });
}

/** Replays `requests` on `servable` (sequentially: warmup is about first-call costs, not throughput). */
export async function runWarmup(servable: Servable, requests: readonly WarmupRequest[]): Promise<void> {
  for (const [i, request] of requests.entries()) {
    try {
      const signatureName = resolveSignatureName(servable, request.signatureName);
      const signature = servable.signatures[signatureName] as Signature;
      const inputs = modelInputs(signature, signatureName, request, { maxInputBytes: Infinity, maxExamples: Infinity });
      const outputs = resolveOutputAliases(signature, request.outputFilter);
      for (let n = 0; n < request.iterations; n++) {
        const result = await servable.run(signatureName, inputs, outputs);
        request.checkOutputs?.(result);
      }
    } catch (err) {
      const origin = request.origin ? ` (${request.origin})` : '';
      throw new InvalidArgument(`warmup request ${i}${origin} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
