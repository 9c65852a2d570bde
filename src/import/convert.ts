/**
 * An imported TensorFlow model → a flowserve servable: the graph imported (graph-def.ts), pruned to the
 * signatures' outputs, lowered to one ONNX model through the same lowering as every Session partition, with the
 * checkpoint's variable values frozen in as initializers, plus signatures.json. The server loads that as any
 * other version; `flowserve convert` writes the same files to disk. Variables that a signature updates are not
 * frozen: they are inputs of the model (defaulting to the checkpoint's values) and the signature names the outputs
 * with their new values, which the server keeps per loaded version (signature `state`, onnx-servable.ts).
 *
 * Signatures whose graph needs an op flowserve cannot import (ParseExample behind a classify signature, say) are
 * left out with the reason, and the others still serve; when none is left the conversion fails listing the ops.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgument, Unimplemented } from '../errors.js';
import { utf8Text } from '../graph/utf8.js';
import { discoverDevices } from '../devices/device.js';
import type { Operation, Tensor } from '../graph/graph.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { OnnxGraphBuilder } from '../onnx/builder.js';
import { lowerPartition } from '../runtime/lower.js';
import { prune } from '../runtime/prune.js';
import {
  DEFAULT_SIGNATURE,
  METHOD_CLASSIFY,
  METHOD_PREDICT,
  METHOD_REGRESS,
  type ParsedFeatureSpec,
  type ParseExamplesSpec,
  type Signature,
  type SignatureFile,
  type StateVariableSpec,
  type TensorSpec,
} from '../serving/core/types.js';
import {
  canonicalTensorName,
  importGraphDef,
  neededNodes,
  unsupportedOps,
  unsupportedOpsError,
  type FeedSpec,
  type ImportedUpdate,
} from './graph-def.js';
import type { ImportedModel, ImportedSignature, ImportedTensorInfo } from './imported-model.js';
import { inlineFunctionCalls } from './functions.js';
import { findExampleParsing, identitySource, type ImportedExampleParsing } from './parse-example.js';
import { runInitOp } from './init-op.js';
import { updatedVariables } from './state.js';
import type { NodeDefMsg } from './tf-messages.js';

/** The initial values of a converted model's state (docs/servable-format.md), beside model.onnx. */
export const STATE_FILE = 'state.onnx';

const SERVABLE_METHODS = new Set([METHOD_PREDICT, METHOD_CLASSIFY, METHOD_REGRESS]);

export interface ConvertedModel {
  model: Uint8Array;
  /** When a signature updates variables: the model of their initial values (STATE_FILE, see initialStateModel). */
  stateModel?: Uint8Array;
  signatureFile: SignatureFile;
  /** Signatures of the model that were left out, with why. */
  skipped: Record<string, string>;
}

export interface ConvertOptions {
  /** Only these signature keys (default: every one that can be served). */
  signatures?: readonly string[];
}

/** A signature that can be served, with the ParseExample it parses its tf.Examples with (if any). */
export interface UsableSignature {
  key: string;
  signature: ImportedSignature;
  parsing?: ImportedExampleParsing;
  /** The variables a run of the signature updates (node names, sorted); absent when it updates none. */
  updates?: string[];
}

