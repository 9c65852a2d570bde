/**
 * An imported TensorFlow model → a flowserve servable: the graph imported (graph-def.ts), pruned to the
 * signatures' outputs, lowered to one ONNX model through the same lowering as every Session partition, with the
 * checkpoint's variable values frozen in as initializers, plus signatures.json. The server loads that as any
 * other version; `flowserve convert` writes the same files to disk.
 *
 * Signatures whose graph needs an op flowserve cannot import (ParseExample behind a classify signature, say) are
 * left out with the reason, and the others still serve; when none is left the conversion fails listing the ops.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgument, Unimplemented } from '../errors.js';
import { discoverDevices } from '../devices/device.js';
import type { Tensor } from '../graph/graph.js';
import { lowerPartition } from '../runtime/lower.js';
import { prune } from '../runtime/prune.js';
import {
  DEFAULT_SIGNATURE,
  METHOD_CLASSIFY,
  METHOD_PREDICT,
  METHOD_REGRESS,
  type Signature,
  type SignatureFile,
  type TensorSpec,
} from '../serving/core/types.js';
import {
  canonicalTensorName,
  importGraphDef,
  neededNodes,
  unsupportedOps,
  unsupportedOpsError,
  type FeedSpec,
} from './graph-def.js';
import type { ImportedModel, ImportedSignature, ImportedTensorInfo } from './imported-model.js';
import { inlineFunctionCalls } from './functions.js';

const SERVABLE_METHODS = new Set([METHOD_PREDICT, METHOD_CLASSIFY, METHOD_REGRESS]);

export interface ConvertedModel {
  model: Uint8Array;
  signatureFile: SignatureFile;
  /** Signatures of the model that were left out, with why. */
  skipped: Record<string, string>;
}

export interface ConvertOptions {
  /** Only these signature keys (default: every one that can be served). */
  signatures?: readonly string[];
}

/** Which signatures can be served, and which cannot (with why). */
export function servableSignatures(
  model: ImportedModel,
  options: ConvertOptions = {},
): { usable: [string, ImportedSignature][]; skipped: Record<string, string> } {
  const nodes = inlineFunctionCalls(model.nodes, model.functions, model.source);
  const skipped: Record<string, string> = { ...model.skippedSignatures };
  const usable: [string, ImportedSignature][] = [];
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
    const fed = new Set(Object.values(sig.inputs).map((i) => parseNode(i.name)));
    const missing = unsupportedOps(
      neededNodes(
        nodes,
        Object.values(sig.outputs).map((o) => o.name),
        fed,
        model.source,
      ).filter((n) => !fed.has(n.name as string)),
    );
    if (missing.size > 0) skipped[key] = unsupportedOpsError(missing, undefined).message;
    else usable.push([key, sig]);
  }
  return { usable, skipped };
}

function parseNode(tensorName: string): string {
  return canonicalTensorName(tensorName).replace(/:\d+$/, '');
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
  const { usable, skipped } = servableSignatures(model, options);
  if (usable.length === 0) {
    const reasons = Object.entries(skipped).map(([k, why]) => `'${k}': ${why}`);
    throw new Unimplemented(
      `${model.source}: no signature can be served${reasons.length ? ` (${reasons.join('; ')})` : ' (the model has none)'}`,
    );
  }
  const feeds = new Map<string, FeedSpec>();
  const fetches = new Set<string>();
  for (const [key, sig] of usable) {
    for (const [alias, info] of Object.entries(sig.inputs)) {
      feeds.set(canonicalTensorName(info.name), { dtype: info.dtype, shape: feedShape(model, key, alias, info) });
    }
    for (const info of Object.values(sig.outputs)) fetches.add(canonicalTensorName(info.name));
  }
  const nodes = inlineFunctionCalls(model.nodes, model.functions, model.source);
  const imported = importGraphDef(nodes, {
    feeds,
    fetches: [...fetches],
    variables: await model.readVariables(),
    source: model.source,
  });
  const inputs = new Set([...feeds.keys()].map((n) => imported.tensor(n)));
  const outputs = new Map<Tensor, string>();
  for (const name of fetches) {
    const t = imported.tensor(name);
    // A tensor fetched under two names keeps the first; signatures then point at it (see specOf).
    if (!outputs.has(t)) outputs.set(t, name);
  }
  const tfNameOf = new Map<Tensor, string>([
    ...[...feeds.keys()].map((n) => [imported.tensor(n), n] as const),
    ...outputs,
  ]);
  const values = new Map(imported.variables.map((v) => [v.op, v.value]));
  const cpu = discoverDevices({}).find((d) => d.type === 'CPU');
  if (!cpu) throw new InvalidArgument('no CPU device to lower the imported graph on');
  const ops = prune([...outputs.keys()], [], inputs);
  const signatureFile: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: usable.some(([k]) => k === DEFAULT_SIGNATURE) ? DEFAULT_SIGNATURE : (usable[0] as [string, unknown])[0],
    signatures: Object.fromEntries(
      usable.map(([key, sig]) => [key, signatureOf(sig, (name) => tfNameOf.get(imported.tensor(name)) as string)]),
    ),
  };
  const lowered = lowerPartition({ device: cpu, stage: 0, ops }, inputs, (t) => outputs.has(t), {
    feedName: (t) => tfNameOf.get(t) as string,
    outputName: (t) => tfNameOf.get(t) as string,
    freezeVariable: (op, name, b) =>
      b.namedConstant(name, values.get(op) as NonNullable<ReturnType<typeof values.get>>),
    declareShapes: false,
    metadata: { 'flowserve.signatures': JSON.stringify(signatureFile), 'flowserve.imported_from': model.format },
  });
  return { model: lowered.model, signatureFile, skipped };
}

/** A placeholder needs a rank; a signature of unknown rank takes the graph's own placeholder shape. */
function feedShape(model: ImportedModel, key: string, alias: string, info: ImportedTensorInfo): (number | null)[] {
  if (info.shape) return info.shape;
  throw new InvalidArgument(
    `${model.source}: signature '${key}' input '${alias}' (${info.name}) has unknown rank, which flowserve cannot import`,
  );
}

function signatureOf(sig: ImportedSignature, onnxName: (tfName: string) => string): Signature {
  const spec = (info: ImportedTensorInfo): TensorSpec => ({
    name: onnxName(info.name),
    dtype: info.dtype,
    shape: (info.shape ?? []).map((d) => d ?? -1),
  });
  const map = (m: Record<string, ImportedTensorInfo>) =>
    Object.fromEntries(Object.entries(m).map(([alias, info]) => [alias, spec(info)]));
  return { method: sig.method, inputs: map(sig.inputs), outputs: map(sig.outputs), enforceShapes: false };
}

/** Writes the converted model as a flowserve version directory (model.onnx + signatures.json). */
export async function writeConvertedModel(converted: ConvertedModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), converted.model);
  await writeFile(join(dir, 'signatures.json'), JSON.stringify(converted.signatureFile, null, 2) + '\n');
}
