/**
 * Results of runs computed synchronously (ort-native.ts) go back through promises. A promise that is already resolved
 * lets a loop of `await session.run(...)` go on without the event loop ever taking a turn: its timers and I/O (a
 * progress log, a server in the same process, Ctrl-C's handler) would wait for the whole loop. So once
 * MAX_MS_BETWEEN_TURNS of wall time has passed since the event loop's last turn seen here, a result is handed back from
 * `setImmediate` instead: the loop's I/O and timers wait at most that long plus one run, and a loop of tiny runs pays
 * for a turn once every many runs instead of once a run (ONNX Runtime's own handler takes a turn before every run).
 */

/** Wall time after which the next run's result waits for a turn of the event loop. */
export const MAX_MS_BETWEEN_TURNS = 2;

/** When the event loop's current turn began, as far as this module knows (its own setImmediate marks it). */
let turnStartedAt = performance.now();
let markPending = false;

function markTurn(): void {
  markPending = false;
  turnStartedAt = performance.now();
}

/**
 * `value` as a promise: resolved at once while the current turn is within its budget, else on the next turn of the
 * event loop.
 */
export function resolveWithinTurn<T>(value: T): Promise<T> {
  if (performance.now() - turnStartedAt < MAX_MS_BETWEEN_TURNS) {
    // Learn when the loop next turns by itself (a server between requests), so that the budget counts from there.
    if (!markPending) {
      markPending = true;
      setImmediate(markTurn);
    }
    return Promise.resolve(value);
  }
  return new Promise((resolve) =>
    setImmediate(() => {
      markTurn();
      resolve(value);
    }),
  );
}
