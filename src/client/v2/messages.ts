/** Pieces of v2 requests and responses shared by the REST and gRPC clients. */
import { InvalidArgument } from '../../errors.js';
import type { V2InferOptions, V2ModelStatistics, V2ModelTarget, V2Parameter } from './types.js';

/**
 * Request parameters that the client sets itself, and Triton's reserved prefix: a caller passing them would
 * silently change the wire format or be refused by the server, so they are refused here by name.
 */
const RESERVED_PARAMETERS = new Set(['binary_data_output', 'signature_name']);

/** The request-level parameters: the caller's, plus `signature_name` from the target. */
export function inferParameters(target: V2ModelTarget, options: V2InferOptions): Record<string, V2Parameter> {
  const parameters: Record<string, V2Parameter> = {};
  for (const [key, value] of Object.entries(options.parameters ?? {})) {
    if (RESERVED_PARAMETERS.has(key) || key.startsWith('triton_')) {
      throw new InvalidArgument(
        `parameter ${key} is set by the client (signature_name: the target's signatureName; ` +
          `binary_data_output: the client's binary option); triton_* keys are reserved`,
      );
    }
    parameters[key] = value;
  }
  if (target.signatureName !== undefined) parameters.signature_name = target.signatureName;
  return parameters;
}

/** Counter fields that gRPC decodes as strings (uint64) and JSON as numbers. */
const NUMBER_KEYS = new Set(['last_inference', 'inference_count', 'execution_count', 'count', 'ns', 'batch_size']);

function numbersIn(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(numbersIn);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, NUMBER_KEYS.has(k) && typeof v === 'string' ? Number(v) : numbersIn(v)]),
  );
}

/** `{model_stats: [...]}` (either protocol) → the list, counters as numbers. */
export function statisticsList(response: unknown): V2ModelStatistics[] {
  const list = (response as { model_stats?: unknown } | null)?.model_stats;
  return (Array.isArray(list) ? list.map(numbersIn) : []) as V2ModelStatistics[];
}
