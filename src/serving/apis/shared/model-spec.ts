/** ModelSpec ⇄ the core's ModelSelector, with TF Serving's messages for a missing spec or name. */
import { InvalidArgument } from '../../../errors.js';
import type { ModelSelector } from '../../core/types.js';
import type { ModelSpecMsg } from './proto-types.js';

export interface SpecTarget {
  selector: ModelSelector;
  /** Undefined when the request left signature_name empty (the servable's default is used). */
  signatureName?: string;
}

export function targetFromSpec(spec: ModelSpecMsg | undefined | null): SpecTarget {
  if (!spec) throw new InvalidArgument('Missing ModelSpec');
  if (!spec.name) throw new InvalidArgument('ModelSpec has no name specified.');
  const selector: ModelSelector = { name: spec.name };
  // Message presence decides: an empty Int64Value sub-message is version 0.
  if (spec.version_choice === 'version' || (spec.version !== undefined && spec.version !== null)) {
    const version = Number(spec.version?.value ?? 0);
    if (!Number.isSafeInteger(version)) throw new InvalidArgument(`ModelSpec version ${version} is out of range`);
    selector.version = version;
  } else if (spec.version_choice === 'version_label' || spec.version_label) {
    selector.label = spec.version_label ?? '';
  }
  return { selector, signatureName: spec.signature_name || undefined };
}

/** The model_spec a response carries: the name, the version actually used and the resolved signature. */
export function responseSpec(name: string, version: number, signatureName?: string): ModelSpecMsg {
  const spec: ModelSpecMsg = { name, version: { value: String(version) } };
  if (signatureName !== undefined) spec.signature_name = signatureName;
  return spec;
}