/** Which signatures can be served, and which cannot (with why). */
export function servableSignatures(
  model: ImportedModel,
  options: ConvertOptions = {},
): { usable: UsableSignature[]; skipped: Record<string, string> } {
  const nodes = inlineFunctionCalls(model.nodes, model.functions, model.source);
  const byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  const skipped: Record<string, string> = { ...model.skippedSignatures };
  const usable: UsableSignature[] = [];
  const wanted = options.signatures ? new Set(options.signatures) : undefined;
  for (const key of wanted ?? []) {
    if (!(key in model.signatures)) {
      throw new InvalidArgument(
        `${model.source}: no signature '${key}'; the model has [${Object.keys(model.signatures).join(', ')}]`,
      );
    }
  }
  for (const [key, sig] of Object.entries(model.signatures)) {
    if (wanted && !wanted.has(key)) continue;
    if (!SERVABLE_METHODS.has(sig.method)) {
      skipped[key] = `method '${sig.method}' is not predict, classify or regress`;
      continue;
    }
    let parsing: ImportedExampleParsing | undefined;
    try {
      parsing = findExampleParsing(byName, sig, key, model.source);
    } catch (err) {
      skipped[key] = (err as Error).message;
      continue;
    }
    const fed = new Set(Object.values(sig.inputs).map((i) => parseNode(i.name)));
    if (parsing) fed.add(parsing.node);
    const run = neededNodes(
      byName,
      Object.values(sig.outputs).map((o) => o.name),
      fed,
      model.source,
    ).filter((n) => !fed.has(n.name as string));
    const missing = unsupportedOps(run);
    if (missing.size > 0) {
      skipped[key] = unsupportedOpsError(missing, undefined).message;
      continue;
    }
    const updates = updatedVariables(byName, run);
    usable.push({ key, signature: sig, ...(parsing ? { parsing } : {}), ...(updates.length ? { updates } : {}) });
  }
  return { usable, skipped };
}

function parseNode(tensorName: string): string {
  return canonicalTensorName(tensorName).replace(/:\d+$/, '');
}

/** The feeds of one ONNX model that serves every usable signature, and which fed tensors each parsed feature fills. */
interface FeedPlan {
  usable: UsableSignature[];
  feeds: Map<string, FeedSpec>;
  /** Per signature key, per feature key: the fed tensors that take the feature's values. */
  featureTensors: Map<string, Map<string, string[]>>;
}

/**
 * One ONNX model has one set of inputs, but TF feeds each signature where it likes: serving_default feeds `x:0`
 * while classify_x_to_y parses examples into ParseExample:0, whose only reader is `x`. So a parsed feature fills
 * every fed tensor that is a copy of its ParseExample output (Identity chains); a signature that would reach a
 * fed tensor it cannot fill (another signature's feed on its path) is left out with why, instead of answering
 * from a placeholder. Leaving one out changes the feeds, so the plan repeats until no signature is left out.
 */
function planFeeds(
  model: ImportedModel,
  byName: ReadonlyMap<string, NodeDefMsg>,
  candidates: UsableSignature[],
  skipped: Record<string, string>,
): FeedPlan {
  let usable = candidates;
  for (;;) {
    const feeds = new Map<string, FeedSpec>();
    for (const { key, signature, parsing } of usable) {
      if (parsing) {
        for (const f of parsing.features) feeds.set(f.output, { dtype: f.dtype, shape: [null, ...f.shape] });
        continue;
      }
      for (const [alias, info] of Object.entries(signature.inputs)) {
        feeds.set(canonicalTensorName(info.name), { dtype: info.dtype, shape: feedShape(model, key, alias, info) });
      }
    }
    const fedNodes = new Set([...feeds.keys()].map(parseNode));
    const featureTensors = new Map<string, Map<string, string[]>>();
    const left: UsableSignature[] = [];
    for (const entry of usable) {
      const fetches = Object.values(entry.signature.outputs).map((o) => canonicalTensorName(o.name));
      const reached = reachedFeeds(byName, fetches, feeds, fedNodes, model.source);
      const own = new Set(Object.values(entry.signature.inputs).map((i) => canonicalTensorName(i.name)));
      const byFeature = new Map<string, string[]>(entry.parsing?.features.map((f) => [f.key, []]) ?? []);
      const foreign: string[] = [];
      for (const tensor of reached) {
        const feature = entry.parsing?.features.find((f) => f.output === identitySource(byName, tensor));
        if (feature) byFeature.get(feature.key)?.push(tensor);
        else if (!own.has(tensor)) foreign.push(tensor);
      }
      if (foreign.length > 0) {
        skipped[entry.key] =
          `its outputs depend on [${foreign.join(', ')}], which another signature of the model feeds; flowserve ` +
          `serves all signatures from one graph with one set of inputs`;
        left.push(entry);
      } else featureTensors.set(entry.key, byFeature);
    }
    if (left.length === 0) {
      // A ParseExample output that no signature reads directly is not an input of the model.
      const read = new Set([...featureTensors.values()].flatMap((m) => [...m.values()].flat()));
      for (const { parsing } of usable) {
        for (const f of parsing?.features ?? []) if (!read.has(f.output)) feeds.delete(f.output);
      }
      return { usable, feeds, featureTensors };
    }
    usable = usable.filter((u) => !left.includes(u));
  }
}

