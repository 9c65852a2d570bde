/**
 * --model_control_mode, Triton's --model-control-mode with flowserve's meaning of each value:
 *  - none (default): the served models come from the model config (start-up, config file, reload RPC); versions are
 *    discovered by polling base paths as TF Serving does; the v2 repository API's load/unload are refused.
 *  - poll: the same, stated explicitly: Triton's poll mode picks up repository changes by polling, which flowserve
 *    always does (--file_system_poll_wait_seconds, --model_config_file_poll_wait_seconds), so poll requires a
 *    positive --file_system_poll_wait_seconds; load/unload are refused, as Triton refuses them in poll mode.
 *  - explicit: load/unload are allowed. Polling continues as configured (set --file_system_poll_wait_seconds=0 to
 *    change versions only on a load, as Triton's explicit mode does).
 */
import { InvalidArgument } from '../../errors.js';
import type { ModelControlMode } from '../core/types.js';

const MODES: readonly ModelControlMode[] = ['none', 'poll', 'explicit'];

export function parseModelControlMode(text: string, fileSystemPollWaitSeconds: number): ModelControlMode {
  const mode = text.trim().toLowerCase() as ModelControlMode;
  if (!MODES.includes(mode)) {
    throw new InvalidArgument(`invalid value for --model_control_mode: '${text}' (expected none, poll or explicit)`);
  }
  if (mode === 'poll' && fileSystemPollWaitSeconds <= 0) {
    throw new InvalidArgument(
      `--model_control_mode=poll needs version polling, but --file_system_poll_wait_seconds is ${fileSystemPollWaitSeconds}; ` +
        'set it above 0 or use --model_control_mode=none',
    );
  }
  return mode;
}
