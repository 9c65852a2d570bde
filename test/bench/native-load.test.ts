import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { h2loadSeconds } from '../../bench/native-load.js';

describe("h2load's summary", () => {
  it('gives the run in seconds, whether h2load wrote s, ms or us', () => {
    assert.equal(h2loadSeconds('finished in 2.00s, 6693.50 req/s, 1.2MB/s'), 2);
    // A 1 s run (-D1) can end a little early: h2load then writes milliseconds.
    assert.equal(h2loadSeconds('finished in 999.02ms, 1670.00 req/s, 220.71KB/s'), 0.99902);
    assert.equal(h2loadSeconds('finished in 850.5us, 10.00 req/s, 1KB/s'), 0.0008505);
    assert.ok(Number.isNaN(h2loadSeconds('starting benchmark...')));
  });
});
