/**
 * gRPC's Length-Prefixed-Message framing (PROTOCOL-HTTP2.md): a 1-byte compressed flag, a 4-byte big-endian length,
 * then the message. The reader checks each length against the receive limit before it buffers a byte of the body, so
 * a client cannot make the server allocate past the limit by announcing a large message.
 */
import { ResourceExhausted } from '../../../../errors.js';

const PREFIX_BYTES = 5;
const PREALLOCATE_BYTES = 1024 * 1024;

/** Receives each complete message: its bytes (still compressed when `compressed`) and the flag. */
export type MessageSink = (body: Buffer, compressed: boolean) => void;

export class MessageReader {
  /** Only for a prefix split across chunks (rare): allocated then. */
  private prefix: Buffer | undefined;
  private prefixFilled = 0;
  private body: Buffer | undefined;
  private parts: Buffer[] | undefined;
  private bodySize = 0;
  private bodyFilled = 0;
  private compressed = false;

  constructor(
    private readonly maxBytes: number,
    /** The error for a message over the limit; grpc-js's words by default. */
    private readonly tooLarge?: (bytes: number) => Error,
  ) {}

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
      if (this.body) chunk.copy(this.body, this.bodyFilled, offset, offset + take);
      else (this.parts ??= []).push(chunk.subarray(offset, offset + take));
      this.bodyFilled += take;
      offset += take;
      if (this.bodyFilled === this.bodySize) {
        const body = this.body ?? Buffer.concat(this.parts ?? [], this.bodySize);
        this.body = undefined;
        this.parts = undefined;
        this.prefixFilled = 0;
        sink(body, this.compressed);
      }
    }
  }

  /**
   * A message up to PREALLOCATE_BYTES is copied into a buffer of its size as it arrives; a larger one is kept as the
   * chunks that came and joined at its end, so that memory grows with what a client sends, not with what it
   * announces (a prefix near the limit with no body behind it costs nothing).
   */
  private start(size: number, compressed: boolean): void {
    this.compressed = compressed;
    this.bodyFilled = 0;
    this.bodySize = size;
    this.body = size === 0 || size > PREALLOCATE_BYTES ? undefined : Buffer.allocUnsafe(size);
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

/** `message` with its 5-byte prefix (uncompressed: flowserve sends responses as they are). */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.byteLength);
  framed[0] = 0;
  framed.writeUInt32BE(message.byteLength, 1);
  framed.set(message, PREFIX_BYTES);
  return framed;
}
