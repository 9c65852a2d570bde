/**
 * TensorFlow's V1 checkpoint (SavedTensorSlices tables), the variables of the legacy SessionBundle:
 * `export-00000-of-00001`, or `export` when saved unsharded (spec/tensorflow-model-formats.md §6;
 * tensorflow/core/util/tensor_slice_reader.cc, saved_tensor_slice.proto).
 *
 * Each shard is an SSTable. Key "" holds SavedTensorSlices.meta: every tensor's name, shape, dtype and the
 * slices this shard stores. Every other key (an ordered-code encoding of name and slice) holds one
 * SavedTensorSlices.data: name, slice, and the values as a TensorProto. Rules:
 * 1. A pattern (`?`, `*`) reads every file in its directory that matches; no match is NotFound naming it.
 * 2. A tensor is assembled from all its slices across shards (partitioned variables included); the slices
 *    must lie inside the shape and cover every element exactly once.
 * 3. Dtypes flowserve cannot hold are an InvalidArgument naming the tensor; corruption is DataLoss naming the file.
 * Blocks are CRC-checked by the table reader; V1 checkpoints carry no per-tensor checksum.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DataLoss, NotFound } from '../errors.js';
import { allocate, type DType, type TensorData } from '../graph/dtype.js';
import { HostTensor, shapeSize } from '../graph/host-tensor.js';
import { checkpointDtype } from './checkpoint-dtype.js';
import { decodeSavedTensorSlices, MalformedProto, type SavedSliceMeta, type SliceExtent } from './checkpoint-protos.js';
import { readTable } from './sstable.js';
import { tensorProtoValues } from './tensor-proto-values.js';

interface PendingTensor {
  meta: SavedSliceMeta;
  dtype: DType;
  data: TensorData;
  filled: number;
  /** For partitioned tensors: which elements a slice has written, so overlapping slices are caught. */
  covered?: Uint8Array;
  /** The file that declared it, for messages. */
  file: string;
}

/** Every tensor of the V1 checkpoint at `pathOrPattern` (one file, or a pattern such as `export-?????-of-?????`). */
export async function readV1Checkpoint(pathOrPattern: string): Promise<Map<string, HostTensor>> {
  const files = await checkpointFiles(pathOrPattern);
  const tensors = new Map<string, PendingTensor>();
  for (const file of files) await readShard(file, tensors);
  const out = new Map<string, HostTensor>();
  for (const [name, pending] of [...tensors].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const shape = pending.meta.shape.dims;
    if (pending.filled !== shapeSize(shape)) {
      throw new DataLoss(
        `${files.join(', ')}: tensor '${name}' [${shape.join(', ')}] has ${pending.filled} of its ` +
          `${shapeSize(shape)} elements in the checkpoint's slices`,
      );
    }
    out.set(name, new HostTensor(pending.dtype, shape, pending.data));
  }
  return out;
}

