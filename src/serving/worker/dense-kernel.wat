;; The dense plan's matrix product in WebAssembly SIMD (wasm-dense.ts). `npm run build:wasm` compiles this file to
;; dense-kernel-bytes.ts; test/serving/worker/wasm-dense.test.ts fails when the two differ.
(module
  (memory (export "memory") 1)
  ;; out[r, c] = Σ_i x[r, i] · w[i, c] for r < rows, c < np, summed in float64 in the order i = 0, 1, … (the
  ;; JavaScript kernel's order and precision, so both give the same bits). x is float32 [rows, k]; w is float64
  ;; [k, np] and out float64 [rows, np], np a multiple of 4 (the caller pads w's columns with zeros). All row-major
  ;; at the given byte offsets. Four columns at a time: two f64x2 sums, each a chain of its own.
  (func (export "dense")
    (param $x i32) (param $rows i32) (param $k i32) (param $w i32) (param $np i32) (param $out i32)
    (local $r i32) (local $c i32) (local $i i32) (local $xp i32) (local $wp i32) (local $xrow i32) (local $orow i32)
    (local $stride i32) (local $xi v128) (local $low v128) (local $high v128)
    (local.set $stride (i32.shl (local.get $np) (i32.const 3)))
    (local.set $xrow (local.get $x))
    (local.set $orow (local.get $out))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $columns_done
          (loop $each_column_block
            (br_if $columns_done (i32.ge_u (local.get $c) (local.get $np)))
            (local.set $low (v128.const i64x2 0 0))
            (local.set $high (v128.const i64x2 0 0))
            (local.set $xp (local.get $xrow))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 3))))
            (local.set $i (local.get $k))
            (block $terms_done
              (loop $each_term
                (br_if $terms_done (i32.eqz (local.get $i)))
                (local.set $xi (f64x2.splat (f64.promote_f32 (f32.load (local.get $xp)))))
                (local.set $low
                  (f64x2.add (local.get $low) (f64x2.mul (local.get $xi) (v128.load (local.get $wp)))))
                (local.set $high
                  (f64x2.add (local.get $high) (f64x2.mul (local.get $xi) (v128.load offset=16 (local.get $wp)))))
                (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                (local.set $wp (i32.add (local.get $wp) (local.get $stride)))
                (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                (br $each_term)))
            (v128.store (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 3))) (local.get $low))
            (v128.store offset=16 (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 3))) (local.get $high))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $each_column_block)))
        (local.set $xrow (i32.add (local.get $xrow) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $orow (i32.add (local.get $orow) (local.get $stride)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each_row)))))
