/**
 * Value parsers for the CLI's own flags (commander argParsers). A bad value stops the command with commander's
 * message naming the flag and the value (`option '--concurrency <list>' argument '0' is invalid. …`).
 */
import { InvalidArgumentError } from 'commander';
import { InvalidArgument } from '../errors.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError('must be a non-negative integer');
  }
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** A comma-separated list of positive integers, e.g. `1,8,32`. */
export function positiveIntList(value: string): number[] {
  const parts = value.split(',');
  const numbers = parts.map((part) => Number(part));
  if (parts.some((part, i) => part.trim() === '' || !Number.isSafeInteger(numbers[i]) || (numbers[i] as number) < 1)) {
    throw new InvalidArgumentError('must be positive integers separated by commas, e.g. 1,8,32');
  }
  return numbers;
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

export const SERVING_APIS = ['grpc', 'rest'] as const;
export type ServingApi = (typeof SERVING_APIS)[number];

/** The server a client command talks to by default: TF Serving's ports, 8500 for gRPC and 8501 for REST. */
export function defaultServerAddress(api: ServingApi): string {
  return api === 'rest' ? 'localhost:8501' : 'localhost:8500';
}

export const SERVING_PROTOCOLS = ['v1', 'v2'] as const;
export type ServingProtocol = (typeof SERVING_PROTOCOLS)[number];

/** `--binary` selects the v2 REST binary tensor extension: refused where it would be ignored. */
export function checkBinaryFlag(binary: boolean | undefined, protocol: ServingProtocol, api: ServingApi): void {
  if (binary && (protocol !== 'v2' || api !== 'rest')) {
    throw new InvalidArgument(
      `--binary applies to --protocol v2 --api rest (gRPC v2 always sends raw bytes); got --protocol ${protocol} --api ${api}`,
    );
  }
}
