import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExists, FailedPrecondition, InvalidArgument } from '../errors.js';
import type { Device } from '../devices/device.js';
import type { Operation, Tensor } from '../graph/graph.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { lowerPartition } from '../runtime/lower.js';
import { prune } from '../runtime/prune.js';
import type { Session } from '../runtime/session.js';
import type { Signature, SignatureFile, TensorSpec } from '../serving/core/types.js';
import type { GraphSignature } from './signatures.js';

export interface ExportOptions {
  /** The directory holding all versions (`/tmp/mnist_model`). */
  exportBase: string;
  /** The version number; written 8-digit zero padded (`00000001`) unless `padVersion` is false. */
  version: number;
  /** Signatures by key; `serving_default` (or `defaultSignature`) is used when a request names none. */
  signatures: Record<string, GraphSignature>;
  defaultSignature?: string;
  padVersion?: boolean;
  /** Replace an existing version directory instead of refusing. */
  overwrite?: boolean;
}

export interface ExportResult {
  versionDir: string;
  modelPath: string;
  shards: string[];
  signatureFile: SignatureFile;
}

/** Weights are aligned so ONNX Runtime can map them (ONNX external-data recommendation). */
const ALIGNMENT = 4096;

/** `<exportBase>/<version>`, the version zero-padded to 8 digits unless padVersion is false. */
export function exportVersionDir(exportBase: string, version: number, padVersion = true): string {
  return path.join(exportBase, padVersion ? String(version).padStart(8, '0') : String(version));
}

/** The directory exportModel would write for this version when it exists already, else undefined. */
export async function exportVersionExists(
  exportBase: string,
  version: number,
  padVersion = true,
): Promise<string | undefined> {
  const versionDir = exportVersionDir(exportBase, version, padVersion);
  return (await pathExists(versionDir)) ? versionDir : undefined;
}

function pathExists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Exports the inference graph of a trained session as a versioned servable (docs/servable-format.md): an ONNX
 * model pruned to the signature outputs, variables frozen into sharded external weight files (one shard per
 * device the variables lived on), and the signatures. Written to a temporary directory in the export base and
 * renamed into place, so a server polling the base never sees half a version.
 */
