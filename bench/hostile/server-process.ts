/**
 * Parent side of server-child.ts: writes the served models, starts the server process, samples its resident memory
 * from /proc/<pid>/status, keeps the tail of its stderr, and notices when it dies (a crash is an exit we did not ask
 * for).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeClassifier, writeIdentityModel } from '../../test/serving/apis/fixtures.js';
import type { ChildConfig, ChildPorts } from './server-child.js';

/** The served models, by role. */
export const MODELS = {
  /** softmax(x·W + b), x [-1, 4] float32; signatures classify (default), predict_probs, regress_first. */
  classifier: 'clf',
  /** Identity on float32, no declared shape: only the request limits bound what a client may send. */
  identityFloat: 'anyf',
  /** Identity on strings, no declared shape. */
  identityString: 'str',
} as const;

/** The classifier's version label (clf/labels/stable → version 1). */
export const STABLE_LABEL = 'stable';

/**
 * Writes clf/1, anyf/1 and str/1 under `base`; returns the model list for the server. `withLabel`: clf/labels/stable
 * points at version 1 (the soak leaves it out: its hot swaps unload version 1).
 */
export function writeFuzzModels(base: string, withLabel = true): ChildConfig['models'] {
  writeClassifier(join(base, MODELS.classifier), 1);
  writeIdentityModel(join(base, MODELS.identityFloat), 1, 'float32', []);
  writeIdentityModel(join(base, MODELS.identityString), 1, 'string', []);
  return [
    {
      name: MODELS.classifier,
      basePath: join(base, MODELS.classifier),
      versionLabels: withLabel ? { [STABLE_LABEL]: 1 } : {},
    },
    { name: MODELS.identityFloat, basePath: join(base, MODELS.identityFloat) },
    { name: MODELS.identityString, basePath: join(base, MODELS.identityString) },
  ];
}

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess extends ChildPorts {
  name: string;
  pid: number;
  /** Resident set size now, in KiB (0 once the process is gone). */
  rssKiB(): number;
  /** CPU seconds used so far (last value seen once the process is gone). */
  cpuSeconds(): number;
  /** Largest RSS seen by the sampler so far, in KiB. */
  readonly maxRssKiB: number;
  /** Set once the process has exited. */
  readonly exit: ServerExit | undefined;
  /** The last few KB the server wrote to stderr. */
  stderrTail(): string;
  /** Runs a full garbage collection in the server and returns its memory usage after it. */
  collectGarbage(): Promise<NodeJS.MemoryUsage>;
  /** Graceful stop (then SIGKILL after 15 s). Not a crash. */
  stop(): Promise<void>;
}

const STDERR_TAIL_CHARS = 8192;
const RSS_SAMPLE_MS = 200;

export function readRssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) the process has used, in seconds, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), counted from field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function startServerProcess(name: string, config: ChildConfig): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./server-child.js', import.meta.url));
  const child: ChildProcess = fork(script, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    // Node's defaults (heap limit included), as `flowserve serve` runs, not the flags of whoever started us; plus
    // --expose-gc, so that the soak can measure memory after a full collection (collectGarbage).
    execArgv: ['--expose-gc'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
  });
  let exit: ServerExit | undefined;
  let maxRssKiB = 0;
  let cpuSeconds = 0;
  const pid = child.pid as number;
  const sampler = setInterval(() => {
    maxRssKiB = Math.max(maxRssKiB, readRssKiB(pid));
    cpuSeconds = Math.max(cpuSeconds, readCpuSeconds(pid));
  }, RSS_SAMPLE_MS);
  sampler.unref();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      clearInterval(sampler);
      reject(new Error(`${name} server exited during start-up (code ${code}, signal ${signal}):\n${tail}`));
    });
    child.once('message', (message) => {
      const ports = message as ChildPorts;
      let stopping: Promise<void> | undefined;
      resolve({
        name,
        pid,
        ...ports,
        rssKiB: () => (exit ? 0 : readRssKiB(pid)),
        cpuSeconds: () => (cpuSeconds = Math.max(cpuSeconds, exit ? 0 : readCpuSeconds(pid))),
        get maxRssKiB() {
          return Math.max(maxRssKiB, exit ? 0 : readRssKiB(pid));
        },
        get exit() {
          return exit;
        },
        stderrTail: () => tail,
        collectGarbage: () =>
          new Promise<NodeJS.MemoryUsage>((done, fail) => {
            const onMessage = (reply: unknown) => {
              const memory = (reply as { memory?: NodeJS.MemoryUsage }).memory;
              if (!memory) return;
              child.off('message', onMessage);
              done(memory);
            };
            child.on('message', onMessage);
            if (!child.send('gc')) fail(new Error(`${name} server is gone`));
          }),
        stop: () => {
          stopping ??= new Promise<void>((done) => {
            clearInterval(sampler);
            if (exit) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            child.send('stop');
          });
          return stopping;
        },
      });
    });
  });
}
