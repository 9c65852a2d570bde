/**
 * A client connection that counts its calls in progress, as a transport names it to the worker pool
 * (RunOptions.connection): gRPC's transport keeps one per HTTP/2 session, the REST port's HTTP/1.1 front one per
 * connection it reads (rest/http1-front.ts), which it names only for a lone call.
 *
 * The pool holds a tiny model's calling-thread run for the end of the turn of the event loop, so that it knows the
 * turn's other runs and computes them back to back (worker-pool.ts `runSomewhere`). For one request in flight that
 * wait buys nothing and costs a turn: the reply, made in the check phase, is written in the next turn's. A lone call
 * (`isLoneCall`) therefore computes at once. Lone means:
 * - its connection has no other call in progress. node:http2 hands JavaScript every stream of a socket read (its
 *   'stream' events) before any of their messages, so this count already includes the calls of the same read;
 * - no other call of any connection began in this turn, so it is not one of several connections' burst;
 * - at most one began in the last turn in which any began. Under load from many connections, each with one call,
 *   every call would otherwise look lone on arrival and compute between the others' reads: 64 connections answered
 *   about a fifth less that way (docs/performance.md, "Round 19").
 */

/** Calls begun in this turn of the event loop, and in the last turn in which any began. */
let begunThisTurn = 0;
let begunLastTurn = 0;
let turnEndScheduled = false;

function endTurn(): void {
  begunLastTurn = begunThisTurn;
  begunThisTurn = 0;
  turnEndScheduled = false;
}

export class ClientConnection {
  private inProgress = 0;

  /**
   * `multiplexed`: its calls are answered concurrently on one socket (an HTTP/2 session), so a worker may hold one
   * call's reply for the next to share a write (worker-pool.ts `repliesMayWait`). An HTTP/1.1 connection has one
   * call at a time: nothing would share the write.
   */
  constructor(readonly multiplexed = true) {}

  /** Calls begun on the connection and not yet answered, cancelled or closed. */
  get callsInProgress(): number {
    return this.inProgress;
  }

  /** A call began on the connection (its stream arrived). */
  begin(): void {
    this.inProgress++;
    begunThisTurn++;
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      setImmediate(endTurn);
    }
  }

  /** A call that began here was answered, cancelled or closed. Once per begin(). */
  end(): void {
    this.inProgress--;
  }
}

/** Whether the caller's call, on `connection`, is lone (see above): its run need not wait for the end of the turn. */
export function isLoneCall(connection: object | undefined): boolean {
  return (
    connection instanceof ClientConnection &&
    connection.callsInProgress === 1 &&
    begunThisTurn === 1 &&
    begunLastTurn <= 1
  );
}
