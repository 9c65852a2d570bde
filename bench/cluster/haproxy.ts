/**
 * A real HAProxy (Debian's) in front of the replicas, started in the foreground (`-db -W`) as a child process with a
 * config generated into a temporary directory:
 *  - a gRPC frontend speaking cleartext HTTP/2 (`proto h2`) to the replicas' gRPC ports (`proto h2`);
 *  - an HTTP frontend for REST to the replicas' REST ports;
 *  - both backends health-check `GET /v2/health/ready` on each replica's REST port (the gRPC servers' checks go to
 *    `port REST` with `check-proto h1`), every `interMs`, `fall` failures to take a server out, `rise` to bring it
 *    back: a replica that withdraws readiness stops getting new requests within inter × fall.
 *  - a second pair of frontends with L7 retries (`retry-on conn-failure empty-response`, `option redispatch`): a
 *    request whose connection could not be made, or that got no response at all (its replica died), goes to another
 *    replica. Answers, errors included, are never retried, so a request refused by a draining replica
 *    (UNAVAILABLE/503) counts as failed either way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/free-port.js';

export interface Backend {
  name: string;
  grpcPort: number;
  restPort: number;
}

export interface HealthCheckTiming {
  interMs: number;
  fall: number;
  rise: number;
}

export interface HaproxyOptions extends HealthCheckTiming {
  backends: readonly Backend[];
}

/** The path of the haproxy binary, or undefined when it is not installed. */
export function findHaproxy(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Two frontends per API: the plain ones (no retries at all, `retries 0`) show what readiness and drain guarantee
 * alone; the `retrying` ones add HAProxy's L7 retries for requests that never got an answer.
 */
export function haproxyConfig(options: HaproxyOptions & { ports: ProxyPorts }): string {
  const { backends, interMs, fall, rise, ports } = options;
  const check = `check inter ${interMs}ms fastinter ${interMs}ms downinter ${interMs}ms fall ${fall} rise ${rise}`;
  const grpcServers = backends.map(
    (b) => `  server ${b.name} 127.0.0.1:${b.grpcPort} proto h2 ${check} port ${b.restPort} check-proto h1`,
  );
  const restServers = backends.map((b) => `  server ${b.name} 127.0.0.1:${b.restPort} ${check}`);
  const noRetries = ['  retries 0', '  retry-on none'];
  const retries = ['  retries 3', '  option redispatch 1', '  retry-on conn-failure empty-response'];
  const frontend = (name: string, port: number, h2: boolean, backend: string) => [
    `frontend ${name}`,
    `  bind 127.0.0.1:${port}${h2 ? ' proto h2' : ''}`,
    `  default_backend ${backend}`,
  ];
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout check 1s',
    '  option httpchk GET /v2/health/ready',
    '  http-check expect status 200',
    '  balance roundrobin',
    ...frontend('grpc_in', ports.grpc, true, 'grpc_replicas'),
    ...frontend('rest_in', ports.rest, false, 'rest_replicas'),
    ...frontend('grpc_retrying_in', ports.grpcRetrying, true, 'grpc_replicas_retrying'),
    ...frontend('rest_retrying_in', ports.restRetrying, false, 'rest_replicas_retrying'),
    'backend grpc_replicas',
    ...noRetries,
    ...grpcServers,
    'backend rest_replicas',
    ...noRetries,
    ...restServers,
    'backend grpc_replicas_retrying',
    ...retries,
    ...grpcServers,
    'backend rest_replicas_retrying',
    ...retries,
    ...restServers,
    '',
  ].join('\n');
}

export interface ProxyPorts {
  grpc: number;
  rest: number;
  grpcRetrying: number;
  restRetrying: number;
}

export class Haproxy {
  private log = '';
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly ports: ProxyPorts,
    private readonly exit: Promise<unknown>,
  ) {}

  static async start(binary: string, options: HaproxyOptions): Promise<Haproxy> {
    const ports: ProxyPorts = {
      grpc: await freePort(),
      rest: await freePort(),
      grpcRetrying: await freePort(),
      restRetrying: await freePort(),
    };
    const dir = mkdtempSync(join(tmpdir(), 'flowserve-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, haproxyConfig({ ...options, ports }));
    // Checked first, so a config error says so instead of a port that never opens.
    execFileSync(binary, ['-c', '-q', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const child = spawn(binary, ['-db', '-W', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise((resolve) => child.once('exit', resolve));
    const proxy = new Haproxy(child, dir, ports, exit);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => (proxy.log += chunk));
    }
    return proxy;
  }

  output(): string {
    return this.log;
  }

  /** Resolves once both frontends accept HTTP and every backend server passed its health checks. */
  async waitUp(timeoutMs: number, readyProbe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await readyProbe())) {
      if (this.child.exitCode !== null) throw new Error(`haproxy exited:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`haproxy not up within ${timeoutMs} ms:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exit;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
