/**
 * bench/gc-pauses.ts's reading of V8's --trace-gc-nvp output: the main isolate's full collections only, from lines
 * that may arrive split across stdout chunks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GcTrace } from '../../bench/gc-pauses.js';

const MAIN = '[4242:0x2a5be10]';
const WORKER = '[4242:0x7f3b88000f00]';

/** A --trace-gc-nvp line of `isolate`: its pause, then `fields`. */
function line(isolate: string, pauseMs: number, fields: string): string {
  return `${isolate}    1234 ms: pause=${pauseMs} mutator=1.0 ${fields}\n`;
}

describe('GcTrace', () => {
  it("keeps the first isolate's full collections, with their pause, external-string time and reduce flag", () => {
    const trace = new GcTrace();
    trace.add(line(MAIN, 1.3, 'gc=s reduce_memory=0 scavenge=1.2'));
    trace.add(line(MAIN, 252.8, 'gc=mc reduce_memory=0 clear=94 clear.external_string_table=92.7 sweep=126.2'));
    trace.add(line(WORKER, 9.4, 'gc=mc reduce_memory=1 clear.external_string_table=0.0'));
    trace.add(line(MAIN, 14.7, 'gc=mc reduce_memory=1 clear.external_string_table=3.5'));
    assert.deepEqual(trace.fullGcs, [
      { pauseMs: 252.8, externalStringsMs: 92.7, reduce: false },
      { pauseMs: 14.7, externalStringsMs: 3.5, reduce: true },
    ]);
  });

  it('joins a line split across chunks and ignores lines that are not trace lines', () => {
    const trace = new GcTrace();
    const text = 'Warning: something else\n' + line(MAIN, 0, 'gc=mc reduce_memory=0 clear.external_string_table=2.5');
    const cut = text.indexOf('gc=mc') + 3;
    trace.add(text.slice(0, cut));
    assert.equal(trace.fullGcs.length, 0);
    trace.add(text.slice(cut));
    assert.deepEqual(trace.fullGcs, [{ pauseMs: 0, externalStringsMs: 2.5, reduce: false }]);
  });

  it('takes the main isolate from the first trace line, whatever its address', () => {
    const trace = new GcTrace();
    trace.add(line(WORKER, 0, 'gc=s reduce_memory=0'));
    trace.add(line(MAIN, 0, 'gc=mc reduce_memory=0 clear.external_string_table=1.0'));
    trace.add(line(WORKER, 0, 'gc=mc reduce_memory=0 clear.external_string_table=4.0'));
    assert.deepEqual(trace.fullGcs, [{ pauseMs: 0, externalStringsMs: 4, reduce: false }]);
  });
});
