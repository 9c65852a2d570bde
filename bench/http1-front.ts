/**
 * The REST transport alone: three servers in this process answer the bench's v2 binary infer request with the same
 * canned reply (the JSON header and the 40 bytes of scores flowserve answers), with no model and no route:
 * - flowserve's HTTP/1.1 front (src/serving/apis/rest/http1-front.ts) over a stand-in for the hot routes;
 * - node:http, a `request` listener that reads the body and writes the reply (what the front hands other requests to);
 * - fastify, the route of bench:serve's bare peer.
 * `wrk -t1 -cC -dS` drives one at a time, rounds alternated; each round gives throughput and this thread's CPU per
 * request (/proc/thread-self/stat, 10 ms ticks). wrk's own CPU is printed: the generator must have headroom.
 *
 *   node dist/bench/http1-front.js [--seconds 3] [--rounds 3] [--connections 32]
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { HotAnswer, HotRoute, HotRoutes } from '../src/serving/apis/rest/hot-routes.js';
import { Http1Front } from '../src/serving/apis/rest/http1-front.js';
import type { RestReply } from '../src/serving/apis/rest/http-common.js';
import { median, threadCpuMicros } from './cpu-time.js';
import { nativeGenerators, runWrk, INSTALL_HINT } from './native-load.js';
import { report, type BenchRow } from './report.js';
import { writeBodies } from './serve.js';
import { MODEL } from './serve-servers.js';

interface Options {
  seconds: number;
  rounds: number;
  connections: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 3, rounds: 3, connections: 32 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (flag === '--seconds') options.seconds = value;
    else if (flag === '--rounds') options.rounds = value;
    else if (flag === '--connections') options.connections = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (![options.seconds, options.rounds, options.connections].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('--seconds, --rounds and --connections must be positive integers');
  }
  return options;
}

const HEADER = Buffer.from(
  JSON.stringify({
    model_name: MODEL,
    model_version: '1',
    outputs: [{ name: 'scores', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 40 } }],
  }),
);
const REPLY: RestReply = {
  status: 200,
  body: Buffer.concat([HEADER, Buffer.alloc(40)]),
  contentType: 'application/octet-stream',
  headers: { 'inference-header-content-length': String(HEADER.length) },
};

/** The hot routes' part the front calls, answering the canned reply: the transport is all that is measured. */
const cannedRoutes = {
  bodyLimit: 64 * 1024 * 1024,
  routeOf: (method: string | undefined, url: string): HotRoute | undefined =>
    method === 'POST' && url.startsWith('/v2/') ? 'v2' : undefined,
  answer: async (
    _route: HotRoute,
    _url: string,
    _headers: IncomingHttpHeaders,
    _socket: Socket,
    collect: () => Promise<Buffer> | Buffer,
  ): Promise<HotAnswer> => {
    await collect();
    return { reply: REPLY, extra: undefined };
  },
  headersOf: (reply: RestReply) => ({
    'content-type': reply.contentType,
    ...reply.headers,
    'content-length': (reply.body as Buffer).length,
  }),
};

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

async function startServers(): Promise<{ name: string; port: number; close(): Promise<void> }[]> {
  const front = createServer(() => undefined);
  front.keepAliveTimeout = 72_000;
  new Http1Front(front, cannedRoutes as unknown as HotRoutes);
  const plain = createServer((request, response) => {
    request.on('data', () => undefined);
    request.on('end', () => {
      response.writeHead(200, cannedRoutes.headersOf(REPLY));
      response.end(REPLY.body);
    });
  });
  plain.keepAliveTimeout = 72_000;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  app.post('/v2/models/:model/infer', async (_request, reply) =>
    reply.type(REPLY.contentType).header('inference-header-content-length', String(HEADER.length)).send(REPLY.body),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const closeNode = (server: Server) => async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return [
    { name: 'flowserve HTTP/1.1 front', port: await listen(front), close: closeNode(front) },
    { name: 'node:http', port: await listen(plain), close: closeNode(plain) },
    { name: 'fastify', port: (app.server.address() as { port: number }).port, close: () => app.close() },
  ];
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!nativeGenerators().wrk) throw new Error(`bench:http1-front needs wrk (${INSTALL_HINT})`);
  const scratch = mkdtempSync(join(tmpdir(), 'flowserve-http1-front-'));
  const { files } = writeBodies(
    scratch,
    Array.from({ length: 784 }, (_, i) => (i % 17) / 17),
  );
  const servers = await startServers();
  const samples = new Map<string, { rps: number[]; cpu: number[]; generator: number[] }>();
  try {
    const run = async (port: number, seconds: number) =>
      runWrk({
        url: `http://127.0.0.1:${port}/v2/models/${MODEL}/infer`,
        bodyFile: files.v2RestBinary.file,
        headers: files.v2RestBinary.headers,
        connections: options.connections,
        durationS: seconds,
        scratch,
      });
    for (const server of servers) await run(server.port, 1); // warm-up: the JIT settles
    for (let round = 0; round < options.rounds; round++) {
      for (const server of round % 2 ? [...servers].reverse() : servers) {
        const before = threadCpuMicros();
        const result = await run(server.port, options.seconds);
        const cpu = (threadCpuMicros() - before) / result.requests;
        const entry = samples.get(server.name) ?? { rps: [], cpu: [], generator: [] };
        entry.rps.push(result.throughput);
        entry.cpu.push(cpu);
        entry.generator.push(result.generatorCpuS / result.seconds);
        samples.set(server.name, entry);
      }
    }
  } finally {
    for (const server of servers) await server.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(
    `v2 binary infer request, canned reply, wrk -t1 -c${options.connections}, ${options.seconds} s per round, ` +
      `${options.rounds} rounds alternated (medians)`,
  );
  for (const [name, s] of samples) {
    console.log(
      `  ${name.padEnd(26)} ${median(s.rps).toFixed(0).padStart(7)} req/s, main thread ${median(s.cpu).toFixed(1)} µs ` +
        `a request, wrk ${(median(s.generator) * 100).toFixed(0)} % of one core`,
    );
  }
  const front = samples.get('flowserve HTTP/1.1 front');
  const rows: BenchRow[] = [];
  for (const peer of ['node:http', 'fastify']) {
    const other = samples.get(peer);
    if (!front || !other) continue;
    const key = peer === 'node:http' ? 'node_http' : peer;
    rows.push(
      {
        name: `http1_front_vs_${key}_c${options.connections}_throughput`,
        unit: 'req/s',
        flowserve: median(front.rps),
        peer: median(other.rps),
        peerName: peer,
        higherIsBetter: true,
      },
      {
        name: `http1_front_vs_${key}_c${options.connections}_main_thread_cpu`,
        unit: 'CPU µs/request',
        flowserve: median(front.cpu),
        peer: median(other.cpu),
        peerName: peer,
        higherIsBetter: false,
      },
    );
  }
  report('http1-front', rows, { ...options, samples: Object.fromEntries(samples) });
}

await main();
