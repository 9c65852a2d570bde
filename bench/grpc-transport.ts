/**
 * The gRPC transport's own cost: flowserve's transport (src/serving/apis/grpc/transport/) against grpc-js's Server,
 * each serving the same canned unary method (request bytes taken as they are, a prepared response), so the only
 * difference is the transport: framing, headers, dispatch, the call object, trailers. Each server runs in a child
 * process; h2load sends a fixed number of requests and the child's CPU time (/proc/PID/stat, user + system) per
 * request is the figure — a loaded machine stretches wall-clock rates but not that. Rounds alternate the sides; the
 * median round is kept.
 *
 *   node dist/bench/grpc-transport.js [--requests 20000] [--rounds 3]
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { FlowserveGrpcServer } from '../src/serving/apis/grpc/transport/http2-server.js';
import { report, type BenchRow } from './report.js';

type Side = 'flowserve' | 'grpc-js';
const PATH = '/bench.Canned/Call';
/** About a softmax Predict: a 3 KiB request, a 100-byte response. */
const REQUEST_BYTES = 3200;
const RESPONSE = Buffer.alloc(100, 7);

const definition = {
  Call: {
    path: PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
} as unknown as ServiceDefinition;
const implementation = {
  Call: (_call: unknown, callback: (err: null, response: Buffer) => void) => callback(null, RESPONSE),
};

async function serve(side: Side): Promise<number> {
  if (side === 'flowserve') {
    const server = new FlowserveGrpcServer({ maxReceiveBytes: 1 << 30, maxSendBytes: 1 << 30 });
    server.addService(definition, implementation);
    return server.bind('127.0.0.1', 0);
  }
  const server = new Server();
  server.addService(definition, implementation);
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

function spawn(side: Side): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', side], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (port) => resolve({ child, port: port as number }));
  });
}

const TICKS_PER_SECOND = 100;
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function h2load(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('h2load', args, { maxBuffer: 1 << 24 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    return i < 0 ? fallback : Number(argv[i + 1]);
  };
  const requests = flag('--requests', 20_000);
  const rounds = flag('--rounds', 3);
  const dir = mkdtempSync(join(tmpdir(), 'flowserve-grpc-transport-'));
  const body = join(dir, 'request.bin');
  const framed = Buffer.alloc(5 + REQUEST_BYTES, 1);
  framed[0] = 0;
  framed.writeUInt32BE(REQUEST_BYTES, 1);
  writeFileSync(body, framed);
  const sides = { flowserve: await spawn('flowserve'), 'grpc-js': await spawn('grpc-js') };
  const loads = [
    { name: 'c1_m32', args: ['-c1', '-m32'] },
    { name: 'c8_m4', args: ['-c8', '-m4'] },
  ];
  const samples = new Map<string, number[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const load of loads) {
        const order: Side[] = round % 2 === 0 ? ['flowserve', 'grpc-js'] : ['grpc-js', 'flowserve'];
        for (const side of order) {
          const { child, port } = sides[side];
          const args = ['-t1', ...load.args, `-n${requests}`, `-d${body}`, '-H', 'content-type: application/grpc'];
          const before = cpuSeconds(child.pid as number);
          const out = await h2load([...args, '-H', 'te: trailers', `http://127.0.0.1:${port}${PATH}`]);
          const used = cpuSeconds(child.pid as number) - before;
          if (!new RegExp(`${requests} succeeded`).test(out)) throw new Error(`h2load did not complete:\n${out}`);
          const key = `${load.name}/${side}`;
          samples.set(key, [...(samples.get(key) ?? []), (used * 1e6) / requests]);
        }
      }
    }
  } finally {
    for (const { child } of Object.values(sides)) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  const rows: BenchRow[] = loads.map((load) => ({
    name: `grpc_transport_cpu_per_call_${load.name}`,
    unit: 'CPU µs/call',
    flowserve: median(samples.get(`${load.name}/flowserve`) ?? []),
    peer: median(samples.get(`${load.name}/grpc-js`) ?? []),
    peerName: 'grpc-js Server',
    higherIsBetter: false,
  }));
  console.log(`canned unary call, ${requests} requests per side and round, ${rounds} rounds alternated`);
  report('grpc-transport', rows, { requests, rounds, samples: Object.fromEntries(samples) });
}

if (process.argv[2] === '--child') {
  const port = await serve(process.argv[3] as Side);
  process.send?.(port);
  // Exits when the parent lets go (a clean exit writes a --cpu-prof profile).
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}
