/**
 * gRPC's Length-Prefixed-Message framing (PROTOCOL-HTTP2.md): a 1-byte compressed flag, a 4-byte big-endian length,
 * then the message. The reader checks each length against the receive limit before it buffers a byte of the body, so
 * a client cannot make the server allocate past the limit by announcing a large message.
 */
import { ResourceExhausted } from '../../../../errors.js';

const PREFIX_BYTES = 5;
const PREALLOCATE_BYTES = 1024 * 1024;
/** A large message's buffer takes its announced size once this much (or an eighth of it, if less) has arrived. */
const PROVEN_BYTES = 8 * 1024 * 1024;
/** The first buffer of a message over PREALLOCATE_BYTES: a read's worth, whatever its prefix announces. */
const GROW_FROM_BYTES = 16 * 1024;

/** Receives each complete message: its bytes (still compressed when `compressed`) and the flag. */
export type MessageSink = (body: Buffer, compressed: boolean) => void;

export class MessageReader {
  /** Only for a prefix split across chunks (rare): allocated then. */
  private prefix: Buffer | undefined;
  private prefixFilled = 0;
  private body: Buffer | undefined;
  private bodySize = 0;
  private bodyFilled = 0;
  private compressed = false;

  constructor(
    private readonly maxBytes: number,
    /** The error for a message over the limit; grpc-js's words by default. */
    private readonly tooLarge?: (bytes: number) => Error,
  ) {}

  /** Bytes the current message's buffer has room for (tests): twice what has arrived, or the message's whole size. */
  get capacity(): number {
    return this.body?.length ?? 0;
  }

  /** True while a message has started and not ended: a stream half-closed then was cut mid-message. */
  get midMessage(): boolean {
    return this.prefixFilled > 0;
  }

  /** Feeds one DATA chunk; calls `sink` for each message it completes; throws ResourceExhausted over the limit. */
  push(chunk: Buffer, sink: MessageSink): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.prefixFilled < PREFIX_BYTES) {
        // The common case, a whole message in one chunk, is handed on without a copy.
        if (this.prefixFilled === 0 && chunk.length - offset >= PREFIX_BYTES) {
          const size = this.checkedSize(chunk.readUInt32BE(offset + 1));
          const flag = chunk[offset] !== 0;
          if (chunk.length - offset - PREFIX_BYTES >= size) {
            sink(chunk.subarray(offset + PREFIX_BYTES, offset + PREFIX_BYTES + size), flag);
            offset += PREFIX_BYTES + size;
            continue;
          }
          this.prefixFilled = PREFIX_BYTES;
          offset += PREFIX_BYTES;
          this.start(size, flag);
          continue;
        }
        const take = Math.min(PREFIX_BYTES - this.prefixFilled, chunk.length - offset);
        this.prefix ??= Buffer.allocUnsafe(PREFIX_BYTES);
        chunk.copy(this.prefix, this.prefixFilled, offset, offset + take);
        this.prefixFilled += take;
        offset += take;
        if (this.prefixFilled < PREFIX_BYTES) return;
        this.start(this.checkedSize(this.prefix.readUInt32BE(1)), this.prefix[0] !== 0);
        if (this.bodySize === 0) {
          // An empty message is complete with its prefix.
          this.prefixFilled = 0;
          sink(Buffer.alloc(0), this.compressed);
        }
        continue;
      }
      const take = Math.min(this.bodySize - this.bodyFilled, chunk.length - offset);
      const body = this.room(this.bodyFilled + take);
      chunk.copy(body, this.bodyFilled, offset, offset + take);
      this.bodyFilled += take;
      offset += take;
      if (this.bodyFilled === this.bodySize) {
        this.body = undefined;
        this.prefixFilled = 0;
        sink(body, this.compressed);
      }
    }
  }

  /**
   * A message up to PREALLOCATE_BYTES is copied into a buffer of its size as it arrives. A larger one is copied into a
   * buffer that doubles as its bytes arrive (`room`), so that a prefix near the limit with no body behind it costs
   * nothing, until an eighth of it or PROVEN_BYTES have arrived; then into one buffer of the announced size. The
   * copying is spread over the reads: joining a 30 MiB message's chunks at its end took 20 ms of one turn of the event
   * loop, on top of the decode that follows in the same turn (test/e2e/grpc-event-loop.test.ts). Doubling all the way
   * copied up to half the message into fresh memory in one turn, and fresh memory is dear on some machines: 13–22 µs a
   * 4 KiB page at its first write on this project's virtual machine in 2026-12 (16 MiB: 50–90 ms). An unwritten
   * buffer costs address space, not memory: its pages are taken as the chunks are copied in, so memory still grows
   * with what arrives.
   */
  private start(size: number, compressed: boolean): void {
    this.compressed = compressed;
    this.bodyFilled = 0;
    this.bodySize = size;
    this.body = size === 0 || size > PREALLOCATE_BYTES ? undefined : Buffer.allocUnsafe(size);
  }

  /** The message's buffer, grown to hold `filled` bytes: to twice that, or to its whole size once enough has arrived. */
  private room(filled: number): Buffer {
    const body = this.body;
    if (body !== undefined && body.length >= filled) return body;
    const proven = filled > PREALLOCATE_BYTES && filled > Math.min(this.bodySize / 8, PROVEN_BYTES);
    const size = proven ? this.bodySize : Math.min(this.bodySize, Math.max(GROW_FROM_BYTES, 2 * filled));
    const grown = Buffer.allocUnsafe(size);
    if (body !== undefined) body.copy(grown, 0, 0, this.bodyFilled);
    this.body = grown;
    return grown;
  }

  private checkedSize(size: number): number {
    if (size > this.maxBytes) {
      if (this.tooLarge) throw this.tooLarge(size);
      // grpc-js's words, which clients and the existing tests know.
      throw new ResourceExhausted(`Received message larger than max (${size} vs ${this.maxBytes})`);
    }
    return size;
  }
}

/**
 * A message past this is sent as its prefix and itself, two chunks of the stream, rather than copied behind its
 * prefix: copying a 24 MiB reply into fresh memory took 18 ms of a turn on this project's machine.
 */
const COPY_FRAMED_BELOW = 1024 * 1024;

/** `message` framed for the stream: one chunk, or for a large message its prefix and the message uncopied. */
export function framedChunks(message: Uint8Array): Buffer[] {
  if (message.byteLength < COPY_FRAMED_BELOW) return [frameMessage(message)];
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix[0] = 0;
  prefix.writeUInt32BE(message.byteLength, 1);
  return [prefix, Buffer.from(message.buffer, message.byteOffset, message.byteLength)];
}

/** `message` with its 5-byte prefix (uncompressed: flowserve sends responses as they are). */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.byteLength);
  framed[0] = 0;
  framed.writeUInt32BE(message.byteLength, 1);
  framed.set(message, PREFIX_BYTES);
  return framed;
}
