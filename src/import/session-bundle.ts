/**
 * Reads TF Serving's legacy SessionBundle (what the chapter's `Exporter` writes): `export.meta`, a MetaGraphDef
 * whose signatures live in collection_def["serving_signatures"] (one Any of tensorflow.serving.Signatures), and
 * the variables as a V1 checkpoint (spec/tensorflow-model-formats.md §6).
 *
 * Signatures follow TF Serving's up-conversion to SavedModel (session_bundle/bundle_shim.cc):
 * 1. A default regression signature becomes `serving_default` (tensorflow/serving/regress, `inputs` → `outputs`);
 *    a default classification signature becomes `serving_default` (…/classify, `inputs` → `classes`, `scores`).
 *    Other default signature types cannot be up-converted; that signature is left out with TF's reason.
 * 2. Named generic signatures `inputs` and `outputs` together make a predict signature, as TF Serving's Predict
 *    used them for SessionBundles: keyed `serving_default` when there is no default signature (as bundle_shim
 *    does), else `predict` (a flowserve addition, so a bundle whose default needs tf.Examples still serves
 *    Predict on its plain tensors).
 * 3. TensorBindings are names only; each tensor's dtype and shape are read off the graph (graph-tensor-info.ts).
 * 4. No `serving_signatures` collection, or more than one entry, is FailedPrecondition naming export.meta (TF:
 *    "Expected exactly one signatures proto"), which is why the `bad_half_plus_two` fixture does not load.
 *
 * Variables are read from the checkpoint directly; the saver subgraph (`save/restore_all`) is never run. As in TF
 * (session_bundle.cc GetVariablesFilename): `export` (V1) or `export.index` (a V2 bundle) when present, else the
 * shards `export-?????-of-?????`. A `serving_init_op` is honoured when trivial: `Assign(variable, Const)` nodes
 * under it (how Exporter sets asset-path variables) give those variables their values.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLoss, FailedPrecondition } from '../errors.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { parseTensorRef } from './graph-def.js';
import { GraphTensorInfoReader } from './graph-tensor-info.js';
import type { ImportedModel, ImportedSignature, ImportedTensorInfo } from './imported-model.js';
import { decodeMessage } from './protos.js';
import { readProtoFile } from './saved-model.js';
import { readTensorBundle } from './tensor-bundle.js';
import type { MetaGraphDefMsg, NodeDefMsg } from './tf-messages.js';
import { hostTensorOfTf } from './tf-tensor.js';
import { readV1Checkpoint } from './v1-checkpoint.js';

export const SESSION_BUNDLE_META = 'export.meta';
const SIGNATURES_COLLECTION = 'serving_signatures';
const INIT_OP_COLLECTION = 'serving_init_op';
const SIGNATURES_TYPE_URL_SUFFIX = '/tensorflow.serving.Signatures';
const DEFAULT_SIGNATURE_KEY = 'serving_default';
const PREDICT_SIGNATURE_KEY = 'predict';

const METHOD = {
  predict: 'tensorflow/serving/predict',
  classify: 'tensorflow/serving/classify',
  regress: 'tensorflow/serving/regress',
} as const;

interface TensorBindingMsg {
  tensor_name?: string;
}
interface SignatureMsg {
  regression_signature?: { input?: TensorBindingMsg; output?: TensorBindingMsg };
  classification_signature?: { input?: TensorBindingMsg; classes?: TensorBindingMsg; scores?: TensorBindingMsg };
  generic_signature?: { map?: Record<string, TensorBindingMsg> };
}
interface SignaturesMsg {
  default_signature?: SignatureMsg;
  named_signatures?: Record<string, SignatureMsg>;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function readSessionBundle(dir: string): Promise<ImportedModel> {
  const metaPath = join(dir, SESSION_BUNDLE_META);
  const meta = await readProtoFile<MetaGraphDefMsg>(metaPath, 'tensorflow.MetaGraphDef');
  const nodes = meta.graph_def?.node ?? [];
  const graph = new GraphTensorInfoReader(nodes, meta.graph_def?.versions?.producer ?? 0);
  const { signatures, skipped } = signaturesOf(readSignatures(meta, metaPath), graph);
  const variables = await variablesSource(dir);
  const initValues = trivialInitValues(meta, nodes, metaPath);
  return {
    format: 'session_bundle',
    source: metaPath,
    tags: meta.meta_info_def?.tags ?? [],
    ...(meta.meta_info_def?.tensorflow_version ? { tensorflowVersion: meta.meta_info_def.tensorflow_version } : {}),
    nodes,
    functions: meta.graph_def?.library?.function ?? [],
    signatures,
    skippedSignatures: skipped,
    readVariables: async () => {
      const values = await variables.read();
      for (const [name, value] of initValues) if (!values.has(name)) values.set(name, value);
      return values;
    },
    variablesPath: variables.path,
    assetsDir: join(dir, 'assets'),
  };
}

/** The one tensorflow.serving.Signatures of the bundle (bundle_shim's GetSignatures rules). */
function readSignatures(meta: MetaGraphDefMsg, metaPath: string): SignaturesMsg {
  const entries = meta.collection_def?.[SIGNATURES_COLLECTION]?.any_list?.value ?? [];
  if (entries.length !== 1) {
    throw new FailedPrecondition(
      `${metaPath}: Expected exactly one signatures proto in collection_def '${SIGNATURES_COLLECTION}', found ` +
        `${entries.length}; a SessionBundle needs the signatures its Exporter writes`,
    );
  }
  const any = entries[0] as { type_url?: string; value?: Uint8Array };
  if (!any.type_url?.endsWith(SIGNATURES_TYPE_URL_SUFFIX)) {
    throw new FailedPrecondition(
      `${metaPath}: collection_def '${SIGNATURES_COLLECTION}' holds a '${any.type_url ?? ''}', expected ` +
        `type.googleapis.com/tensorflow.serving.Signatures`,
    );
  }
  try {
    return decodeMessage<SignaturesMsg>('tensorflow.serving.Signatures', any.value ?? new Uint8Array());
  } catch (err) {
    throw new DataLoss(`${metaPath}: '${SIGNATURES_COLLECTION}' is not a valid tensorflow.serving.Signatures`, {
      cause: err,
    });
  }
}

