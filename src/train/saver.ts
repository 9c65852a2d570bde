/**
 * Checkpoints (tf.train.Saver with sharded=True): one data shard per device holding variables, a JSON index with
 * each variable's dtype, shape, shard, offset, length and CRC-32, and TensorFlow's text `checkpoint` file naming
 * the latest. Format: docs/checkpoint-format.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { DataLoss, FailedPrecondition, InvalidArgument, NotFound } from '../errors.js';
import { DTYPES, dtypeInfo, type DType, type TypedArray } from '../graph/dtype.js';
import type { Graph } from '../graph/graph.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { globalVariables, type Variable } from '../ops/variables.js';
import type { Session } from '../runtime/session.js';

export const CHECKPOINT_FORMAT = 'flowserve.checkpoint/1';
/** Each tensor starts at a multiple of this many bytes in its shard (so it can be viewed as a typed array). */
const ALIGNMENT = 64;

export interface IndexEntry {
  dtype: DType;
  shape: number[];
  /** Index into `shards`. */
  shard: number;
  /** Byte offset in the shard. */
  offset: number;
  /** Byte length (elements × bytes per element, little-endian). */
  length: number;
  /** CRC-32 (IEEE, zlib's) of the tensor's bytes, as an unsigned integer. */
  crc32: number;
}

export interface CheckpointIndex {
  format: typeof CHECKPOINT_FORMAT;
  globalStep: number | null;
  /** Shard file names (relative to the index file's folder) and the device each holds. */
  shards: { file: string; device: string; bytes: number }[];
  /** Entries by variable name, sorted by name. */
  variables: Record<string, IndexEntry>;
}

export interface SaverOptions {
  /** Variables to save/restore; default every global variable of the session's graph at save/restore time. */
  varList?: readonly Variable[];
  /** One data file per device (TF's sharded=True). Default true; false writes a single shard. */
  sharded?: boolean;
  /** Checkpoints to keep; older ones are deleted (default 5; 0 or less keeps all). */
  maxToKeep?: number;
}

export interface SaveOptions {
  /** Appended to the prefix as `-STEP`: a number, or a variable read from the session. */
  globalStep?: number | Variable;
  /** Also rewrite the `checkpoint` file (default true). */
  writeStateFile?: boolean;
}

export function indexPath(prefix: string): string {
  return `${prefix}.index`;
}

export function shardFileName(prefixBase: string, k: number, n: number): string {
  return `${prefixBase}.data-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}`;
}

