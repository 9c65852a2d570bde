/**
 * Protobuf bytes written straight into a buffer of their exact size, for messages whose protobufjs writer would cost
 * an operation object per field (a reply of 50,000 strings, a raw ModelInferResponse).
 */

/** Bytes of `value` as a varint (value a non-negative safe integer). */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** A length-delimited field of `length` bytes, tag included (for field numbers below 16: a 1-byte tag). */
export function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Writes `value` as a varint at `at`; returns the offset after it. */
export function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 128) {
    out[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/**
 * Writes a length-delimited field (`field` below 16: a 1-byte tag) holding `bytes` at `at`; returns the offset after
 * it.
 */
export function writeBytesField(out: Buffer, at: number, field: number, bytes: Uint8Array): number {
  out[at++] = (field << 3) | 2;
  at = writeVarint(out, at, bytes.byteLength);
  out.set(bytes, at);
  return at + bytes.byteLength;
}

/** A length-delimited field's tag (`field` below 16) and length, as a buffer of its own: what precedes its bytes. */
export function fieldHeader(field: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(1 + varintSize(length));
  out[0] = (field << 3) | 2;
  writeVarint(out, 1, length);
  return out;
}