/** The fed tensors that the fetches read (fetched fed tensors included), stopping at fed nodes. */
function reachedFeeds(
  byName: ReadonlyMap<string, NodeDefMsg>,
  fetches: readonly string[],
  feeds: ReadonlyMap<string, FeedSpec>,
  fedNodes: ReadonlySet<string>,
  source: string,
): Set<string> {
  const reached = new Set(fetches.filter((f) => feeds.has(f)));
  for (const node of neededNodes(byName, fetches, fedNodes, source)) {
    if (fedNodes.has(node.name as string)) continue;
    for (const ref of node.input ?? []) {
      if (ref.startsWith('^')) continue;
      const name = canonicalTensorName(ref);
      if (feeds.has(name)) reached.add(name);
    }
  }
  return reached;
}

export async function convertImportedModel(
  model: ImportedModel,
  options: ConvertOptions = {},
): Promise<ConvertedModel> {
  try {
    return await convertOrThrow(model, options);
  } catch (err) {
    throw namingModel(model, err);
  }
}

/**
 * A failure names the model's files: graph building reports nodes and ops (a corrupt device string, a node that
 * no longer type-checks), and a user needs to know which model they belong to. Messages that already name a file
 * of the model's directory (the variables, say) are kept as they are.
 */
function namingModel(model: ImportedModel, err: unknown): unknown {
  if (err instanceof Error && !err.message.includes(dirname(model.source))) {
    err.message = `${model.source}: ${err.message}`;
  }
  return err;
}

