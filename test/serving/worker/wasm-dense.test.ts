/**
 * The dense plan's WebAssembly kernel (src/serving/worker/wasm-dense.ts): its bytes are what dense-kernel.wat compiles
 * to, and its products equal a float64 reference to float32 rounding for widths that are and are not multiples of 4.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WasmDense } from '../../../src/serving/worker/wasm-dense.js';
import { values } from '../core/model-fixtures.js';

/** x [rows, k] · w [k, n] in float64. */
function reference(x: Float32Array, w: Float32Array, rows: number, k: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += (x[r * k + i] as number) * (w[i * n + c] as number);
      out[r * n + c] = sum;
    }
  return out;
}

describe('the dense plan in WebAssembly SIMD (wasm-dense.ts)', () => {
  it('holds the bytes that dense-kernel.wat compiles to (npm run build:wasm)', async () => {
    // The compiled test runs from dist/test/…; the script and the .wat source are read from the repository.
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const script = (await import(`${root}scripts/build-wasm.mjs`)) as {
      compileDenseKernel(): Promise<Buffer>;
      bytesModuleSource(bytes: Buffer): string;
    };
    const source = script.bytesModuleSource(await script.compileDenseKernel());
    assert.equal(readFileSync(`${root}src/serving/worker/dense-kernel-bytes.ts`, 'utf8'), source);
  });

  it('computes x · w as a float64 reference does, to float32 rounding, for widths 1, 3, 4, 10 and 17, in blocks of four rows and one', () => {
    for (const [k, n] of [
      [784, 10],
      [5, 1],
      [9, 3],
      [16, 4],
      [33, 17],
    ] as const) {
      const w = values(k * n, k + n, 0.5);
      const kernel = WasmDense.create(w, k, n, 13);
      assert.ok(kernel, 'no WebAssembly SIMD in this Node.js');
      // Blocks of four rows, then one row at a time for what is left: 4, 8 and 12 rows leave none.
      for (const rows of [1, 2, 3, 4, 5, 6, 8, 11, 12, 13]) {
        const x = values(rows * k, rows, 1);
        const { sums, columns } = kernel.run(x, rows);
        const want = reference(x, w, rows, k, n);
        assert.equal(columns, Math.ceil(n / 4) * 4);
        assert.equal(sums.length, rows * columns);
        const scale = Math.sqrt(k);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < columns; c++) {
            const got = sums[r * columns + c] as number;
            // The padding columns' weights are zeros.
            const e = c < n ? (want[r * n + c] as number) : 0;
            assert.ok(Math.abs(got - e) <= 1e-6 * scale * (1 + Math.abs(e)), `[${k}×${n}] ${rows} rows, [${r}, ${c}]`);
          }
        }
      }
      // The second run of fewer rows gives only its own rows.
      assert.equal(kernel.run(values(k, 1, 1), 1).sums.length, Math.ceil(n / 4) * 4);
    }
  });

  it('refuses more rows than it has room for, and weights of the wrong size', () => {
    const kernel = WasmDense.create(values(20, 1), 4, 5, 2);
    assert.ok(kernel);
    assert.throws(() => kernel.run(values(12, 2), 3), /3 rows, over the kernel's 2/);
    assert.equal(WasmDense.create(values(19, 1), 4, 5, 2), undefined);
    assert.equal(WasmDense.create(values(20, 1), 4, 5, 2, 64), undefined, 'over its memory bound');
  });
});
