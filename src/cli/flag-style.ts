/**
 * One flag style for the whole CLI: snake_case, as TensorFlow Serving's flags (`--model_base_path`) and TensorFlow's
 * example scripts (`--num_tests`, `--model_version`) spell theirs. Every snake_case flag also answers to its
 * kebab-case spelling (`--export-base` for `--export_base`), so commands written for other CLIs still work.
 *
 * The alias is a hidden commander option with the same value syntax and parser; a preAction hook moves its value
 * onto the canonical flag, so actions only ever see the snake_case name.
 */
import { Option, type Command } from 'commander';

export function kebabSpelling(longFlag: string): string {
  return longFlag.replace(/_/g, '-');
}

/** Adds a hidden kebab-case alias for each snake_case option of `command` and of its subcommands. */
export function acceptBothFlagStyles(command: Command): Command {
  const aliases: { canonical: Option; alias: Option }[] = [];
  for (const canonical of [...command.options]) {
    if (!canonical.long?.includes('_')) continue;
    const spelling = kebabSpelling(canonical.long);
    if (command.options.some((o) => o.long === spelling)) continue;
    // The canonical flag's value syntax (`<n>`, `[bool]`), so errors about the alias read the same.
    const syntax = /\s[<[].*$/.exec(canonical.flags)?.[0] ?? '';
    const alias = new Option(`${spelling}${syntax}`, `alias of ${canonical.long}`).hideHelp();
    // The same parser, so the alias's value checks and messages are the canonical flag's.
    if (canonical.parseArg) alias.argParser(canonical.parseArg);
    command.addOption(alias);
    aliases.push({ canonical, alias });
  }
  if (aliases.length > 0) {
    command.hook('preAction', (_hooked, actionCommand) => {
      if (actionCommand !== command) return;
      for (const { canonical, alias } of aliases) {
        const value = command.getOptionValue(alias.attributeName()) as unknown;
        if (value === undefined) continue;
        if (command.getOptionValueSource(canonical.attributeName()) === 'cli') {
          command.error(`error: ${canonical.long} is given twice (also as ${alias.long ?? ''})`, {
            code: 'flowserve.duplicateFlag',
          });
        }
        command.setOptionValueWithSource(canonical.attributeName(), value, 'cli');
        // Actions see only the snake_case key (opts() is commander's live option store).
        delete command.opts()[alias.attributeName()];
      }
    });
  }
  for (const sub of command.commands) acceptBothFlagStyles(sub);
  return command;
}