async function convertOrThrow(model: ImportedModel, options: ConvertOptions): Promise<ConvertedModel> {
  const { usable: candidates, skipped } = servableSignatures(model, options);
  const nodes = inlineFunctionCalls(model.nodes, model.functions, model.source);
  const byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  const { usable, feeds, featureTensors } = planFeeds(model, byName, candidates, skipped);
  if (usable.length === 0) {
    const reasons = Object.entries(skipped).map(([k, why]) => `'${k}': ${why}`);
    throw new Unimplemented(
      `${model.source}: no signature can be served${reasons.length ? ` (${reasons.join('; ')})` : ' (the model has none)'}`,
    );
  }
  const fetches = new Set<string>();
  for (const { signature } of usable) {
    for (const info of Object.values(signature.outputs)) fetches.add(canonicalTensorName(info.name));
  }
  const checkpoint = await model.readVariables();
  const imported = importGraphDef(nodes, {
    feeds,
    fetches: [...fetches],
    // TF's loader runs the init op after restoring the checkpoint: its assignments are what the model starts from.
    variables: model.initOp ? runInitOp(nodes, model.initOp, checkpoint, model.source) : checkpoint,
    source: model.source,
  });
  const inputs = new Set([...feeds.keys()].map((n) => imported.tensor(n)));
  const outputs = new Map<Tensor, string>();
  for (const name of fetches) {
    const t = imported.tensor(name);
    // A tensor fetched under two names keeps the first; signatures then point at it (see specOf).
    if (!outputs.has(t)) outputs.set(t, name);
  }
  const updates = signatureUpdates(usable, byName, feeds, imported.updates, model.source);
  for (const list of updates.values()) {
    for (const u of list) if (!outputs.has(u.op.output)) outputs.set(u.op.output, `${STATE_OUTPUT_PREFIX}${u.node}`);
  }
  // Variables some signature updates are the model's state: inputs of the ONNX model, which every run feeds (ONNX
  // Runtime's Node binding cannot feed an initializer, so they cannot default to one); their checkpoint values are
  // the outputs of a second model, state.onnx, that the server runs once at load.
  const live = new Set([...updates.values()].flat().map((u) => u.variable));
  const tfNameOf = new Map<Tensor, string>([
    ...[...feeds.keys()].map((n) => [imported.tensor(n), n] as const),
    ...outputs,
  ]);
  const values = new Map(imported.variables.map((v) => [v.op, v.value]));
  const cpu = discoverDevices({}).find((d) => d.type === 'CPU');
  if (!cpu) throw new InvalidArgument('no CPU device to lower the imported graph on');
  const ops = prune([...outputs.keys()], [...live], inputs);
  const onnxName = (name: string) => tfNameOf.get(imported.tensor(name)) as string;
  const stateOf = (key: string): StateVariableSpec[] =>
    (updates.get(key) ?? []).map((u) => ({
      variable: u.variable.name,
      input: stateInputName(u.variable),
      output: outputs.get(u.op.output) as string,
    }));
  const signatureFile: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: usable.some((u) => u.key === DEFAULT_SIGNATURE) ? DEFAULT_SIGNATURE : (usable[0] as UsableSignature).key,
    signatures: Object.fromEntries(
      usable.map((u) => [u.key, signatureOf(u, onnxName, featureTensors.get(u.key) ?? new Map(), stateOf(u.key))]),
    ),
  };
  const lowered = lowerPartition({ device: cpu, stage: 0, ops }, inputs, (t) => outputs.has(t), {
    feedName: (t) => tfNameOf.get(t) as string,
    outputName: (t) => tfNameOf.get(t) as string,
    freezeVariable: (op, name, b) => {
      const value = values.get(op) as HostTensor;
      if (live.has(op)) b.input({ name, dtype: value.dtype, shape: value.shape });
      else b.namedConstant(name, value);
    },
    declareShapes: false,
    channelsFirst: true,
    metadata: { 'flowserve.signatures': JSON.stringify(signatureFile), 'flowserve.imported_from': model.format },
  });
  const liveValues = [...live].map((op) => ({ input: stateInputName(op), value: values.get(op) as HostTensor }));
  return {
    model: lowered.model,
    signatureFile,
    skipped,
    ...(liveValues.length > 0 ? { stateModel: initialStateModel(liveValues, model.format) } : {}),
  };
}

/** state.onnx: no inputs, one output per state input of model.onnx (same name) holding its checkpoint value. */
function initialStateModel(state: { input: string; value: HostTensor }[], format: string): Uint8Array {
  const b = new OnnxGraphBuilder('initial_state');
  for (const { input, value } of state) {
    b.namedConstant(`initial/${input}`, value);
    b.op('Identity', [`initial/${input}`], {}, input);
    b.output({ name: input, dtype: value.dtype, shape: value.shape });
  }
  return b.build({ 'flowserve.imported_from': format });
}

/** A placeholder needs a rank; a signature of unknown rank takes the graph's own placeholder shape. */
function feedShape(model: ImportedModel, key: string, alias: string, info: ImportedTensorInfo): (number | null)[] {
  if (info.shape) return info.shape;
  throw new InvalidArgument(
    `${model.source}: signature '${key}' input '${alias}' (${info.name}) has unknown rank, which flowserve cannot import`,
  );
}

/** ONNX output names of variables' new values that no signature fetches: `state/<update node>`. */
const STATE_OUTPUT_PREFIX = 'state/';

/** The ONNX input of a live variable, as lowerPartition names a variable it does not freeze. */
function stateInputName(variable: Operation): string {
  return `var/${variable.name}`;
}

