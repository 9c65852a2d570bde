/**
 * The dense plan's matrix product x [rows, k] · w [k, n] in WebAssembly SIMD (dense-kernel.wat): four rows and four
 * columns at a time in eight f64x2 sums, and the rows left over one at a time. V8 does not vectorise the JavaScript
 * loop of dense-plan.ts. The sums are float64, added in the JavaScript kernel's order, so the two give the same bits
 * (test/serving/worker/dense-plan.test.ts).
 *
 * Each instance keeps its weights in its own memory as float32, columns padded with zeros to a multiple of four, and
 * holds room for `maxRows` rows of input and output, so a run only copies its rows in and its sums out.
 */
import { DENSE_KERNEL_WASM_BASE64 } from './dense-kernel-bytes.js';

const PAGE_BYTES = 65_536;

interface KernelExports {
  memory: WebAssembly.Memory;
  dense(x: number, rows: number, k: number, w: number, np: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where this WebAssembly has no SIMD (checked once). */
function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const bytes = Buffer.from(DENSE_KERNEL_WASM_BASE64, 'base64');
  compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

export class WasmDense {
  private readonly columns: number;
  private readonly floats: Float32Array;
  private readonly doubles: Float64Array;
  /** Element offsets: the input in `floats`, the output in `doubles` (the weights start at 0). */
  private readonly inputAt: number;
  private readonly outputAt: number;

  private constructor(
    private readonly kernel: KernelExports,
    readonly k: number,
    readonly n: number,
    /** The most rows a run may have. */
    readonly maxRows: number,
  ) {
    const layout = layoutOf(k, n, maxRows);
    this.columns = layout.columns;
    this.floats = new Float32Array(kernel.memory.buffer);
    this.doubles = new Float64Array(kernel.memory.buffer);
    this.inputAt = layout.inputByte / 4;
    this.outputAt = layout.outputByte / 8;
  }

  /**
   * A kernel for `weights` [k, n] (row-major) and runs of up to `maxRows` rows; undefined where WebAssembly has no
   * SIMD, or when its memory would pass `maxBytes`.
   */
  static create(
    weights: Float32Array,
    k: number,
    n: number,
    maxRows: number,
    maxBytes = 16 << 20,
  ): WasmDense | undefined {
    const module = kernelModule();
    if (!module || k < 1 || n < 1 || maxRows < 1 || weights.length !== k * n) return undefined;
    const { bytes } = layoutOf(k, n, maxRows);
    if (bytes > maxBytes) return undefined;
    const kernel = new WebAssembly.Instance(module).exports as unknown as KernelExports;
    const pages = Math.ceil(bytes / PAGE_BYTES);
    const have = kernel.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > have) kernel.memory.grow(pages - have);
    const dense = new WasmDense(kernel, k, n, maxRows);
    const { columns, floats } = dense;
    for (let i = 0; i < k; i++) floats.set(weights.subarray(i * n, (i + 1) * n), i * columns);
    return dense;
  }

  /**
   * The sums x · w (float64) for `rows` rows of `x` ([rows, k]): a view of the kernel's memory, [rows, columns] with
   * `columns` ≥ n (the padding columns hold zeros), valid until the next run. The caller reads what it needs from it
   * instead of a copy per run.
   */
  run(x: Float32Array, rows: number): { sums: Float64Array; columns: number } {
    if (rows > this.maxRows) throw new RangeError(`${rows} rows, over the kernel's ${this.maxRows}`);
    const { k, columns, floats, doubles, inputAt, outputAt } = this;
    floats.set(x.subarray(0, rows * k), inputAt);
    this.kernel.dense(inputAt * 4, rows, k, 0, columns, outputAt * 8);
    return { sums: doubles.subarray(outputAt, outputAt + rows * columns), columns };
  }
}

/** Byte offsets in the kernel's memory: float32 weights at 0, the float32 input, then the float64 output. */
function layoutOf(k: number, n: number, maxRows: number) {
  const columns = Math.ceil(n / 4) * 4;
  const inputByte = 4 * k * columns;
  const outputByte = Math.ceil((inputByte + 4 * maxRows * k) / 16) * 16;
  return { columns, inputByte, outputByte, bytes: outputByte + 8 * maxRows * columns };
}
