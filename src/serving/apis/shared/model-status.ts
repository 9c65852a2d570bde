/** GetModelStatus over the core: TF Serving ignores version labels here and lists versions as the core gives them. */
import { InvalidArgument } from '../../../errors.js';
import type { ServingCore, VersionStatus } from '../../core/types.js';
import type { GetModelStatusResponseMsg, ModelSpecMsg } from './proto-types.js';
import { errorCodeNumber, VERSION_STATE_CODES } from './status-codes.js';

export function modelStatus(core: ServingCore, spec: ModelSpecMsg | undefined): VersionStatus[] {
  if (!spec) throw new InvalidArgument('Missing ModelSpec');
  if (!spec.name) throw new InvalidArgument('ModelSpec has no name specified.');
  const hasVersion = spec.version_choice === 'version' || (spec.version !== undefined && spec.version !== null);
  return core.status(spec.name, hasVersion ? Number(spec.version?.value ?? 0) : undefined);
}

export function statusResponse(statuses: readonly VersionStatus[]): GetModelStatusResponseMsg {
  return {
    model_version_status: statuses.map((s) => ({
      version: String(s.version),
      state: VERSION_STATE_CODES[s.state],
      status: { error_code: errorCodeNumber(s.error?.code), error_message: s.error?.message ?? '' },
    })),
  };
}
