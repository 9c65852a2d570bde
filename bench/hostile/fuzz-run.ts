/**
 * The fuzz loop: two real servers in child processes (one with server-side batching, since TF Serving's batching
 * is server-wide), `concurrency` workers drawing case i from Rng(seed, i) (so any one case can be replayed with
 * --case i, whatever the timing), each reply judged by verdict.ts, a valid request checked against its float64
 * reference every 1,000 requests, the servers' RSS sampled throughout and their exits watched.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempBase } from '../../test/serving/apis/fixtures.js';
import { isRestJsonReaderCategory, type FuzzCase, type ServerRole } from './fuzz-case.js';
import { grpcCase } from './grpc-cases.js';
import { probe, PROBE_KINDS } from './probes.js';
import { restCase } from './rest-cases.js';
import { Rng } from './rng.js';
import { startServerProcess, writeFuzzModels, type ServerProcess } from './server-process.js';
import { RawGrpc, RawHttp } from './transport.js';
import { judgeGrpc, judgeHttp, type Verdict } from './verdict.js';

export interface FuzzOptions {
  seed: number;
  requests: number;
  concurrency: number;
  /** Bound on each server's resident memory. */
  rssLimitMiB: number;
  /**
   * The servers' --max_input_bytes. What one admitted request may legitimately hold is a few copies of it (decoded
   * input, its copy in the inference worker, the output, the encoded reply), so the RSS bound is only meaningful
   * against it: 16 MiB with a 1 GiB bound by default.
   */
  maxInputBytes: number;
  /** A request not answered within this is a violation. */
  deadlineMs: number;
  /** Keep going after a violation (up to maxViolations) instead of stopping at the first. */
  keepGoing: boolean;
  maxViolations: number;
  /**
   * 'fail': a violation in a REST JSON-reader category (rest.json.*) fails the run like any other; 'record': it is
   * counted and reported as open but does not fail the run (while that reader is being rewritten elsewhere).
   */
  restJsonReader: 'fail' | 'record';
  /** Run only this case index (replay). */
  caseIndex?: number;
  /** Where violating requests are saved. */
  violationDir: string;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface CategoryStats {
  sent: number;
  outcomes: Record<string, number>;
  violations: number;
  p50Ms: number;
  p99Ms: number;
}

export interface FuzzViolation {
  index: number;
  category: string;
  server: ServerRole;
  violation: string;
  request: string;
  reply: string;
  /** Saved request files. */
  files: string[];
  /** True for a REST JSON-reader category recorded as open (restJsonReader 'record'). */
  open: boolean;
}

export interface FuzzSummary {
  seed: number;
  requests: number;
  sent: number;
  notSent: number;
  seconds: number;
  throughput: number;
  concurrency: number;
  categories: Record<string, CategoryStats>;
  /** Replies by outcome (gRPC code name or HTTP status) over all categories. */
  outcomes: Record<string, number>;
  rss: { limitMiB: number; maxMiB: Record<ServerRole, number>; startMiB: Record<ServerRole, number> };
  probes: { sent: number; passed: number };
  /** CPU seconds used by the fuzzer and by each server over the run: where the machine's time went. */
  cpuSeconds: { fuzzer: number } & Record<ServerRole, number>;
  /** HTTP requests resent after a reset on a reused keep-alive socket. */
  httpRetries: number;
  crashes: number;
  violations: FuzzViolation[];
  /** Violations that fail the run (all but recorded open ones). */
  failing: number;
  /** REST JSON-reader violations recorded as open (all of them; `violations` keeps the first few). */
  open: number;
}

const PROBE_EVERY = 1000;
const MAX_OPEN_KEPT = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RSS_CHECK_EVERY = 100;

