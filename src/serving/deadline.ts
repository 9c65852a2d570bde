/**
 * Request deadlines, as absolute `Date.now()` milliseconds (a gRPC call's deadline, or the REST timeout counted from
 * the request's arrival). A request whose deadline passes while it waits in a queue (the batch scheduler's, or a
 * worker's) is dropped before it runs: its client has stopped waiting, and running it would only delay the requests
 * behind it. Worker threads share the clock, so they can check it too.
 */
import { DeadlineExceeded } from '../errors.js';

/** undefined = no deadline. */
export type Deadline = number | undefined;

/** A request dropped, unrun, because its deadline passed while it was queued (counted apart from other errors). */
export class DroppedAtDeadline extends DeadlineExceeded {
  /** `when`: e.g. 'while waiting in the batch scheduling queue'. */
  constructor(when: string) {
    super(`Deadline exceeded ${when}; the request was dropped before it ran`);
  }
}

export function deadlinePassed(deadline: Deadline, now = Date.now()): boolean {
  return deadline !== undefined && now >= deadline;
}

/** The deadline of work done for several requests at once: the latest, or none when any of them has none. */
export function latestDeadline(deadlines: readonly Deadline[]): Deadline {
  let latest = -Infinity;
  for (const d of deadlines) {
    if (d === undefined) return undefined;
    latest = Math.max(latest, d);
  }
  return deadlines.length === 0 ? undefined : latest;
}
