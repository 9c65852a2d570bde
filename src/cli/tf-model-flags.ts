/**
 * The flags `inspect` and `convert` share for reading a TensorFlow model: the SavedModel tag set (TF Serving's
 * --saved_model_tags) and, for a frozen GraphDef, the signature's tensors (--inputs/--outputs, TF tensor names).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ReadModelOptions } from '../import/model-formats.js';

/** A comma-separated list of non-empty names: `serve,gpu`, `x:0,y:0`. */
export function nameList(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) throw new InvalidArgumentError('must be names separated by commas');
  return names;
}

export interface TfModelFlags {
  saved_model_tags?: string[];
  inputs?: string[];
  outputs?: string[];
}

export function defineTfModelFlags(command: Command): Command {
  return command
    .option('--saved_model_tags <tags>', 'tag set of the SavedModel MetaGraphDef (default: serve)', nameList)
    .option(
      '--inputs <tensors>',
      'frozen GraphDef: input tensor names, e.g. x:0 (default: every Placeholder)',
      nameList,
    )
    .option(
      '--outputs <tensors>',
      'frozen GraphDef: output tensor names, e.g. y:0 (default: the nodes nothing consumes)',
      nameList,
    );
}

export function readModelOptions(flags: TfModelFlags): ReadModelOptions {
  return {
    ...(flags.saved_model_tags ? { tags: flags.saved_model_tags } : {}),
    ...(flags.inputs ? { inputs: flags.inputs } : {}),
    ...(flags.outputs ? { outputs: flags.outputs } : {}),
  };
}
