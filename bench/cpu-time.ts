/** CPU-time readings and the median the CPU-time benches share. */
import { readFileSync } from 'node:fs';

/** This thread's user + system CPU in µs (10 ms resolution). */
export function threadCpuMicros(): number {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The middle value (the upper one of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}
