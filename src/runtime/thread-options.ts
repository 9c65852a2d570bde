/**
 * Session's thread counts under TensorFlow's ConfigProto names (`intra_op_parallelism_threads`,
 * `inter_op_parallelism_threads`), and ONNX Runtime's name for the intra-op count (`intraOpNumThreads`), which
 * flowserve took first; resolved once into what ONNX Runtime's session options take.
 */
import { InvalidArgument } from '../errors.js';

export interface ThreadOptions {
  /** Threads inside one op (ConfigProto.intra_op_parallelism_threads); 0 or undefined = ONNX Runtime's default. */
  intraOpParallelismThreads?: number;
  /** The same count under ONNX Runtime's name; giving both with different values is an error. */
  intraOpNumThreads?: number;
  /**
   * Threads that run independent ops side by side (ConfigProto.inter_op_parallelism_threads). More than 1 runs each
   * partition on ONNX Runtime's parallel executor with that many threads; 0, 1 or undefined: one op at a time.
   */
  interOpParallelismThreads?: number;
}

/** The thread counts to hand ONNX Runtime (absent = its default); throws InvalidArgument naming a bad option. */
export function ortThreadCounts(options: ThreadOptions): { intraOpNumThreads?: number; interOpNumThreads?: number } {
  for (const name of ['intraOpParallelismThreads', 'intraOpNumThreads', 'interOpParallelismThreads'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new InvalidArgument(`Session option ${name} must be a non-negative integer, got ${String(value)}`);
    }
  }
  const { intraOpParallelismThreads: intra, intraOpNumThreads: ortIntra, interOpParallelismThreads: inter } = options;
  if (intra !== undefined && ortIntra !== undefined && intra !== ortIntra) {
    throw new InvalidArgument(
      `Session options intraOpParallelismThreads (${intra}) and intraOpNumThreads (${ortIntra}) name the same ` +
        'count and must agree; give one of them',
    );
  }
  const intraOp = intra || ortIntra;
  return { ...(intraOp ? { intraOpNumThreads: intraOp } : {}), ...(inter ? { interOpNumThreads: inter } : {}) };
}
