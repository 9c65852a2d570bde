/** The `grpc-timeout` request header (PROTOCOL-HTTP2.md: 1–8 digits and a unit) as milliseconds. */
import { Internal } from '../../../../errors.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/** Milliseconds from now; INTERNAL (as grpc-js) for a value the spec does not allow. */
export function parseGrpcTimeout(value: string): number {
  const match = TIMEOUT.exec(value);
  if (match === null) throw new Internal(`Invalid grpc-timeout value "${value.slice(0, 64)}"`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}