function bytesOf(value: HostTensor): Uint8Array {
  const data = value.data as TypedArray;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes `bytes` to `file` through a temporary file and a rename, so readers never see half a file. */
async function writeAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export class Saver {
  private readonly varList: readonly Variable[] | undefined;
  private readonly sharded: boolean;
  private readonly maxToKeep: number;
  /** Prefixes written by this saver, oldest first (TF keeps this list in memory too). */
  private readonly lastCheckpoints: string[] = [];

  constructor(options: SaverOptions = {}) {
    this.varList = options.varList;
    this.sharded = options.sharded ?? true;
    this.maxToKeep = options.maxToKeep ?? 5;
    if (this.varList) uniqueByName(this.varList);
  }

  /** The checkpoints this saver wrote and still keeps, oldest first. */
  get checkpoints(): readonly string[] {
    return [...this.lastCheckpoints];
  }

  /**
   * Saves the variables' current values under `prefix` (`dir/model.ckpt`), as `prefix-STEP.index` plus one
   * `prefix-STEP.data-0000K-of-0000N` per device. Returns the checkpoint prefix written (`dir/model.ckpt-STEP`).
   */
  async save(session: Session, prefix: string, options: SaveOptions = {}): Promise<string> {
    const variables = this.variables(session.graph);
    const step = options.globalStep === undefined ? null : await readStep(session, options.globalStep);
    const ckpt = step === null ? prefix : `${prefix}-${step}`;
    const dir = path.dirname(ckpt);
    const base = path.basename(ckpt);
    await mkdir(dir, { recursive: true });

    const placement = session.placement();
    for (const v of variables) {
      if (!session.isInitialized(v))
        throw new FailedPrecondition(`Attempting to save uninitialized variable ${v.name}`);
    }
    // Read first (a variable in GPU memory is copied back asynchronously), then lay the shards out.
    const valueOf = new Map(await Promise.all(variables.map(async (v) => [v, await session.readVariable(v)] as const)));
    const deviceOf = (v: Variable) => (this.sharded ? (placement.get(v.op)?.name ?? '') : 'all');
    const devices = [...new Set(variables.map(deviceOf))].sort();
    if (devices.length === 0) devices.push(placement.values().next().value?.name ?? 'all');
    const index: CheckpointIndex = { format: CHECKPOINT_FORMAT, globalStep: step, shards: [], variables: {} };
    const shardFiles: { file: string; bytes: Uint8Array }[] = [];
    devices.forEach((device, k) => {
      const file = shardFileName(base, k, devices.length);
      const members = variables.filter((v) => deviceOf(v) === device).sort((a, b) => compare(a.name, b.name));
      const values = members.map((v) => {
        const value = valueOf.get(v) as HostTensor;
        if (value.dtype === 'string')
          throw new InvalidArgument(`variable '${v.name}': string variables cannot be checkpointed`);
        return [v, value] as const;
      });
      let size = 0;
      for (const [v, value] of values) {
        const bytes = bytesOf(value);
        index.variables[v.name] = {
          dtype: value.dtype,
          shape: [...value.shape],
          shard: k,
          offset: size,
          length: bytes.byteLength,
          crc32: crc32(bytes),
        };
        size = Math.ceil((size + bytes.byteLength) / ALIGNMENT) * ALIGNMENT;
      }
      const bytes = new Uint8Array(size);
      for (const [v, value] of values) bytes.set(bytesOf(value), index.variables[v.name]?.offset ?? 0);
      shardFiles.push({ file, bytes });
      index.shards.push({ file, device, bytes: size });
    });
    index.variables = Object.fromEntries(Object.entries(index.variables).sort(([a], [b]) => compare(a, b)));

    // Data first, index last: a checkpoint exists only once its index does.
    for (const shard of shardFiles) await writeAtomic(path.join(dir, shard.file), shard.bytes);
    await writeAtomic(indexPath(ckpt), JSON.stringify(index, null, 1) + '\n');

    const at = this.lastCheckpoints.indexOf(ckpt);
    if (at >= 0) this.lastCheckpoints.splice(at, 1);
    this.lastCheckpoints.push(ckpt);
    while (this.maxToKeep > 0 && this.lastCheckpoints.length > this.maxToKeep) {
      await deleteCheckpoint(this.lastCheckpoints.shift() as string);
    }
    if (options.writeStateFile ?? true) await writeCheckpointState(dir, ckpt, this.lastCheckpoints);
    return ckpt;
  }

  /**
   * Restores every variable of the list from the checkpoint `ckpt` (a prefix such as `dir/model.ckpt-100`) into
   * `session`. Errors name the variable and the file: a missing variable, a dtype or shape mismatch, a truncated
   * shard, a checksum mismatch.
   */
  async restore(session: Session, ckpt: string): Promise<void> {
    const variables = this.variables(session.graph);
    const index = await readIndex(ckpt);
    const dir = path.dirname(ckpt);
    const indexFile = indexPath(ckpt);
    const shardData = new Map<number, Buffer>();
    const loadShard = async (k: number): Promise<Buffer> => {
      let data = shardData.get(k);
      if (!data) {
        const shard = index.shards[k];
        if (!shard) throw new DataLoss(`${indexFile}: shard ${k} is not listed in the index`);
        const file = path.join(dir, shard.file);
        data = await readFile(file).catch((err: unknown) => {
          throw new NotFound(`checkpoint shard ${file} cannot be read: ${(err as Error).message}`, { cause: err });
        });
        shardData.set(k, data);
      }
      return data;
    };
    const restored: [Variable, HostTensor][] = [];
    for (const v of variables) {
      const entry = index.variables[v.name];
      if (!entry) throw new NotFound(`Key ${v.name} not found in checkpoint ${indexFile}`);
      const wantShape = v.shape.map((d) => d ?? -1);
      if (entry.dtype !== v.dtype) {
        throw new InvalidArgument(
          `variable '${v.name}': checkpoint ${indexFile} holds ${entry.dtype} but the variable is ${v.dtype}`,
        );
      }
      if (entry.shape.length !== wantShape.length || entry.shape.some((d, i) => d !== wantShape[i])) {
        throw new InvalidArgument(
          `variable '${v.name}': checkpoint ${indexFile} holds shape [${entry.shape.join(', ')}] but the variable has shape [${wantShape.join(', ')}]`,
        );
      }
      const file = path.join(dir, index.shards[entry.shard]?.file ?? `<shard ${entry.shard}>`);
      const data = await loadShard(entry.shard);
      if (data.byteLength < entry.offset + entry.length) {
        throw new DataLoss(
          `variable '${v.name}': checkpoint shard ${file} is truncated (${data.byteLength} bytes, the variable needs bytes ${entry.offset}…${entry.offset + entry.length})`,
        );
      }
      const bytes = data.subarray(entry.offset, entry.offset + entry.length);
      const sum = crc32(bytes);
      if (sum !== entry.crc32) {
        throw new DataLoss(
          `variable '${v.name}': checksum mismatch in checkpoint shard ${file} (crc32 ${sum} but the index ${indexFile} says ${entry.crc32})`,
        );
      }
      restored.push([v, tensorFromBytes(entry, bytes)]);
    }
    // Validate everything before writing anything, so a failed restore leaves the session as it was.
    for (const [v, value] of restored) session.writeVariable(v, value);
  }

  private variables(graph: Graph): Variable[] {
    return uniqueByName(this.varList ?? globalVariables(graph));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function uniqueByName(list: readonly Variable[]): Variable[] {
  const seen = new Set<string>();
  for (const v of list) {
    if (seen.has(v.name)) throw new InvalidArgument(`Saver: variable name '${v.name}' appears twice in varList`);
    seen.add(v.name);
  }
  return [...list];
}

async function readStep(session: Session, step: number | Variable): Promise<number> {
  if (typeof step === 'number') {
    if (!Number.isSafeInteger(step) || step < 0)
      throw new InvalidArgument(`globalStep must be a non-negative integer, got ${step}`);
    return step;
  }
  return Number((await session.readVariable(step)).get(0));
}

function tensorFromBytes(entry: IndexEntry, bytes: Uint8Array): HostTensor {
  // Copy into a fresh, aligned buffer: the tensor must not keep the whole shard alive.
  const copy = new Uint8Array(bytes).buffer;
  const n = shapeSize(entry.shape);
  const data: TypedArray =
    entry.dtype === 'float32'
      ? new Float32Array(copy, 0, n)
      : entry.dtype === 'float64'
        ? new Float64Array(copy, 0, n)
        : entry.dtype === 'int32'
          ? new Int32Array(copy, 0, n)
          : entry.dtype === 'int64'
            ? new BigInt64Array(copy, 0, n)
            : new Uint8Array(copy, 0, n);
  return new HostTensor(entry.dtype, entry.shape, data);
}

/** Reads and validates a checkpoint's index file. */
export async function readIndex(ckpt: string): Promise<CheckpointIndex> {
  const file = indexPath(ckpt);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new NotFound(`checkpoint index ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DataLoss(`checkpoint index ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const index = parsed as Partial<CheckpointIndex>;
  if (index.format !== CHECKPOINT_FORMAT || !Array.isArray(index.shards) || typeof index.variables !== 'object') {
    throw new DataLoss(`checkpoint index ${file} is not a ${CHECKPOINT_FORMAT} index`);
  }
  for (const [name, e] of Object.entries(index.variables ?? {})) {
    const ok =
      DTYPES.includes(e.dtype) &&
      e.dtype !== 'string' &&
      Array.isArray(e.shape) &&
      [e.shard, e.offset, e.length, e.crc32].every((x) => Number.isSafeInteger(x) && x >= 0) &&
      e.length === shapeSize(e.shape) * dtypeInfo(e.dtype).bytesPerElement;
    if (!ok) throw new DataLoss(`checkpoint index ${file}: entry for variable '${name}' is malformed`);
  }
  return index as CheckpointIndex;
}

async function deleteCheckpoint(ckpt: string): Promise<void> {
  const index = await readIndex(ckpt).catch(() => null);
  const dir = path.dirname(ckpt);
  for (const shard of index?.shards ?? []) await rm(path.join(dir, shard.file), { force: true });
  await rm(indexPath(ckpt), { force: true });
}

/** TF's CheckpointState text proto; paths relative to `dir` when inside it. */
async function writeCheckpointState(dir: string, latest: string, all: readonly string[]): Promise<void> {
  const rel = (p: string) => (path.dirname(p) === dir ? path.basename(p) : p);
  const lines = [
    `model_checkpoint_path: ${JSON.stringify(rel(latest))}`,
    ...all.map((p) => `all_model_checkpoint_paths: ${JSON.stringify(rel(p))}`),
  ];
  await writeAtomic(path.join(dir, 'checkpoint'), lines.join('\n') + '\n');
}

/** Reads `dir/checkpoint`: the latest checkpoint prefix and all listed ones (absolute or relative to `dir`). */
export async function getCheckpointState(
  dir: string,
): Promise<{ modelCheckpointPath: string; allModelCheckpointPaths: string[] } | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, 'checkpoint'), 'utf8');
  } catch {
    return null;
  }
  let latest: string | undefined;
  const all: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*("(?:[^"\\]|\\.)*")\s*$/.exec(line);
    if (!m) continue;
    const value = path.resolve(dir, JSON.parse(m[2] as string) as string);
    if (m[1] === 'model_checkpoint_path') latest = value;
    else all.push(value);
  }
  return latest ? { modelCheckpointPath: latest, allModelCheckpointPaths: all } : null;
}

