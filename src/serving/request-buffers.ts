/**
 * Storage for a request's decoded tensors. A typed array of its own costs V8 an ArrayBuffer with an off-heap backing
 * store each time (about 3 µs for an MNIST image's 784 floats on this project's machine, against 0.4 µs carved from a
 * shared slab: docs/performance.md, "Round 20"). Small tensors are therefore views carved one after another from
 * shared 64 KiB slabs, as Node.js carves small Buffers from its pool; larger ones get their own buffer.
 *
 * What a view must never be given to:
 * - postMessage, as a view: structured cloning copies a view's whole buffer, the slab. The worker pool copies a view
 *   that does not span its buffer into a buffer of its own first (worker-pool.ts, toWire).
 * - a transfer list: transferring the slab would detach every other request's view. transferablesOf (protocol.ts)
 *   takes only views that span their buffer.
 * A slab lives as long as any view into it. Decoded request tensors live until their reply is encoded, so slabs are
 * freed in the order they were filled; one tensor kept longer keeps at most one slab alive.
 */
import { setImmediate } from 'node:timers/promises';
import { allocate, dtypeInfo, typedArrayView, type DType, type TensorData } from '../graph/dtype.js';
import { HostTensor } from '../graph/host-tensor.js';

const SLAB_BYTES = 64 * 1024;
/** Larger tensors get a buffer of their own: at most an eighth of a slab is left unused at a slab's end. */
export const SLAB_TENSOR_MAX_BYTES = SLAB_BYTES / 8;
/** Every view starts at a multiple of 8 bytes, the largest element (float64, int64). */
const ALIGN = 8;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** Zero-filled storage for `size` elements of `dtype` (as `allocate`), from a shared slab when it is small. */
export function allocateForRequest(dtype: DType, size: number): TensorData {
  // Strings (0 bytes an element here), empty tensors and large ones: a buffer of their own.
  const bytes = size * dtypeInfo(dtype).bytesPerElement;
  if (!(bytes > 0 && bytes <= SLAB_TENSOR_MAX_BYTES)) return allocate(dtype, size);
  if (used + bytes > SLAB_BYTES) {
    // A fresh slab is zero-filled, and no byte of a slab is handed out twice, so every view starts zeroed.
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const offset = used;
  used += Math.ceil(bytes / ALIGN) * ALIGN;
  // Not a string: strings have 0 bytes here and took the branch above.
  return typedArrayView(dtype as Exclude<DType, 'string'>, slab, offset, size);
}

/** Fresh memory written by `takenInSlices` in one turn of the event loop. */
export const TAKE_SLICE_BYTES = 2 * 1024 * 1024;

/**
 * A zero-filled buffer of `bytes` whose pages are already taken: written a slice of TAKE_SLICE_BYTES a turn of the
 * event loop. The first write to a fresh page is what a large copy costs on some machines: 13–22 µs a 4 KiB page on
 * this project's virtual machine in 2026-12, where decoding a 30 MiB tensor into a buffer of its own held the loop
 * for 90–100 ms (test/e2e/grpc-event-loop.test.ts). Decoding into this buffer copies at memory speed instead.
 */
export async function takenInSlices(bytes: number): Promise<ArrayBuffer> {
  const buffer = new ArrayBuffer(bytes);
  const view = new Uint8Array(buffer);
  for (let at = 0; at < bytes; at += TAKE_SLICE_BYTES) {
    if (at > 0) await setImmediate();
    view.fill(0, at, Math.min(bytes, at + TAKE_SLICE_BYTES));
  }
  return buffer;
}

/**
 * `chunks` joined into one buffer, its pages taken a slice a turn (takenInSlices) and the chunks copied into it
 * TAKE_SLICE_BYTES a turn: a large reply assembled from views of its tensors without a copy into fresh memory, or a
 * long copy, in any one turn.
 */
export async function joinedInTurns(chunks: readonly Uint8Array[]): Promise<Buffer> {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  const out = Buffer.from(await takenInSlices(total));
  let at = 0;
  let copied = 0;
  for (const chunk of chunks) {
    for (let from = 0; from < chunk.byteLength;) {
      if (copied >= TAKE_SLICE_BYTES) {
        await setImmediate();
        copied = 0;
      }
      const to = Math.min(chunk.byteLength, from + TAKE_SLICE_BYTES - copied);
      out.set(chunk.subarray(from, to), at);
      at += to - from;
      copied += to - from;
      from = to;
    }
  }
  return out;
}

/** How prefixedInParts introduces each element: its prefix's size, and the prefix written at `at` (returns its end). */
export interface ElementPrefix {
  bytes(length: number): number;
  write(out: Buffer, at: number, length: number): number;
}

/** prefixedInParts: the size of a part that runs of short elements are copied into. */
const PACKED_PART_BYTES = 64 * 1024;
/** prefixedInParts: bytes copied between two turns of the event loop. */
const PACKED_SLICE_BYTES = 512 * 1024;

/**
 * `elements`, each after its prefix (a length, a protobuf tag and length), as parts in order for a writer that
 * copies them a slice a turn (joinedInTurns, the REST reply assembler): runs of short elements copied with their
 * prefixes into parts of PACKED_PART_BYTES, the event loop given back every PACKED_SLICE_BYTES, and each element too
 * long for a part given as itself (a view), after a part that ends with its prefix. So no turn copies the whole: a 24
 * MiB element copied with its prefix into fresh memory took one turn of 80–200 ms on this project's machine
 * (docs/performance.md, "Round 24").
 */
export async function prefixedInParts(elements: readonly Uint8Array[], prefix: ElementPrefix): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  let part: Buffer | undefined;
  let used = 0;
  let sinceTurn = 0;
  const flush = () => {
    if (part && used > 0) parts.push(part.subarray(0, used));
    part = undefined;
    used = 0;
  };
  const room = (bytes: number): Buffer => {
    if (part && used + bytes > part.byteLength) flush();
    return (part ??= Buffer.allocUnsafe(PACKED_PART_BYTES));
  };
  for (const element of elements) {
    const prefixBytes = prefix.bytes(element.byteLength);
    used = prefix.write(room(prefixBytes), used, element.byteLength);
    if (element.byteLength > PACKED_PART_BYTES - prefixBytes) {
      flush();
      parts.push(element);
      continue;
    }
    room(element.byteLength).set(element, used);
    used += element.byteLength;
    sinceTurn += prefixBytes + element.byteLength;
    if (sinceTurn >= PACKED_SLICE_BYTES) {
      sinceTurn = 0;
      await setImmediate();
    }
  }
  flush();
  return parts;
}

