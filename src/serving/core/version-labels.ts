/** Version labels (spec §4.4): label → version, checked against availability before a config is applied. */
import { FailedPrecondition } from '../../errors.js';

export type LabelMap = Record<string, number>;

/**
 * Throws FailedPrecondition unless every label points at an AVAILABLE version. With
 * `allowUnavailable`, a label may point at an unavailable version only if it is new or keeps its current version:
 * moving a label that carries traffic to a version that cannot serve yet is still refused.
 */
export function checkVersionLabels(
  model: string,
  labels: LabelMap,
  currentLabels: LabelMap,
  isAvailable: (version: number) => boolean,
  allowUnavailable: boolean,
): void {
  for (const [label, version] of Object.entries(labels)) {
    if (isAvailable(version)) continue;
    const current = currentLabels[label];
    if (allowUnavailable && (current === undefined || current === version)) continue;
    throw new FailedPrecondition(
      `Request to assign label to version ${version} of model ${model}, which is not currently available for inference`,
    );
  }
}
