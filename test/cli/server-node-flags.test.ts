/**
 * The Node flags the serving commands run with (src/cli/server-node-flags.ts): in the scripts' first line, in effect
 * when a script is started as the kernel starts it, and named on stderr when the process lacks them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { missingNodeFlagsNotice, SERVER_NODE_FLAGS } from '../../src/cli/server-node-flags.js';
import { runProcess, type ProcessResult } from '../helpers/run-process.js';

// Tests run from dist/test/cli/: the scripts are dist/src/cli/*.js.
const SCRIPTS = ['main.js', 'tensorflow-model-server.js'].map((name) =>
  fileURLToPath(new URL(`../../src/cli/${name}`, import.meta.url)),
);
const MAIN = SCRIPTS[0] as string;
/** A config file that does not exist: `serve` prints its notice, then fails reading it, without loading anything. */
const MISSING_CONFIG = '--model_config_file=/nonexistent/flowserve/models.config';

function firstLine(path: string): string {
  return readFileSync(path, 'utf8').split('\n', 1)[0] as string;
}

/**
 * `script args` started as the kernel starts an executable script: the interpreter named in its first line, given
 * the rest of that line as one argument, then the script's path and the arguments.
 */
function runAsScript(script: string, args: readonly string[]): Promise<ProcessResult> {
  const line = firstLine(script).slice('#!'.length);
  const space = line.indexOf(' ');
  return runProcess(line.slice(0, space), [line.slice(space + 1), script, ...args]);
}

describe('the serving commands’ Node flags', () => {
  it('the memory reducer is among them', () => {
    assert.ok(SERVER_NODE_FLAGS.includes('--no-memory-reducer'));
  });

  it('both scripts name them in their first line', () => {
    for (const script of SCRIPTS) {
      assert.equal(firstLine(script), `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`, script);
    }
  });

  it('a process without them is told which it lacks; one with them is told nothing', () => {
    const notice = missingNodeFlagsNotice(['--enable-source-maps']);
    assert.match(notice ?? '', /without --no-memory-reducer/);
    assert.match(notice ?? '', /node --no-memory-reducer/);
    assert.equal(missingNodeFlagsNotice(['--enable-source-maps', ...SERVER_NODE_FLAGS]), undefined);
  });

  it('`flowserve serve` started through its first line runs with them; started as `node main.js`, it says so', async () => {
    const asScript = await runAsScript(MAIN, ['serve', MISSING_CONFIG]);
    assert.equal(asScript.code, 1, asScript.stderr);
    assert.match(asScript.stderr, /models\.config/);
    assert.doesNotMatch(asScript.stderr, /note: node runs this server without/);

    const plain = await runProcess(process.execPath, [MAIN, 'serve', MISSING_CONFIG]);
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderr, /note: node runs this server without --no-memory-reducer/);
  });
});