/**
 * Storage (as allocateForRequest) that gives `buffer`, whole, to the first tensor whose elements fill it exactly, and
 * allocates for any other.
 */
export function storageWith(buffer: ArrayBuffer): (dtype: DType, size: number) => TensorData {
  let given = false;
  return (dtype, size) => {
    if (!given && dtype !== 'string' && size * dtypeInfo(dtype).bytesPerElement === buffer.byteLength) {
      given = true;
      return typedArrayView(dtype, buffer, 0, size);
    }
    return allocateForRequest(dtype, size);
  };
}

/** Bytes of a tensor past which walking it (a hand-off to a worker, a reply's encoding) gets a turn of its own. */
export const LARGE_TENSOR_BYTES = 1024 * 1024;
/** String elements past which the same holds: each is a view, a field or a JSON value of its own to walk. */
export const LARGE_TENSOR_STRINGS = 10_000;

/** Whether any of `tensors` is large (LARGE_TENSOR_BYTES, LARGE_TENSOR_STRINGS). */
export function holdsLargeTensor(tensors: Iterable<HostTensor>): boolean {
  for (const tensor of tensors) {
    if (tensor.dtype === 'string' && tensor.size > LARGE_TENSOR_STRINGS) return true;
    if (tensor.byteLength() > LARGE_TENSOR_BYTES) return true;
  }
  return false;
}

/**
 * Whether `elements` are consecutive views that fill one buffer exactly, from its start: packed already. Never for
 * an empty buffer: empty elements may all be one shared constant (dtype.ts, EMPTY_BYTES), which moving to a worker
 * would detach for every later user (the soak found it: "Cannot perform Construct on a detached ArrayBuffer").
 */
export function fillOneBuffer(elements: readonly Uint8Array[]): boolean {
  const first = elements[0];
  if (first === undefined || first.byteOffset !== 0) return false;
  let at = 0;
  for (const element of elements) {
    if (element.buffer !== first.buffer || element.byteOffset !== at) return false;
    at += element.byteLength;
  }
  return at > 0 && at === first.buffer.byteLength;
}

/** String elements copied into a packed buffer between two turns of the event loop (a view is made of each). */
const PACK_SLICE_ELEMENTS = 10_000;

/**
 * A string tensor of more than LARGE_TENSOR_BYTES as one whose elements are consecutive views of one buffer of its
 * own (fillOneBuffer), its pages taken and its elements copied in a slice a turn. A worker is then handed that buffer,
 * moved rather than packed again in one turn (worker-pool.ts, wireStrings): packing a 24 MiB element into fresh
 * memory took 35 ms of one turn on this project's machine. Any other tensor is returned as it is.
 */
export async function withPackedStrings(tensor: HostTensor): Promise<HostTensor> {
  if (tensor.dtype !== 'string') return tensor;
  const elements = tensor.data as Uint8Array[];
  if (fillOneBuffer(elements)) return tensor;
  let total = 0;
  for (const element of elements) total += element.byteLength;
  if (total <= LARGE_TENSOR_BYTES) return tensor;
  const packed = new Uint8Array(await takenInSlices(total));
  const views = new Array<Uint8Array>(elements.length);
  let at = 0;
  let copied = 0;
  for (const [i, element] of elements.entries()) {
    if (copied >= TAKE_SLICE_BYTES || (i > 0 && i % PACK_SLICE_ELEMENTS === 0)) {
      await setImmediate();
      copied = 0;
    }
    packed.set(element, at);
    views[i] = packed.subarray(at, at + element.byteLength);
    at += element.byteLength;
    copied += element.byteLength;
  }
  return new HostTensor('string', tensor.shape, views);
}

/**
 * A request's own large inputs (RunRequest.inputsOwned, holdsLargeTensor) made ready for the hand-off to a worker:
 * their long strings packed (withPackedStrings), then a turn of the event loop given back, since the hand-off walks a
 * large input once more.
 */
export async function readyForHandOff(inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const ready: Record<string, HostTensor> = {};
  for (const [alias, tensor] of Object.entries(inputs)) ready[alias] = await withPackedStrings(tensor);
  await setImmediate();
  return ready;
}
