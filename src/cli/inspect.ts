/** `flowserve inspect PATH`: what a TensorFlow model holds and what flowserve can serve of it (src/import/inspect.ts). */
import type { Command } from 'commander';
import { inspectModel } from '../import/inspect.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { defineTfModelFlags, readModelOptions, type TfModelFlags } from './tf-model-flags.js';

export function registerInspectCommand(program: Command): Command {
  const command = program
    .command('inspect')
    .argument('<path>', 'SavedModel or SessionBundle directory (or its base path), or a frozen GraphDef .pb')
    .description(
      'show a TensorFlow model as saved_model_cli show --all does: tag sets, signatures, variables, op types',
    );
  defineTfModelFlags(command).action(async (path: string, flags: TfModelFlags) => {
    const { text } = await inspectModel(path, readModelOptions(flags));
    process.stdout.write(text);
  });
  return acceptBothFlagStyles(command);
}
