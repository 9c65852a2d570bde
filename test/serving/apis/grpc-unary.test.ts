import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import { unary, type CallContext } from '../../../src/serving/apis/grpc/unary.js';

/** The parts of a grpc-js ServerUnaryCall that unary() reads: request, deadline, the cancelled flag and event. */
class FakeCall extends EventEmitter {
  cancelled = false;
  constructor(
    readonly request: unknown,
    private readonly deadline: Date | number = Infinity,
  ) {
    super();
  }
  getDeadline(): Date | number {
    return this.deadline;
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

/** Calls `handler` through unary() on `call` and resolves with the callback's error (null when it answered). */
function invoke(
  call: FakeCall,
  handler: (request: unknown, context: CallContext) => Promise<object> | object,
): Promise<ServiceError | null> {
  const method = unary(handler, { api: 'Test' });
  return new Promise((resolve) =>
    method(call as unknown as ServerUnaryCall<unknown, object>, (err) => resolve(err as ServiceError | null)),
  );
}

describe('gRPC unary calls', () => {
  it('a handler that never reads its signal leaves no listener or timer behind on the call', async () => {
    const call = new FakeCall({}, Date.now() + 60_000);
    let listenersDuringHandler = -1;
    const err = await invoke(call, () => {
      listenersDuringHandler = call.listenerCount('cancelled');
      return {};
    });
    assert.equal(err, null);
    assert.equal(listenersDuringHandler, 0);
    assert.equal(call.listenerCount('cancelled'), 0);
  });

  it('the signal a handler reads aborts with CANCELLED when the client cancels, and is released when it ends', async () => {
    const call = new FakeCall({});
    let reason: unknown;
    const err = await invoke(call, async (_request, context) => {
      const signal = context.signal;
      assert.equal(signal.aborted, false);
      assert.equal(call.listenerCount('cancelled'), 1);
      call.cancel();
      assert.equal(signal.aborted, true);
      reason = signal.reason;
      return {};
    });
    assert.equal(err, null);
    assert.match(String(reason), /cancelled the call/);
    assert.equal(call.listenerCount('cancelled'), 0);
  });

  it('the signal is already aborted when read after the client cancelled', async () => {
    const call = new FakeCall({});
    call.cancelled = true;
    let aborted = false;
    await invoke(call, async (_request, context) => {
      aborted = context.signal.aborted;
      return {};
    });
    assert.equal(aborted, true);
  });

  it("the signal aborts with DEADLINE_EXCEEDED when the call's deadline passes", async () => {
    const call = new FakeCall({}, Date.now() + 20);
    let reason: unknown;
    await invoke(call, async (_request, context) => {
      assert.equal(typeof context.deadline, 'number');
      await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve()));
      reason = context.signal.reason;
      return {};
    });
    assert.match(String(reason), /deadline passed/);
  });
});
