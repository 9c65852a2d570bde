#!/usr/bin/env -S node --no-memory-reducer
/** The `flowserve` command: each subcommand lives in its own file and only parses flags. */
import { Command } from 'commander';
import { registerBenchCommand } from './bench.js';
import { registerClientCommand } from './client-mnist.js';
import { registerConvertCommand } from './convert.js';
import { registerDemoMnist } from './demo-mnist.js';
import { registerDemoPlacement } from './demo-placement.js';
import { registerDevicesCommand } from './devices.js';
import { registerInspectCommand } from './inspect.js';
import { registerServeCommand } from './serve.js';
import { registerTrainCommand } from './train.js';
import { FLOWSERVE_VERSION } from './version.js';

const program = new Command('flowserve')
  .description('dataflow graphs placed on devices, trained, exported and served (TensorFlow Serving compatible)')
  .version(FLOWSERVE_VERSION)
  .addHelpText(
    'after',
    '\nFlags are snake_case, as TensorFlow Serving spells its flags (--model_base_path, --num_tests); each also\n' +
      'accepts its kebab-case spelling (--export-base for --export_base).',
  );

const demo = program.command('demo').description("the chapter's examples, end to end");
registerDemoPlacement(demo);
registerDemoMnist(demo);
registerDevicesCommand(program);
registerTrainCommand(program);
registerServeCommand(program);
registerClientCommand(program);
registerBenchCommand(program);
registerInspectCommand(program);
registerConvertCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  process.exit(1);
});
