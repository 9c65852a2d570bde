/**
 * Reads a SavedModel directory (`saved_model.pb`, variables in the tensor bundle `variables/variables`, assets/)
 * into an ImportedModel, picking the MetaGraphDef whose tag set equals the requested one (`serve` by default), as
 * TF Serving's --saved_model_tags does.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLoss, InvalidArgument, NotFound } from '../errors.js';
import type { HostTensor } from '../graph/host-tensor.js';
import type { ImportedModel, ImportedSignature, ImportedTensorInfo } from './imported-model.js';
import { initOpOf } from './init-op.js';
import { decodeMessage } from './protos.js';
import { readTensorBundle } from './tensor-bundle.js';
import { messageFromTextFormat } from './text-proto.js';
import type { MetaGraphDefMsg, SavedModelMsg, SignatureDefMsg, TensorInfoMsg } from './tf-messages.js';
import { dtypeOfTf, shapeOfTf } from './tf-tensor.js';

export const SAVED_MODEL_PB = 'saved_model.pb';
export const SAVED_MODEL_PBTXT = 'saved_model.pbtxt';
export const DEFAULT_TAGS = ['serve'];

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Decodes a binary protobuf file, naming the file when its bytes are not the message. */
export async function readProtoFile<T>(path: string, typeName: string): Promise<T> {
  const bytes = await readFile(path);
  try {
    return decodeMessage<T>(typeName, bytes);
  } catch (err) {
    throw new DataLoss(`${path}: not a valid ${typeName} (${(err as Error).message})`, { cause: err });
  }
}

/**
 * The SavedModel message of a directory and the file it came from: `saved_model.pb`, or else the text form
 * `saved_model.pbtxt` (TF's loader looks in the same order).
 */
export async function readSavedModelMessage(dir: string): Promise<{ savedModel: SavedModelMsg; source: string }> {
  const pb = join(dir, SAVED_MODEL_PB);
  if (await exists(pb))
    return { savedModel: await readProtoFile<SavedModelMsg>(pb, 'tensorflow.SavedModel'), source: pb };
  const pbtxt = join(dir, SAVED_MODEL_PBTXT);
  if (await exists(pbtxt)) {
    // latin1: one char per byte, so escaped and literal UTF-8 bytes in strings read alike (see text-proto.ts).
    const text = await readFile(pbtxt, 'latin1');
    return { savedModel: messageFromTextFormat<SavedModelMsg>('tensorflow.SavedModel', text, pbtxt), source: pbtxt };
  }
  throw new NotFound(`no ${SAVED_MODEL_PB} or ${SAVED_MODEL_PBTXT} in ${dir}`);
}

export async function readSavedModel(dir: string, tags: readonly string[] = DEFAULT_TAGS): Promise<ImportedModel> {
  const { savedModel, source: pb } = await readSavedModelMessage(dir);
  const metaGraph = pickMetaGraph(savedModel, tags, pb);
  const prefix = join(dir, 'variables', 'variables');
  const hasVariables = await exists(`${prefix}.index`);
  const initOp = initOpOf(metaGraph, (filename) => join(dir, 'assets', filename));
  return {
    ...importedFromMetaGraph(metaGraph, {
      format: 'saved_model',
      source: pb,
      readVariables: hasVariables ? () => readTensorBundle(prefix) : async () => new Map<string, HostTensor>(),
      ...(hasVariables ? { variablesPath: `${prefix}.index` } : {}),
      assetsDir: join(dir, 'assets'),
    }),
    ...(initOp ? { initOp } : {}),
  };
}

/** The MetaGraphDef whose tags equal `tags` as a set; the error lists the tag sets the file has. */
export function pickMetaGraph(savedModel: SavedModelMsg, tags: readonly string[], source: string): MetaGraphDefMsg {
  const want = [...new Set(tags)].sort().join(',');
  const graphs = savedModel.meta_graphs ?? [];
  const found = graphs.find((g) => [...new Set(g.meta_info_def?.tags ?? [])].sort().join(',') === want);
  if (!found) {
    const available = graphs.map((g) => `{ ${(g.meta_info_def?.tags ?? []).join(', ')} }`).join(' ');
    throw new NotFound(
      `${source}: could not find a meta graph def matching supplied tags: { ${tags.join(', ')} }. ` +
        `Available tag sets: ${available || '(none)'}. To inspect available tag-sets, use flowserve inspect`,
    );
  }
  return found;
}

/** The parts of an ImportedModel that depend on where the MetaGraphDef came from. */
export type ModelOrigin = Pick<ImportedModel, 'format' | 'source' | 'readVariables' | 'variablesPath' | 'assetsDir'>;

export function importedFromMetaGraph(metaGraph: MetaGraphDefMsg, origin: ModelOrigin): ImportedModel {
  const graph = metaGraph.graph_def ?? {};
  const signatures: Record<string, ImportedSignature> = {};
  const skippedSignatures: Record<string, string> = {};
  for (const [key, def] of Object.entries(metaGraph.signature_def ?? {})) {
    try {
      signatures[key] = signatureOfTf(def, key);
    } catch (err) {
      skippedSignatures[key] = (err as Error).message;
    }
  }
  return {
    ...origin,
    tags: metaGraph.meta_info_def?.tags ?? [],
    ...(metaGraph.meta_info_def?.tensorflow_version
      ? { tensorflowVersion: metaGraph.meta_info_def.tensorflow_version }
      : {}),
    nodes: graph.node ?? [],
    functions: graph.library?.function ?? [],
    signatures,
    skippedSignatures,
  };
}

function tensorInfoOfTf(info: TensorInfoMsg, what: string): ImportedTensorInfo {
  if (!info.name) throw new InvalidArgument(`${what}: only dense tensors (TensorInfo.name) are supported`);
  return { name: info.name, dtype: dtypeOfTf(info.dtype, what), shape: shapeOfTf(info.tensor_shape) };
}

function signatureOfTf(def: SignatureDefMsg, key: string): ImportedSignature {
  const map = (m: Record<string, TensorInfoMsg> | undefined, role: string) =>
    Object.fromEntries(
      Object.entries(m ?? {}).map(([alias, info]) => [
        alias,
        tensorInfoOfTf(info, `signature '${key}' ${role} '${alias}'`),
      ]),
    );
  return { method: def.method_name ?? '', inputs: map(def.inputs, 'input'), outputs: map(def.outputs, 'output') };
}