/** The case at `index` of the run seeded `seed`: the same on every run. */
export function fuzzCase(seed: number, index: number): FuzzCase {
  const rng = new Rng((seed + Math.imul(index, 0x9e3779b1)) >>> 0);
  const server: ServerRole = rng.chance(0.25) ? 'batched' : 'plain';
  return rng.chance(0.55) ? grpcCase(rng, server) : restCase(rng, server);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const log = options.log ?? (() => {});
  const base = tempBase('flowserve-fuzz-');
  const models = writeFuzzModels(base);
  const servers: Partial<Record<ServerRole, ServerProcess>> = {};
  const clients: Partial<Record<ServerRole, { grpc: RawGrpc; http: RawHttp }>> = {};
  const latencies = new Map<string, number[]>();
  const categories: Record<string, CategoryStats> = {};
  const outcomes: Record<string, number> = {};
  const violations: FuzzViolation[] = [];
  const probes = { sent: 0, passed: 0 };
  let sent = 0;
  let notSent = 0;
  let crashes = 0;
  let openCount = 0;
  const crashed = new Set<ServerRole>();
  const overRss = new Set<ServerRole>();
  /** Case indices sent and not yet answered: the suspects when memory jumps. */
  const inFlight = new Set<number>();
  let stop = false;
  const started = performance.now();

  const failing = () => violations.filter((v) => !v.open).length;
  const record = (
    index: number,
    failed: Pick<FuzzCase, 'category' | 'server' | 'summary'> & Partial<FuzzCase>,
    violation: string,
    reply: string,
  ) => {
    const open = options.restJsonReader === 'record' && isRestJsonReaderCategory(failed.category);
    if (open) {
      openCount++;
      // Recorded open findings never stop the run; the first few are kept in full, the rest only counted.
      if (openCount > MAX_OPEN_KEPT) return;
    }
    const files = saveRequest(options.violationDir, options.seed, index, failed);
    const v: FuzzViolation = {
      index,
      category: failed.category,
      server: failed.server,
      violation,
      request: failed.summary(),
      reply,
      files,
      open,
    };
    violations.push(v);
    log(
      `\n${open ? 'OPEN (REST JSON reader)' : 'VIOLATION'}: ${violation}\n  seed ${options.seed}, case ${index} ` +
        `(replay: npm run fuzz -- --seed ${options.seed} --case ${index}), ${failed.category} on the ${failed.server} server\n` +
        `  request: ${v.request.slice(0, 1500)}\n  reply:   ${reply.slice(0, 1500)}\n` +
        (files.length > 0 ? `  saved:   ${files.join(', ')}\n` : ''),
    );
    if (failing() > 0 && !options.keepGoing) stop = true;
    if (failing() >= options.maxViolations) stop = true;
  };

  const checkServers = (index: number) => {
    for (const role of ['plain', 'batched'] as const) {
      const server = servers[role];
      if (!server) continue;
      if (server.exit) {
        if (crashed.has(role)) continue;
        crashed.add(role);
        crashes++;
        record(
          index,
          { category: 'crash', server: role, summary: () => `(the requests before case ${index})` },
          `server exited (code ${server.exit.code}, signal ${server.exit.signal})`,
          server.stderrTail(),
        );
        stop = true;
      } else if (server.maxRssKiB > options.rssLimitMiB * 1024 && !overRss.has(role)) {
        overRss.add(role);
        record(
          index,
          { category: 'rss', server: role, summary: () => `(the requests up to case ${index})` },
          `RSS ${mib(server.maxRssKiB)} MiB over the bound of ${options.rssLimitMiB} MiB`,
          '',
        );
        stop = true;
      }
    }
  };

  const runProbe = async (index: number, count: number) => {
    for (let k = 0; k < count; k++) {
      const n = Math.floor(index / PROBE_EVERY) + k;
      const role: ServerRole = n % 2 === 0 ? 'plain' : 'batched';
      const kind = PROBE_KINDS[Math.floor(n / 2) % PROBE_KINDS.length] as (typeof PROBE_KINDS)[number];
      const result = await probe(
        kind,
        new Rng((options.seed ^ 0x5eed) + n),
        clients[role] as { grpc: RawGrpc; http: RawHttp },
        options.deadlineMs,
      );
      probes.sent++;
      if (result.ok) probes.passed++;
      else
        record(
          index,
          { category: 'probe', server: role, summary: () => `valid ${kind} request` },
          'valid request answered wrongly',
          result.detail,
        );
    }
  };

  const runOne = async (index: number) => {
    const drawn = fuzzCase(options.seed, index);
    const client = clients[drawn.server] as { grpc: RawGrpc; http: RawHttp };
    const t0 = performance.now();
    inFlight.add(index);
    let verdict: Verdict;
    if (drawn.grpc) {
      verdict = judgeGrpc(drawn, await client.grpc.call(drawn.grpc.method, drawn.grpc.bytes, options.deadlineMs));
    } else {
      const request = drawn.http as NonNullable<FuzzCase['http']>;
      verdict = judgeHttp(await client.http.send(request, options.deadlineMs), request.method);
    }
    const ms = performance.now() - t0;
    inFlight.delete(index);
    const server = servers[drawn.server] as ServerProcess;
    const rssKiB = server.rssKiB();
    if (rssKiB > options.rssLimitMiB * 1024 && !overRss.has(drawn.server)) {
      overRss.add(drawn.server);
      const others = [...inFlight].filter((i) => i !== index);
      record(
        index,
        drawn,
        `RSS ${mib(rssKiB)} MiB over the bound of ${options.rssLimitMiB} MiB after this request` +
          (others.length > 0 ? ` (or one of cases ${others.join(', ')}, in flight with it)` : ''),
        verdict.reply,
      );
      stop = true;
    }
    if (verdict.notSent) {
      notSent++;
      return;
    }
    sent++;
    const stats = (categories[drawn.category] ??= { sent: 0, outcomes: {}, violations: 0, p50Ms: 0, p99Ms: 0 });
    stats.sent++;
    stats.outcomes[verdict.outcome] = (stats.outcomes[verdict.outcome] ?? 0) + 1;
    outcomes[verdict.outcome] = (outcomes[verdict.outcome] ?? 0) + 1;
    let list = latencies.get(drawn.category);
    if (!list) latencies.set(drawn.category, (list = []));
    list.push(ms);
    if (verdict.violation) {
      // A lost connection is most often the server dying: give its exit event a moment to arrive.
      if (!server.exit && /no answer|UNAVAILABLE/.test(verdict.violation)) await sleep(500);
      if (server.exit) {
        if (!crashed.has(drawn.server)) {
          crashed.add(drawn.server);
          crashes++;
          record(
            index,
            drawn,
            `server crashed (exit code ${server.exit.code}, signal ${server.exit.signal}) during this or a concurrent request`,
            `${verdict.reply}\n  server stderr:\n${server.stderrTail()}`,
          );
        }
        stop = true;
        return;
      }
      stats.violations++;
      record(index, drawn, verdict.violation, verdict.reply);
    }
  };

  try {
    const [plain, batched] = await Promise.all([
      startServerProcess('plain', {
        models,
        batching: false,
        fileSystemPollWaitSeconds: -1,
        maxInputBytes: options.maxInputBytes,
      }),
      startServerProcess('batched', {
        models,
        batching: true,
        fileSystemPollWaitSeconds: -1,
        maxInputBytes: options.maxInputBytes,
      }),
    ]);
    servers.plain = plain;
    servers.batched = batched;
    for (const role of ['plain', 'batched'] as const) {
      const s = servers[role] as ServerProcess;
      clients[role] = { grpc: new RawGrpc(s.grpcPort), http: new RawHttp(s.restPort, options.concurrency) };
    }
    const startMiB = { plain: mib(plain.rssKiB()), batched: mib(batched.rssKiB()) };
    const cpuStart = { plain: plain.cpuSeconds(), batched: batched.cpuSeconds() };
    const cpuAtStart = process.cpuUsage();
    log(
      `servers up: plain pid ${plain.pid} (${startMiB.plain} MiB), batched pid ${batched.pid} (${startMiB.batched} MiB)`,
    );

    if (options.caseIndex !== undefined) {
      await runOne(options.caseIndex);
    } else {
      let next = 0;
      const progressStep = Math.max(1000, Math.ceil(options.requests / 10));
      const worker = async () => {
        while (!stop && next < options.requests) {
          const index = next++;
          if (index % PROBE_EVERY === 0) await runProbe(index, 1);
          await runOne(index);
          if (index % RSS_CHECK_EVERY === 0) checkServers(index);
          if (index > 0 && index % progressStep === 0) {
            const s = (performance.now() - started) / 1000;
            log(
              `  ${index} requests, ${s.toFixed(0)} s, RSS plain ${mib(plain.rssKiB())} MiB / batched ${mib(batched.rssKiB())} MiB, ${failing()} violation(s)`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
    }
    checkServers(options.requests);
    // Still serving, and still right, after everything: every probe kind on both servers.
    if (!stop || options.keepGoing) await runProbe(0, PROBE_KINDS.length * 2);
    checkServers(options.requests);

    for (const [name, list] of latencies) {
      list.sort((a, b) => a - b);
      const stats = categories[name] as CategoryStats;
      stats.p50Ms = Math.round(percentile(list, 50) * 10) / 10;
      stats.p99Ms = Math.round(percentile(list, 99) * 10) / 10;
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      seed: options.seed,
      requests: options.requests,
      sent,
      notSent,
      seconds: Math.round(seconds * 10) / 10,
      throughput: Math.round(sent / seconds),
      concurrency: options.concurrency,
      categories: Object.fromEntries(Object.entries(categories).sort(([a], [b]) => a.localeCompare(b))),
      outcomes,
      rss: {
        limitMiB: options.rssLimitMiB,
        maxMiB: { plain: mib(plain.maxRssKiB), batched: mib(batched.maxRssKiB) },
        startMiB,
      },
      probes,
      cpuSeconds: {
        fuzzer: Math.round((process.cpuUsage(cpuAtStart).user + process.cpuUsage(cpuAtStart).system) / 1e5) / 10,
        plain: Math.round((plain.cpuSeconds() - cpuStart.plain) * 10) / 10,
        batched: Math.round((batched.cpuSeconds() - cpuStart.batched) * 10) / 10,
      },
      httpRetries: (clients.plain?.http.retries ?? 0) + (clients.batched?.http.retries ?? 0),
      crashes,
      violations,
      failing: failing(),
      open: openCount,
    };
  } finally {
    for (const c of Object.values(clients)) {
      c.grpc.close();
      c.http.close();
    }
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    rmSync(base, { recursive: true, force: true });
  }
}

/** Writes the request of a violation: gRPC message bytes, or the HTTP request line, headers and body. */
function saveRequest(
  dir: string,
  seed: number,
  index: number,
  failed: Partial<FuzzCase> & { category: string },
): string[] {
  if (!failed.grpc && !failed.http) return [];
  mkdirSync(dir, { recursive: true });
  const stem = join(dir, `seed${seed}-case${index}`);
  if (failed.grpc) {
    writeFileSync(`${stem}.bin`, failed.grpc.bytes);
    writeFileSync(
      `${stem}.json`,
      JSON.stringify({ grpcMethod: failed.grpc.method, category: failed.category, body: `${stem}.bin` }, null, 2),
    );
  } else if (failed.http) {
    const { method, path, headers, body } = failed.http;
    if (body) writeFileSync(`${stem}.bin`, body);
    writeFileSync(
      `${stem}.json`,
      JSON.stringify({ method, path, headers, category: failed.category, body: body ? `${stem}.bin` : null }, null, 2),
    );
  }
  return [`${stem}.json`, ...(failed.grpc || failed.http?.body ? [`${stem}.bin`] : [])];
}