function signaturesOf(
  sigs: SignaturesMsg,
  graph: GraphTensorInfoReader,
): { signatures: Record<string, ImportedSignature>; skipped: Record<string, string> } {
  const signatures: Record<string, ImportedSignature> = {};
  const skipped: Record<string, string> = {};
  const add = (
    key: string,
    method: string,
    inputs: Record<string, string | undefined>,
    outputs: Record<string, string | undefined>,
  ) => {
    try {
      const takesExamples = method !== METHOD.predict;
      signatures[key] = {
        method,
        inputs: bind(graph, key, 'input', inputs, takesExamples),
        outputs: bind(graph, key, 'output', outputs, false),
      };
    } catch (err) {
      skipped[key] = (err as Error).message;
    }
  };
  const def = sigs.default_signature;
  if (def?.regression_signature) {
    const r = def.regression_signature;
    add(DEFAULT_SIGNATURE_KEY, METHOD.regress, { inputs: r.input?.tensor_name }, { outputs: r.output?.tensor_name });
  } else if (def?.classification_signature) {
    const c = def.classification_signature;
    add(
      DEFAULT_SIGNATURE_KEY,
      METHOD.classify,
      { inputs: c.input?.tensor_name },
      { classes: c.classes?.tensor_name, scores: c.scores?.tensor_name },
    );
  } else if (def?.generic_signature) {
    skipped[DEFAULT_SIGNATURE_KEY] =
      'Only classification and regression default signatures are supported for up conversion';
  }
  const named = sigs.named_signatures ?? {};
  const inputs = named.inputs?.generic_signature;
  const outputs = named.outputs?.generic_signature;
  if (inputs && outputs) {
    const names = (m: Record<string, TensorBindingMsg> | undefined) =>
      Object.fromEntries(Object.entries(m ?? {}).map(([alias, b]) => [alias, b.tensor_name]));
    add(def ? PREDICT_SIGNATURE_KEY : DEFAULT_SIGNATURE_KEY, METHOD.predict, names(inputs.map), names(outputs.map));
  }
  return { signatures, skipped };
}

/** Name-only bindings → ImportedTensorInfo, typed from the graph; an empty name is left out, as bundle_shim does. */
function bind(
  graph: GraphTensorInfoReader,
  key: string,
  role: string,
  bindings: Record<string, string | undefined>,
  takesExamples: boolean,
): Record<string, ImportedTensorInfo> {
  const out: Record<string, ImportedTensorInfo> = {};
  for (const [alias, name] of Object.entries(bindings)) {
    if (!name) continue;
    const node = parseTensorRef(name).node;
    if (!graph.hasNode(node)) {
      throw new FailedPrecondition(`signature '${key}' ${role} '${alias}' names '${name}', which is not in the graph`);
    }
    const info = graph.infoOf(name);
    if (!info.dtype) {
      throw new FailedPrecondition(
        `signature '${key}' ${role} '${alias}' (${name}): its dtype cannot be read off the graph`,
      );
    }
    // Classify and Regress feed a batch of serialized tf.Examples: a vector, whatever rank the graph left unknown.
    const exampleBatch = takesExamples && info.dtype === 'string' && info.shape === undefined;
    out[alias] = { name, dtype: info.dtype, shape: exampleBatch ? [null] : info.shape };
  }
  return out;
}

async function variablesSource(dir: string): Promise<{ path: string; read(): Promise<Map<string, HostTensor>> }> {
  const unsharded = join(dir, 'export');
  if (await exists(`${unsharded}.index`)) {
    return { path: `${unsharded}.index`, read: () => readTensorBundle(unsharded) };
  }
  if (await exists(unsharded)) return { path: unsharded, read: () => readV1Checkpoint(unsharded) };
  const pattern = join(dir, 'export-?????-of-?????');
  return { path: pattern, read: () => readV1Checkpoint(pattern) };
}

/** Values that a trivial serving_init_op (a group of `Assign(variable, Const)`) gives variables. */
function trivialInitValues(
  meta: MetaGraphDefMsg,
  nodes: readonly NodeDefMsg[],
  metaPath: string,
): Map<string, HostTensor> {
  const byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  const values = new Map<string, HostTensor>();
  const pending = [...(meta.collection_def?.[INIT_OP_COLLECTION]?.node_list?.value ?? [])];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = parseTensorRef(pending.pop() as string).node;
    if (seen.has(name)) continue;
    seen.add(name);
    const node = byName.get(name);
    if (!node) continue;
    if (node.op === 'NoOp') {
      pending.push(...(node.input ?? []));
      continue;
    }
    if (node.op !== 'Assign') continue;
    const [target, source] = (node.input ?? []).map((r) => byName.get(parseTensorRef(r).node));
    const tensor = source?.op === 'Const' ? source.attr?.value?.tensor : undefined;
    if (!target?.name || !tensor) continue;
    try {
      values.set(target.name, hostTensorOfTf(tensor, `${metaPath}: node '${source?.name ?? ''}' attr 'value'`));
    } catch {
      // A constant flowserve cannot hold leaves its variable without a value; a signature that reads it says so.
    }
  }
  return values;
}
