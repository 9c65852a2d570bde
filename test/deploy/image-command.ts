/**
 * Runs a command of the image on this host, as the image would run it: the command name is looked up on the image's
 * PATH among the links the Containerfile's runtime stage makes, the link's target (under WORKDIR) is the same file
 * in this checkout's build, and the arguments are passed unchanged but for the substitutions the caller names (the
 * model directory standing in for /mnt/models, ports). No container engine runs here (scripts/build-image.sh).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { isAbsolute, join, posix, relative } from 'node:path';
import { lastOf, readContainerfile, symlinksOf, type Stage } from './containerfile.js';
import { REPOSITORY_ROOT } from './paths.js';

/** The node image's PATH (Debian's default, /usr/local/bin first). */
const IMAGE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function runtimeStage(): Stage {
  const stage = readContainerfile().stages.at(-1);
  if (!stage) throw new Error('the Containerfile has no stage');
  return stage;
}

/**
 * The file of this checkout that the image runs for `command` (a name on the PATH or an absolute path): the
 * runtime stage's link, resolved against its WORKDIR onto the repository root; and the node flags its first line
 * gives node. The link is executed directly in the image, so the file must say it is a node script:
 * `#!/usr/bin/env node`, or `#!/usr/bin/env -S node FLAGS…`.
 */
export function hostCommandOf(command: string, stage: Stage = runtimeStage()): { script: string; nodeFlags: string[] } {
  const links = symlinksOf(stage);
  const candidates = isAbsolute(command) ? [command] : IMAGE_PATH.map((dir) => posix.join(dir, command));
  const link = candidates.find((candidate) => links.has(candidate));
  if (link === undefined) throw new Error(`the image has no '${command}' (links: ${[...links.keys()].join(', ')})`);
  const workdir = lastOf(stage, 'WORKDIR')?.text ?? '/';
  const target = posix.resolve(workdir, links.get(link) as string);
  const inWorkdir = posix.relative(workdir, target);
  if (inWorkdir.startsWith('..')) throw new Error(`${link} → ${target} lies outside WORKDIR ${workdir}`);
  const script = join(REPOSITORY_ROOT, inWorkdir);
  const firstLine = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const words = /^#!\/usr\/bin\/env (?:-S )?(node(?: .*)?)$/.exec(firstLine)?.[1]?.split(' ');
  if (!words) throw new Error(`${relative(REPOSITORY_ROOT, script)} has no node shebang`);
  // Without -S, env takes the rest of the line as one program name: `node` alone is all it can run.
  if (words.length > 1 && !firstLine.startsWith('#!/usr/bin/env -S ')) {
    throw new Error(`${relative(REPOSITORY_ROOT, script)}: flags in its first line need env -S`);
  }
  return { script, nodeFlags: words.slice(1) };
}

/** A TCP port free on 127.0.0.1 right now (for a flag where 0 does not mean "any": --rest_api_port=0 is "off"). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RunningCommand {
  child: ChildProcess;
  output(): string;
  /** The gRPC and REST ports, from the lines TF Serving (and flowserve) print once they listen. */
  ports(timeoutMs?: number): Promise<{ grpc: number; rest: number }>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Runs the image's `command` with `args` on this host (node, with its first line's flags, running the linked script). */
export function runImageCommand(command: string, args: readonly string[]): RunningCommand {
  const { script, nodeFlags } = hostCommandOf(command);
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => (text += chunk));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    output: () => text,
    async ports(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!/Exporting HTTP\/REST API at:\S+:\d+/.test(text)) {
        if (done) throw new Error(`'${command}' exited before listening:\n${text}`);
        if (Date.now() > deadline) throw new Error(`'${command}' did not listen within ${timeoutMs} ms:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const grpc = /Running gRPC ModelServer at \S+:(\d+)/.exec(text);
      const rest = /Exporting HTTP\/REST API at:\S+:(\d+)/.exec(text);
      return { grpc: Number(grpc?.[1]), rest: Number(rest?.[1]) };
    },
    async stop(timeoutMs = 15_000) {
      if (done) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * The file of this checkout that the image holds at `imagePath`, through a runtime-stage
 * `COPY --from=STAGE SOURCE DEST` from a stage that copied the whole checkout into its WORKDIR (`COPY . .`).
 */
export function hostPathOfImageFile(imagePath: string): string {
  const { stages } = readContainerfile();
  const runtime = stages.at(-1) as Stage;
  const workdirOf = (stage: Stage) => lastOf(stage, 'WORKDIR')?.text ?? '/';
  for (const instruction of runtime.instructions.filter((i) => i.keyword === 'COPY')) {
    const [from, source, destination, ...rest] = instruction.text.split(/\s+/);
    if (!from?.startsWith('--from=') || source === undefined || destination === undefined || rest.length > 0) continue;
    const target = posix.resolve(workdirOf(runtime), destination);
    if (imagePath !== target && !imagePath.startsWith(`${target}/`)) continue;
    const build = stages.find((stage) => stage.name === from.slice('--from='.length));
    if (!build?.instructions.some((i) => i.keyword === 'COPY' && i.text === '. .')) {
      throw new Error(`${imagePath} comes from ${from}, which does not copy the checkout in`);
    }
    const inCheckout = posix.relative(workdirOf(build), posix.join(source, posix.relative(target, imagePath)));
    if (inCheckout.startsWith('..')) throw new Error(`${imagePath} comes from ${source}, outside the checkout`);
    return join(REPOSITORY_ROOT, inCheckout);
  }
  throw new Error(`the image has no ${imagePath} copied in by the runtime stage`);
}
