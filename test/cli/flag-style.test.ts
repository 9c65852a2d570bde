/** One flag style for every command: snake_case flags that also answer to their kebab-case spelling. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { acceptBothFlagStyles } from '../../src/cli/flag-style.js';
import { positiveInt } from '../../src/cli/flag-values.js';

/** A command with a valued, a parsed and a boolean snake_case flag; returns the options its action saw. */
function parse(argv: string[]): Record<string, unknown> {
  let seen: Record<string, unknown> = {};
  const program = new Command('t').exitOverride().configureOutput({ writeErr: () => undefined });
  const command = program
    .command('run')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .option('--export_base <dir>', 'where')
    .option('--batch_size <n>', 'how many', positiveInt, 100)
    .option('--enable_batching [bool]', 'on or off')
    .option('--quiet', 'no output')
    .action((opts: Record<string, unknown>) => {
      seen = opts;
    });
  acceptBothFlagStyles(command);
  program.parse(['run', ...argv], { from: 'user' });
  return seen;
}

describe('acceptBothFlagStyles', () => {
  it('gives the action the snake_case name whichever spelling was typed', () => {
    assert.deepEqual(parse(['--export-base', '/a', '--batch-size=7', '--enable-batching']), {
      export_base: '/a',
      batch_size: 7,
      enable_batching: true,
    });
    assert.deepEqual(parse(['--export_base=/b', '--batch_size', '8']), { export_base: '/b', batch_size: 8 });
  });

  it('keeps defaults when neither spelling is given', () => {
    assert.deepEqual(parse([]), { batch_size: 100 });
  });

  it("runs the canonical flag's value check on the alias", () => {
    assert.throws(
      () => parse(['--batch-size', '0']),
      (err: unknown) => err instanceof CommanderError && /'--batch-size <n>' argument '0' is invalid/.test(err.message),
    );
  });

  it('refuses a flag given in both spellings', () => {
    assert.throws(
      () => parse(['--export_base', '/a', '--export-base', '/b']),
      (err: unknown) => err instanceof CommanderError && /--export_base is given twice/.test(err.message),
    );
  });

  it('lists only the snake_case spelling in --help', () => {
    const program = new Command('t');
    const command = program.command('run').option('--export_base <dir>', 'where');
    acceptBothFlagStyles(command);
    const help = command.helpInformation();
    assert.match(help, /--export_base <dir>/);
    assert.doesNotMatch(help, /--export-base/);
  });
});
