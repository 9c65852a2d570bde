/**
 * The short seeded fuzz run of issue 9 ("proven by tests that stay in the suite"): `npm run fuzz` with 5,000
 * requests against two live servers must finish with no crash, no gRPC UNKNOWN/INTERNAL, no HTTP 5xx, RSS under
 * its bound and every valid probe answered correctly. It runs the real CLI (bench/fuzz.ts) in a child process, as
 * a user would, and reads its JSON summary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { FuzzSummary } from '../../bench/hostile/fuzz-run.js';

const FUZZ_CLI = fileURLToPath(new URL('../../bench/fuzz.js', import.meta.url));

/** Violations in the REST JSON reader fail this test like every other finding ('record' would only count them). */
const REST_JSON_READER: 'fail' | 'record' = 'fail';

test(
  '5,000 seeded hostile requests: no crash, no 5xx/UNKNOWN/INTERNAL, bounded RSS, correct answers',
  { timeout: 240_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowserve-fuzz-test-'));
    try {
      const json = join(dir, 'fuzz.json');
      const args = [
        FUZZ_CLI,
        '--seed',
        '1',
        '--requests',
        '5000',
        '--concurrency',
        '8',
        '--rest_json_reader',
        REST_JSON_READER,
      ];
      const child = spawn(process.execPath, [...args, '--json', json, '--violation_dir', join(dir, 'violations')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
      child.stderr.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, output);
      const summary = JSON.parse(readFileSync(json, 'utf8')) as FuzzSummary;
      assert.equal(summary.failing, 0, output);
      assert.equal(summary.crashes, 0);
      assert.ok(summary.sent + summary.notSent >= 5000, `only ${summary.sent} sent`);
      assert.equal(summary.probes.passed, summary.probes.sent);
      assert.ok(summary.probes.sent >= 5 + 8, `${summary.probes.sent} probes`);
      assert.ok(summary.rss.maxMiB.plain <= summary.rss.limitMiB && summary.rss.maxMiB.batched <= summary.rss.limitMiB);
      // Both protocols, and hostile cases of every family, were really sent.
      for (const family of [
        'grpc.predict.tensor',
        'grpc.bytes.predict',
        'grpc.classify.examples',
        'rest.json.malformed',
        'rest.gzip',
        'rest.path',
      ]) {
        assert.ok(
          (summary.categories[family]?.sent ?? 0) > 20,
          `${family}: ${summary.categories[family]?.sent ?? 0} sent`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
