;; The dense plan's matrix product in WebAssembly SIMD (wasm-dense.ts). `npm run build:wasm` compiles this file to
;; dense-kernel-bytes.ts; test/serving/worker/wasm-dense.test.ts fails when the two differ.
(module
  (memory (export "memory") 1)
  ;; out[r, c] = Σ_i x[r, i] · w[i, c] for r < rows, c < np, summed in float64 in the order i = 0, 1, … (the
  ;; JavaScript kernel's order and precision, so both give the same bits). x and w are float32, x [rows, k] and w
  ;; [k, np], and out float64 [rows, np], np a multiple of 4 (the caller pads w's columns with zeros). All row-major
  ;; at the given byte offsets. w stays float32 (promoting it is exact) so that it takes half the cache: between the
  ;; requests a server decodes and encodes, a run finds little of it there.
  ;;
  ;; Four rows and four columns at a time: eight f64x2 sums, each a chain of its own, share each load of w. One row's
  ;; two chains alone wait on the latency of their adds (a batch of merged requests ran at one row's speed per row);
  ;; eight keep the multipliers busy. The rows left over (rows mod 4) go one at a time, four columns in two sums.
  (func (export "dense")
    (param $x i32) (param $rows i32) (param $k i32) (param $w i32) (param $np i32) (param $out i32)
    (local $r i32) (local $c i32) (local $i i32) (local $xp i32) (local $wp i32) (local $xrow i32) (local $orow i32)
    (local $stride i32) (local $wstride i32) (local $xstride i32) (local $op i32)
    (local $w0 v128) (local $w1 v128) (local $xi v128)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $c0 v128) (local $c1 v128) (local $d0 v128) (local $d1 v128)
    (local.set $stride (i32.shl (local.get $np) (i32.const 3)))
    (local.set $wstride (i32.shl (local.get $np) (i32.const 2)))
    (local.set $xstride (i32.shl (local.get $k) (i32.const 2)))
    (local.set $xrow (local.get $x))
    (local.set $orow (local.get $out))
    ;; Blocks of four rows.
    (block $blocks_done
      (loop $each_block
        (br_if $blocks_done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $columns_done
          (loop $each_column_block
            (br_if $columns_done (i32.ge_u (local.get $c) (local.get $np)))
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))
            (local.set $b0 (v128.const i64x2 0 0))
            (local.set $b1 (v128.const i64x2 0 0))
            (local.set $c0 (v128.const i64x2 0 0))
            (local.set $c1 (v128.const i64x2 0 0))
            (local.set $d0 (v128.const i64x2 0 0))
            (local.set $d1 (v128.const i64x2 0 0))
            (local.set $xp (local.get $xrow))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $i (local.get $k))
            (block $terms_done
              (loop $each_term
                (br_if $terms_done (i32.eqz (local.get $i)))
                (local.set $w0 (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $wp))))
                (local.set $w1 (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $wp))))
                (local.set $xi (f64x2.splat (f64.promote_f32 (f32.load (local.get $xp)))))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $xi) (local.get $w0))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $xi) (local.get $w1))))
                (local.set $xi
                  (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $xp) (local.get $xstride))))))
                (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $xi) (local.get $w0))))
                (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $xi) (local.get $w1))))
                (local.set $xi
                  (f64x2.splat (f64.promote_f32 (f32.load
                    (i32.add (local.get $xp) (i32.shl (local.get $xstride) (i32.const 1)))))))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $xi) (local.get $w0))))
                (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $xi) (local.get $w1))))
                (local.set $xi
                  (f64x2.splat (f64.promote_f32 (f32.load
                    (i32.add (local.get $xp) (i32.mul (local.get $xstride) (i32.const 3)))))))
                (local.set $d0 (f64x2.add (local.get $d0) (f64x2.mul (local.get $xi) (local.get $w0))))
                (local.set $d1 (f64x2.add (local.get $d1) (f64x2.mul (local.get $xi) (local.get $w1))))
                (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                (local.set $wp (i32.add (local.get $wp) (local.get $wstride)))
                (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                (br $each_term)))
            (local.set $op (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 3))))
            (v128.store (local.get $op) (local.get $a0))
            (v128.store offset=16 (local.get $op) (local.get $a1))
            (local.set $op (i32.add (local.get $op) (local.get $stride)))
            (v128.store (local.get $op) (local.get $b0))
            (v128.store offset=16 (local.get $op) (local.get $b1))
            (local.set $op (i32.add (local.get $op) (local.get $stride)))
            (v128.store (local.get $op) (local.get $c0))
            (v128.store offset=16 (local.get $op) (local.get $c1))
            (local.set $op (i32.add (local.get $op) (local.get $stride)))
            (v128.store (local.get $op) (local.get $d0))
            (v128.store offset=16 (local.get $op) (local.get $d1))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $each_column_block)))
        (local.set $xrow (i32.add (local.get $xrow) (i32.shl (local.get $xstride) (i32.const 2))))
        (local.set $orow (i32.add (local.get $orow) (i32.shl (local.get $stride) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $each_block)))
    ;; The rows left over, one at a time.
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $columns_done
          (loop $each_column_block
            (br_if $columns_done (i32.ge_u (local.get $c) (local.get $np)))
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))
            (local.set $xp (local.get $xrow))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $i (local.get $k))
            (block $terms_done
              (loop $each_term
                (br_if $terms_done (i32.eqz (local.get $i)))
                (local.set $xi (f64x2.splat (f64.promote_f32 (f32.load (local.get $xp)))))
                (local.set $a0 (f64x2.add (local.get $a0)
                  (f64x2.mul (local.get $xi) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $wp))))))
                (local.set $a1 (f64x2.add (local.get $a1)
                  (f64x2.mul (local.get $xi) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $wp))))))
                (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                (local.set $wp (i32.add (local.get $wp) (local.get $wstride)))
                (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                (br $each_term)))
            (v128.store (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 3))) (local.get $a0))
            (v128.store offset=16 (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 3))) (local.get $a1))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $each_column_block)))
        (local.set $xrow (i32.add (local.get $xrow) (local.get $xstride)))
        (local.set $orow (i32.add (local.get $orow) (local.get $stride)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each_row)))))
