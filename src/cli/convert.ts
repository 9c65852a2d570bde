/**
 * `flowserve convert PATH OUT_DIR`: imports a TensorFlow model once and writes a flowserve servable (model.onnx +
 * signatures.json) to OUT_DIR, so `serve` loads it without importing. OUT_DIR is a version directory
 * (`<base>/1`); an existing model there is replaced only with --overwrite.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { AlreadyExists } from '../errors.js';
import { convertImportedModel, STATE_FILE, writeConvertedModel, type ConvertedModel } from '../import/convert.js';
import { readTfModel } from '../import/model-formats.js';
import { acceptBothFlagStyles } from './flag-style.js';
import { defineTfModelFlags, nameList, readModelOptions, type TfModelFlags } from './tf-model-flags.js';

interface ConvertFlags extends TfModelFlags {
  signature?: string[];
  overwrite?: boolean;
}

export function registerConvertCommand(program: Command): Command {
  const command = program
    .command('convert')
    .argument('<path>', 'SavedModel or SessionBundle directory (or its base path), or a frozen GraphDef .pb')
    .argument('<out_dir>', 'version directory to write model.onnx and signatures.json to, e.g. models/m/1')
    .description('import a TensorFlow model and write it as a flowserve servable (ONNX + signatures)')
    .option('--signature <keys>', 'only these signatures, comma-separated (default: every servable one)', nameList)
    .option('--overwrite', 'replace a model.onnx already in OUT_DIR');
  defineTfModelFlags(command).action(async (path: string, outDir: string, flags: ConvertFlags) => {
    const target = join(outDir, 'model.onnx');
    if (
      !flags.overwrite &&
      (await access(target).then(
        () => true,
        () => false,
      ))
    ) {
      throw new AlreadyExists(`${target} exists; pass --overwrite to replace it`);
    }
    const model = await readTfModel(path, readModelOptions(flags));
    const converted = await convertImportedModel(model, flags.signature ? { signatures: flags.signature } : {});
    await writeConvertedModel(converted, outDir);
    const keys = Object.keys(converted.signatureFile.signatures);
    process.stdout.write(
      `Wrote ${target} (${converted.model.length} bytes) and ${join(outDir, 'signatures.json')} from ${model.source}\n` +
        `Signatures: ${keys.map((k) => (k === converted.signatureFile.default ? `${k} (default)` : k)).join(', ')}\n` +
        (converted.stateModel
          ? `Stateful: ${statefulKeys(converted).join(', ')} update variables; their starting values are in ${join(outDir, STATE_FILE)}, which the server needs beside model.onnx\n`
          : '') +
        Object.entries(converted.skipped)
          .map(([key, why]) => `Left out '${key}': ${why}\n`)
          .join(''),
    );
  });
  return acceptBothFlagStyles(command);
}

/** The signatures of a converted model that update variables. */
function statefulKeys(converted: ConvertedModel): string[] {
  return Object.entries(converted.signatureFile.signatures).flatMap(([key, sig]) => (sig.state?.length ? [key] : []));
}
