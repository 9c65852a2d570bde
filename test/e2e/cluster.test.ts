/**
 * Issue 12, "Many replicas": 3 real `flowserve serve` processes reading one S3 bucket (s3rver on loopback) behind a
 * real HAProxy, 8 clients (gRPC and REST) through it. The bars: 0 failed requests while a new version rolls out and
 * during a rolling restart (through frontends without retries: readiness and drain alone); with one replica
 * SIGKILLed, the requests that failed despite HAProxy's retries are reported. The code is the demo's
 * (bench/cluster/), with shorter phases.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findHaproxy } from '../../bench/cluster/haproxy.js';
import { DEFAULT_CLUSTER_OPTIONS, runCluster, type NewVersionDetail } from '../../bench/cluster/scenarios.js';

const haproxy = findHaproxy();
/** S3 completeness: a version seen for the first time is listed again this much later before it is fetched. */
const S3_SETTLE_MS = 1000;
/** Room for the download (part of an S3 version's load, not in the load-latency metric) and a loaded machine. */
const SLACK_MS = 2500;

describe(
  'many replicas behind HAProxy',
  { skip: haproxy ? false : 'haproxy is not installed (apt-get install haproxy)' },
  () => {
    test(
      'a new version and a rolling restart fail no request; a SIGKILLed replica is counted',
      { timeout: 110_000 },
      async (t) => {
        const result = await runCluster({
          ...DEFAULT_CLUSTER_OPTIONS,
          haproxy: haproxy as string,
          storage: 's3',
          steadyMs: 500,
          log: (line) => t.diagnostic(line),
        });
        const [a, b, c] = result.scenarios;
        assert.ok(a && b && c);
        for (const s of result.scenarios) {
          t.diagnostic(
            `${s.name}: ${s.summary.requests} requests, ${s.summary.failures} failed, p99 ${s.summary.p99Ms.toFixed(1)} ms`,
          );
        }

        assert.ok(a.summary.requests > 0);
        assert.equal(a.summary.failures, 0, a.summary.errors.join('\n'));
        for (const r of a.details.replicas as NewVersionDetail[]) {
          t.diagnostic(JSON.stringify(r));
          const bound = result.pollMs + S3_SETTLE_MS + r.loadMs + SLACK_MS;
          assert.ok(
            r.servedAfterMs <= bound,
            `${r.replica} served version 2 after ${r.servedAfterMs} ms (bound ${bound})`,
          );
        }
        const after = a.details.viaProxyAfterSwitch as { grpcRequests: number; answeredByVersion2: number };
        assert.equal(
          after.answeredByVersion2,
          after.grpcRequests,
          'every answer through HAProxy after the switch is version 2',
        );

        assert.ok(b.summary.requests > 0);
        assert.equal(b.summary.failures, 0, b.summary.errors.join('\n'));
        for (const step of b.details.steps as { replica: string; exit: { code: number | null } }[]) {
          assert.equal(step.exit.code, 0, `${step.replica} exited 0 after its drain`);
        }

        // (c) has no bar: what failed although HAProxy retries is what a SIGKILL costs.
        assert.ok(c.summary.requests > 0);
        t.diagnostic(`(c) failed and not retried: ${c.summary.failures} ${c.summary.errors.join('; ')}`);
      },
    );
  },
);