/** The latest checkpoint prefix in `dir` (tf.train.latest_checkpoint), or null when none is complete there. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  const state = await getCheckpointState(dir);
  if (!state) return null;
  const exists = await stat(indexPath(state.modelCheckpointPath)).then(
    () => true,
    () => false,
  );
  return exists ? state.modelCheckpointPath : null;
}

/** Reads one tensor from a checkpoint by variable name (for tools and tests), verifying its checksum. */
export async function loadCheckpointTensor(ckpt: string, name: string): Promise<HostTensor> {
  const index = await readIndex(ckpt);
  const entry = index.variables[name];
  if (!entry) throw new NotFound(`Key ${name} not found in checkpoint ${indexPath(ckpt)}`);
  const file = path.join(path.dirname(ckpt), index.shards[entry.shard]?.file ?? '');
  const handle = await open(file, 'r');
  try {
    const bytes = new Uint8Array(entry.length);
    const { bytesRead } = await handle.read(bytes, 0, entry.length, entry.offset);
    if (bytesRead !== entry.length) throw new DataLoss(`variable '${name}': checkpoint shard ${file} is truncated`);
    if (crc32(bytes) !== entry.crc32) throw new DataLoss(`variable '${name}': checksum mismatch in ${file}`);
    return tensorFromBytes(entry, bytes);
  } finally {
    await handle.close();
  }
}
