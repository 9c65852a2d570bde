import { InvalidArgument } from '../errors.js';

/** A static dimension: a size, or null when unknown until run time (TensorFlow's `None`, `-1` on input). */
export type Dim = number | null;
export type Shape = readonly Dim[];

/** Accepts `-1` or `null` for unknown dimensions and returns the canonical form (null). */
export function normalizeShape(shape: readonly (number | null | undefined)[]): Dim[] {
  return shape.map((d, i) => {
    if (d === null || d === undefined || d === -1) return null;
    if (!Number.isInteger(d) || d < 0) throw new InvalidArgument(`invalid dimension ${d} at axis ${i} of shape`);
    return d;
  });
}

export function formatShape(shape: Shape | undefined): string {
  if (shape === undefined) return '<unknown>';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export function isFullyDefined(shape: Shape): shape is readonly number[] {
  return shape.every((d) => d !== null);
}

export function numElements(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (d === null) return null;
    n *= d;
  }
  return n;
}

/** Two dims agree when either is unknown or they are equal. */
export function dimsCompatible(a: Dim, b: Dim): boolean {
  return a === null || b === null || a === b;
}

export function shapesCompatible(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimsCompatible(d, b[i] ?? null));
}

/** Numpy broadcasting of two static shapes; the error names the op and both shapes. */
export function broadcastShapes(opName: string, a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : (a[i - (rank - a.length)] ?? null);
    const db = i < rank - b.length ? 1 : (b[i - (rank - b.length)] ?? null);
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (da === null) out.push(db);
    else if (db === null) out.push(da);
    else if (da === db) out.push(da);
    else {
      throw new InvalidArgument(
        `Incompatible shapes for operation '${opName}': ${formatShape(a)} and ${formatShape(b)} cannot be broadcast (dimension ${i}: ${da} vs ${db})`,
      );
    }
  }
  return out;
}

/** Normalises a possibly negative axis against a rank, with an error naming the op. */
export function normalizeAxis(opName: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new InvalidArgument(`Operation '${opName}': axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}