/**
 * Per signature, the variable updates its run makes that decide each variable's value after the run: the latest
 * update of each variable among the nodes the signature runs (TF runs them all; of two unordered updates of one
 * variable, TF's outcome is a race and flowserve keeps the later in import order). Signatures that update nothing
 * are absent.
 */
function signatureUpdates(
  usable: readonly UsableSignature[],
  byName: ReadonlyMap<string, NodeDefMsg>,
  feeds: ReadonlyMap<string, FeedSpec>,
  imported: readonly ImportedUpdate[],
  source: string,
): Map<string, ImportedUpdate[]> {
  const out = new Map<string, ImportedUpdate[]>();
  if (imported.length === 0) return out;
  const byNode = new Map(imported.map((u) => [u.node, u]));
  const fedNodes = new Set([...feeds.keys()].map(parseNode));
  for (const { key, signature } of usable) {
    const fetches = Object.values(signature.outputs).map((o) => canonicalTensorName(o.name));
    const last = new Map<Operation, ImportedUpdate>();
    for (const node of neededNodes(byName, fetches, fedNodes, source)) {
      const update = byNode.get(node.name as string);
      if (!update || fedNodes.has(update.node)) continue;
      const before = last.get(update.variable);
      if (!before || update.rank > before.rank) last.set(update.variable, update);
    }
    if (last.size > 0) out.set(key, [...last.values()]);
  }
  return out;
}

function signatureOf(
  usable: UsableSignature,
  onnxName: (tfName: string) => string,
  featureTensors: ReadonlyMap<string, string[]>,
  state: StateVariableSpec[],
): Signature {
  const { signature: sig, parsing } = usable;
  const spec = (info: ImportedTensorInfo, name: string): TensorSpec => ({
    name,
    dtype: info.dtype,
    shape: (info.shape ?? []).map((d) => d ?? -1),
    ...(info.shape ? {} : { unknownRank: true }),
  });
  const map = (m: Record<string, ImportedTensorInfo>, parsedAlias?: string) =>
    Object.fromEntries(
      Object.entries(m).map(([alias, info]) => [
        alias,
        // The serialized examples are parsed on the host: their tensor is TF's, not an input of the ONNX model.
        spec(info, alias === parsedAlias ? info.name : onnxName(info.name)),
      ]),
    );
  return {
    method: sig.method,
    inputs: map(sig.inputs, parsing?.alias),
    outputs: map(sig.outputs),
    enforceShapes: false,
    ...(parsing ? { parseExamples: parseExamplesSpec(parsing, onnxName, featureTensors) } : {}),
    ...(state.length > 0 ? { state } : {}),
  };
}

function parseExamplesSpec(
  parsing: ImportedExampleParsing,
  onnxName: (tfName: string) => string,
  featureTensors: ReadonlyMap<string, string[]>,
): ParseExamplesSpec {
  const features: Record<string, ParsedFeatureSpec> = {};
  for (const f of parsing.features) {
    const defaults = f.defaultValue?.data;
    features[f.key] = {
      dtype: f.dtype,
      shape: f.shape,
      ...(defaults
        ? {
            defaultValue: Array.from(defaults as ArrayLike<number | bigint | Uint8Array>, (v) =>
              typeof v === 'bigint'
                ? String(v)
                : v instanceof Uint8Array
                  ? (utf8Text(v) ?? { b64: Buffer.from(v).toString('base64') })
                  : v,
            ),
          }
        : {}),
      tensors: [...new Set((featureTensors.get(f.key) ?? []).map(onnxName))],
    };
  }
  return { input: parsing.alias, features };
}

/** Writes the converted model as a flowserve version directory (model.onnx + signatures.json [+ state.onnx]). */
export async function writeConvertedModel(converted: ConvertedModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), converted.model);
  if (converted.stateModel) await writeFile(join(dir, STATE_FILE), converted.stateModel);
  await writeFile(join(dir, 'signatures.json'), JSON.stringify(converted.signatureFile, null, 2) + '\n');
}