async function checkpointFiles(pathOrPattern: string): Promise<string[]> {
  const name = basename(pathOrPattern);
  if (!/[?*]/.test(name)) return [pathOrPattern];
  const dir = dirname(pathOrPattern);
  const matcher = new RegExp(
    '^' +
      name
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\?/g, '.')
        .replace(/\*/g, '.*') +
      '$',
  );
  let listing: string[];
  try {
    listing = await readdir(dir);
  } catch (err) {
    throw new NotFound(`V1 checkpoint ${pathOrPattern}: cannot list ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const matches = listing.filter((f) => matcher.test(f)).sort();
  if (matches.length === 0) throw new NotFound(`V1 checkpoint ${pathOrPattern}: no file matches`);
  return matches.map((f) => join(dir, f));
}

async function readShard(file: string, tensors: Map<string, PendingTensor>): Promise<void> {
  let sawMeta = false;
  for await (const { key, value } of readTable(file)) {
    const decoded = (() => {
      try {
        return decodeSavedTensorSlices(value);
      } catch (err) {
        if (err instanceof MalformedProto) throw new DataLoss(`${file}: malformed SavedTensorSlices: ${err.message}`);
        throw err;
      }
    })();
    if (key.length === 0) {
      if (!decoded.meta) throw new DataLoss(`${file}: the first entry holds no SavedTensorSliceMeta`);
      for (const meta of decoded.meta.tensors) declare(file, meta, tensors);
      sawMeta = true;
      continue;
    }
    if (!sawMeta) throw new DataLoss(`${file}: slice data before the SavedTensorSliceMeta entry`);
    const slice = decoded.data;
    if (!slice) throw new DataLoss(`${file}: entry ${JSON.stringify(key.toString('latin1'))} holds no SavedSlice`);
    const pending = tensors.get(slice.name);
    if (!pending) throw new DataLoss(`${file}: slice of tensor '${slice.name}', which no meta entry declares`);
    fillSlice(file, pending, slice.slice, slice.tensorProto ?? new Uint8Array(0));
  }
  if (!sawMeta) throw new DataLoss(`${file}: empty V1 checkpoint: no SavedTensorSliceMeta`);
}

function declare(file: string, meta: SavedSliceMeta, tensors: Map<string, PendingTensor>): void {
  const known = tensors.get(meta.name);
  const { dims, unknownRank } = meta.shape;
  if (known) {
    if (known.meta.dtype !== meta.dtype || known.meta.shape.dims.join(',') !== dims.join(',')) {
      throw new DataLoss(`${file}: tensor '${meta.name}' is declared with another shape or dtype in ${known.file}`);
    }
    return;
  }
  const dtype = checkpointDtype(meta.dtype, meta.name, file);
  if (unknownRank || dims.some((d) => d < 0) || !Number.isSafeInteger(shapeSize(dims))) {
    throw new DataLoss(`${file}: tensor '${meta.name}' has shape [${dims.join(', ')}], not a stored tensor's`);
  }
  tensors.set(meta.name, { meta, dtype, data: allocate(dtype, shapeSize(dims)), filled: 0, file });
}

/** Copies one slice's values into the tensor at its place (row-major; `length` -1 is the whole dimension). */
function fillSlice(file: string, pending: PendingTensor, extents: SliceExtent[], tensorProto: Uint8Array): void {
  const { name } = pending.meta;
  const shape = pending.meta.shape.dims;
  if (extents.length !== 0 && extents.length !== shape.length) {
    throw new DataLoss(`${file}: slice of '${name}' has ${extents.length} dimensions, the tensor ${shape.length}`);
  }
  const starts = shape.map((_, d) => extents[d]?.start ?? 0);
  const lengths = shape.map((size, d) => {
    const extent = extents[d];
    return extent === undefined || extent.length === -1 ? size : extent.length;
  });
  shape.forEach((size, d) => {
    const start = starts[d] as number;
    const length = lengths[d] as number;
    if (start < 0 || length < 0 || start + length > size) {
      throw new DataLoss(`${file}: slice of '${name}' [${start}, +${length}) lies outside dimension ${d} of ${size}`);
    }
  });
  const count = shapeSize(lengths);
  let values: TensorData;
  try {
    values = tensorProtoValues(tensorProto, pending.dtype, count, `values of tensor '${name}'`);
  } catch (err) {
    if (err instanceof MalformedProto) throw new DataLoss(`${file}: ${err.message}`);
    throw err;
  }
  if (count === shapeSize(shape)) {
    pending.data = values;
  } else {
    pending.covered ??= new Uint8Array(shapeSize(shape));
    if (!copyBox(values, pending.data, pending.covered, shape, starts, lengths)) {
      throw new DataLoss(`${file}: slices of tensor '${name}' overlap`);
    }
  }
  pending.filled += count;
  if (pending.filled > shapeSize(shape)) {
    throw new DataLoss(`${file}: slices of tensor '${name}' overlap: more than its ${shapeSize(shape)} elements`);
  }
}

/** Copies a dense box of `lengths` at `starts` into the row-major tensor of `shape`; false if it overlaps. */
function copyBox(
  source: TensorData,
  target: TensorData,
  covered: Uint8Array,
  shape: readonly number[],
  starts: readonly number[],
  lengths: readonly number[],
): boolean {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = (strides[d + 1] as number) * (shape[d + 1] as number);
  const index = new Array<number>(rank).fill(0);
  const src = source as unknown as ArrayLike<unknown>;
  const dst = target as unknown as unknown[];
  for (let i = 0; i < src.length; i++) {
    let at = 0;
    for (let d = 0; d < rank; d++) at += ((starts[d] as number) + (index[d] as number)) * (strides[d] as number);
    if (covered[at]) return false;
    covered[at] = 1;
    dst[at] = src[i];
    for (let d = rank - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (lengths[d] as number)) break;
      index[d] = 0;
    }
  }
  return true;
}
