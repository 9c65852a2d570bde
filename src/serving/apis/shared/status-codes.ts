/** TensorFlow's error codes (tensorflow.error.Code, numerically the gRPC codes) and model version states. */
import type { VersionState } from '../../core/types.js';

export const ERROR_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

export function errorCodeNumber(name: string | undefined): number {
  return name === undefined ? 0 : (ERROR_CODES[name] ?? 2);
}

export function errorCodeName(code: number): string {
  return Object.keys(ERROR_CODES).find((name) => ERROR_CODES[name] === code) ?? 'UNKNOWN';
}

/** ModelVersionStatus.State numbers (get_model_status.proto). */
export const VERSION_STATE_CODES: Record<VersionState, number> = {
  START: 10,
  LOADING: 20,
  AVAILABLE: 30,
  UNLOADING: 40,
  END: 50,
};

export function versionStateName(code: number): string {
  const entry = Object.entries(VERSION_STATE_CODES).find(([, c]) => c === code);
  return entry ? entry[0] : 'UNKNOWN';
}