export async function exportModel(session: Session, options: ExportOptions): Promise<ExportResult> {
  const { exportBase, version, signatures } = options;
  if (!Number.isInteger(version) || version < 0)
    throw new InvalidArgument(`export version must be a non-negative integer, got ${version}`);
  const keys = Object.keys(signatures);
  if (keys.length === 0) throw new InvalidArgument('exportModel needs at least one signature');
  const defaultKey = options.defaultSignature ?? (signatures.serving_default ? 'serving_default' : (keys[0] as string));
  if (!signatures[defaultKey])
    throw new InvalidArgument(`default signature '${defaultKey}' is not among the signatures [${keys.join(', ')}]`);

  const versionDir = exportVersionDir(exportBase, version, options.padVersion);
  const exists = await pathExists(versionDir);
  if (exists && !options.overwrite) {
    throw new AlreadyExists(`export version directory ${versionDir} already exists; pass overwrite to replace it`);
  }

  const inputs = new Set<Tensor>();
  const outputs = new Set<Tensor>();
  for (const sig of Object.values(signatures)) {
    Object.values(sig.inputs).forEach((t) => inputs.add(t));
    Object.values(sig.outputs).forEach((t) => outputs.add(t));
  }
  for (const t of [...inputs, ...outputs]) {
    if (t.graph !== session.graph)
      throw new InvalidArgument(`signature tensor '${t.name}' is not in the session's graph`);
  }
  const ops = prune([...outputs], [], inputs);
  for (const op of ops) {
    if (op.def.variableUpdate)
      throw new InvalidArgument(`the inference graph must not update variables, but it runs '${op.name}' (${op.type})`);
    if (op.type === 'Placeholder') {
      throw new InvalidArgument(`signature outputs depend on placeholder '${op.name}', which is not a signature input`);
    }
  }

  const placement = session.placement();
  const variables = ops.filter((op) => op.def.variableSource);
  const layout = shardLayout(variables, placement, await readVariables(session, variables));

  const onnxName = (t: Tensor) => (t.index === 0 ? t.op.name : t.name.replace(':', '_'));
  const cpu = session.devices.find((d) => d.type === 'CPU') as Device;
  const signatureFile: SignatureFile = {
    format: 'flowserve.signatures/1',
    default: defaultKey,
    signatures: Object.fromEntries(Object.entries(signatures).map(([k, s]) => [k, toSignature(s, onnxName)])),
  };
  const lowered = lowerPartition({ device: cpu, stage: 0, ops }, inputs, (t) => outputs.has(t), {
    feedName: onnxName,
    outputName: onnxName,
    freezeVariable: (op, name, b) => {
      const where = layout.placement.get(op) as { location: string; offset: number; length: number };
      b.externalInitializer(name, op.output.dtype, op.output.shape as number[], where);
    },
    metadata: { 'flowserve.signatures': JSON.stringify(signatureFile), 'flowserve.version': String(version) },
  });

  await mkdir(exportBase, { recursive: true });
  const tmpDir = path.join(exportBase, `.tmp-${path.basename(versionDir)}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(path.join(tmpDir, 'variables'), { recursive: true });
    for (const shard of layout.shards) await writeFile(path.join(tmpDir, shard.file), shard.bytes);
    await writeFile(path.join(tmpDir, 'model.onnx'), lowered.model);
    await writeFile(path.join(tmpDir, 'signatures.json'), JSON.stringify(signatureFile, null, 2) + '\n');
    if (exists) await rm(versionDir, { recursive: true, force: true });
    await rename(tmpDir, versionDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
  return {
    versionDir,
    modelPath: path.join(versionDir, 'model.onnx'),
    shards: layout.shards.map((s) => path.join(versionDir, s.file)),
    signatureFile,
  };
}

function toSignature(sig: GraphSignature, onnxName: (t: Tensor) => string): Signature {
  const spec = (t: Tensor): TensorSpec => ({ name: onnxName(t), dtype: t.dtype, shape: t.shape.map((d) => d ?? -1) });
  const map = (m: Record<string, Tensor>) => Object.fromEntries(Object.entries(m).map(([k, t]) => [k, spec(t)]));
  return {
    method: sig.method,
    inputs: map(sig.inputs),
    outputs: map(sig.outputs),
    ...(sig.classLabels ? { classLabels: sig.classLabels } : {}),
    ...(sig.exampleFeatures ? { exampleFeatures: sig.exampleFeatures } : {}),
  };
}

/** Every variable's current value, on the host; an uninitialized one is an error naming it. */
async function readVariables(session: Session, variables: readonly Operation[]): Promise<Map<Operation, HostTensor>> {
  for (const v of variables) {
    if (!session.isInitialized(v))
      throw new FailedPrecondition(`Attempting to export uninitialized variable ${v.name}`);
  }
  return new Map(await Promise.all(variables.map(async (v) => [v, await session.readVariable(v)] as const)));
}

/** One shard per device holding variables; each variable at a 4096-aligned offset. */
function shardLayout(
  variables: readonly Operation[],
  placement: Map<Operation, Device>,
  valueOf: ReadonlyMap<Operation, HostTensor>,
) {
  const devices = [...new Set(variables.map((v) => (placement.get(v) as Device).name))].sort();
  const n = Math.max(devices.length, 1);
  const placementOf = new Map<Operation, { location: string; offset: number; length: number }>();
  const shards = devices.map((deviceName, k) => {
    const file = `variables/variables.data-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}`;
    const members = variables.filter((v) => (placement.get(v) as Device).name === deviceName);
    const values: [Operation, HostTensor][] = members.map((v) => [v, valueOf.get(v) as HostTensor]);
    let size = 0;
    for (const [v, value] of values) {
      if (value.dtype === 'string')
        throw new InvalidArgument(`variable '${v.name}': string variables cannot be exported`);
      placementOf.set(v, { location: file, offset: size, length: value.byteLength() });
      size = Math.ceil((size + value.byteLength()) / ALIGNMENT) * ALIGNMENT;
    }
    const bytes = new Uint8Array(size);
    for (const [v, value] of values) {
      const data = value.data as ArrayBufferView;
      bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), placementOf.get(v)?.offset ?? 0);
    }
    return { file, bytes };
  });
  return { shards, placement: placementOf };
}
