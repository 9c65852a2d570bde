/** Which of the versions found on disk a model aspires to serve (FileSystemStoragePathSource's policies, spec §4.1). */
import type { VersionPolicy } from '../config/model-server-config.js';

/** `present` in any order; the result is sorted descending (TF Serving's order). */
export function aspiredVersions(policy: VersionPolicy, present: readonly number[]): number[] {
  const sorted = [...new Set(present)].sort((a, b) => b - a);
  switch (policy.kind) {
    case 'latest':
      return sorted.slice(0, Math.max(1, policy.numVersions));
    case 'all':
      return sorted;
    case 'specific': {
      const wanted = new Set(policy.versions);
      return sorted.filter((v) => wanted.has(v));
    }
  }
}

/** Versions a specific policy lists that are not on disk (TF Serving logs a warning for each). */
export function missingSpecificVersions(policy: VersionPolicy, present: readonly number[]): number[] {
  if (policy.kind !== 'specific') return [];
  const have = new Set(present);
  return policy.versions.filter((v) => !have.has(v));
}
