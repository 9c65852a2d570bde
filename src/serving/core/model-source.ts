/**
 * What a version directory holds, detected by its files: flowserve's own `model.onnx` (+ signatures.json), or a
 * TensorFlow model of a format in src/import/model-formats.ts (SavedModel `saved_model.pb`, the legacy SessionBundle
 * `export.meta`, a TF.js graph model `model.json`), which is imported (src/import) into an ONNX model and signatures
 * written to a private temporary directory that lives only while the version loads.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFound } from '../../errors.js';
import { convertImportedModel, writeConvertedModel } from '../../import/convert.js';
import type { ImportedModel, ModelFormat } from '../../import/imported-model.js';
import { detectDirectoryFormat, MODEL_FORMATS } from '../../import/model-formats.js';
import { DEFAULT_TAGS } from '../../import/saved-model.js';
import type { VersionSignatures } from './signatures.js';

export const MODEL_FILE = 'model.onnx';

export interface ModelSource {
  /** The ONNX model to load. */
  modelPath: string;
  /** The TensorFlow format it was imported from; undefined for flowserve's own model.onnx. */
  format?: ModelFormat;
  /** Signatures of an imported model (undefined: read signatures.json or derive them from the ONNX graph). */
  signatures?: VersionSignatures;
  /** Removes what the import wrote; call once the model is loaded (or failed to). */
  release(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function findModelSource(
  versionPath: string,
  savedModelTags: readonly string[] = DEFAULT_TAGS,
): Promise<ModelSource> {
  const onnxPath = join(versionPath, MODEL_FILE);
  if (await exists(onnxPath)) return { modelPath: onnxPath, release: async () => undefined };
  const format = await detectDirectoryFormat(versionPath);
  if (format) {
    return importedSource(await format.read(versionPath, { tags: savedModelTags }));
  }
  const tensorflowFormats = MODEL_FORMATS.filter((f) => f.directoryFiles.length > 0).map((f) => f.description);
  throw new NotFound(
    `Could not find ${MODEL_FILE} or a ${tensorflowFormats.join(' or a ')} at supplied export directory path: ${versionPath}`,
  );
}

/** An imported model converted into a private temporary directory, removed by release(). */
async function importedSource(model: ImportedModel): Promise<ModelSource> {
  const converted = await convertImportedModel(model);
  const dir = await mkdtemp(join(tmpdir(), 'flowserve-import-'));
  const release = () => rm(dir, { recursive: true, force: true });
  try {
    await writeConvertedModel(converted, dir);
  } catch (err) {
    await release();
    throw err;
  }
  return {
    modelPath: join(dir, MODEL_FILE),
    format: model.format,
    signatures: { signatures: converted.signatureFile.signatures, defaultSignature: converted.signatureFile.default },
    release,
  };
}
