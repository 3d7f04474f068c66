//! rnnrs's own GEMM for products with a weight matrix that is reused many times per call
//! (the per-step recurrent GEMMs): the weight is packed once into column panels
//! ([`PackedB`]) and every time step runs a register-blocked micro-kernel over the panels,
//! with no packing per call. Micro-kernels for AVX-512, AVX2+FMA and plain Rust, chosen at
//! run time by [`crate::runtime::simd::level`]. Spec: NumPy's `a @ b`, the per-step
//! `h @ w_hh.T` of `reference/cells.py`.
//!
//! Every output element is summed over k in order by one micro-kernel call, so results do
//! not depend on how the tiles are split between threads.

mod avx2;
mod avx512;
mod pack;
mod scalar;

use std::ops::Range;

pub use pack::{PackedB, NR};

use crate::runtime::simd::{level, Level};

/// `c (m, n) = a (m, k) · b` when `accumulate` is false, `c += a · b` when true; `a` row-major
/// with rows `lda` apart, `c` with rows `ldc` apart, `b` packed (k, n).
pub fn matmul_packed(
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedB,
    accumulate: bool,
) {
    run(level(), c, ldc, a, lda, m, b, 0..b.panels(), accumulate);
}

/// [`matmul_packed`] restricted to the column panels `panels` (columns `panels.start * NR ..
/// min(panels.end * NR, n)` of the product), at a given instruction-set level (at most
/// [`level()`]). `c` holds those columns only: its column 0 is column `panels.start * NR`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    lv: Level,
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedB,
    panels: Range<usize>,
    accumulate: bool,
) {
    let k = b.k();
    assert!(
        panels.start <= panels.end && panels.end <= b.panels(),
        "matmul_packed: panels out of range"
    );
    let first = panels.start * NR;
    // Columns of the product that `c` holds.
    let n = (panels.end * NR).min(b.n()).saturating_sub(first);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        lda >= k && (m - 1) * lda + k <= a.len(),
        "matmul_packed: a too short"
    );
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "matmul_packed: c too short"
    );
    let lv = if lv == Level::Avx512 && level() != Level::Avx512 {
        level()
    } else if lv == Level::Avx2 && level() == Level::Baseline {
        Level::Baseline
    } else {
        lv
    };
    for j in panels {
        let panel = b.panel(j);
        let c0 = j * NR - first;
        let nv = NR.min(n - c0);
        // The tile that first reads this panel prefetches the next one (or itself again).
        let next = if j + 1 < b.panels() {
            b.panel(j + 1)
        } else {
            panel
        };
        match lv {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => for_row_blocks(m, avx512::MR, |i, r| {
                // SAFETY: AVX-512F is present (checked above against `level()`); rows
                // i..i+r < m of `a` and `c` are in bounds by the asserts; the panel holds
                // k * NR floats and is 64-byte aligned (PackedB).
                unsafe {
                    avx512_tile(
                        r,
                        k,
                        a.as_ptr().add(i * lda),
                        lda,
                        panel.as_ptr(),
                        if i == 0 {
                            next.as_ptr()
                        } else {
                            panel.as_ptr()
                        },
                        c.as_mut_ptr().add(i * ldc + c0),
                        ldc,
                        nv,
                        accumulate,
                    )
                }
            }),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => for_row_blocks(m, avx2::MR, |i, r| {
                for half in 0..2 {
                    let h0 = half * 16;
                    if nv <= h0 {
                        break;
                    }
                    // SAFETY: AVX2 and FMA are present (checked above); rows i..i+r < m of
                    // `a` and `c` are in bounds by the asserts; columns c0+h0 .. c0+h0+nv'
                    // are < n; the panel half starts h0 floats into k rows of NR floats.
                    unsafe {
                        avx2_tile(
                            r,
                            k,
                            a.as_ptr().add(i * lda),
                            lda,
                            panel.as_ptr().add(h0),
                            if i == 0 {
                                next.as_ptr().add(h0)
                            } else {
                                panel.as_ptr()
                            },
                            c.as_mut_ptr().add(i * ldc + c0 + h0),
                            ldc,
                            (nv - h0).min(16),
                            accumulate,
                        )
                    }
                }
            }),
            _ => {
                for i in 0..m {
                    scalar::row(
                        &a[i * lda..i * lda + k],
                        panel,
                        &mut c[i * ldc + c0..i * ldc + c0 + nv],
                        accumulate,
                    );
                }
            }
        }
    }
}

/// Call `f(first_row, rows)` over `m` rows cut into the fewest blocks of at most `mr` rows,
/// of (nearly) equal size, so no block is much smaller than the others.
fn for_row_blocks(m: usize, mr: usize, mut f: impl FnMut(usize, usize)) {
    let blocks = m.div_ceil(mr);
    let mut start = 0;
    for s in 0..blocks {
        let end = (s + 1) * m / blocks;
        f(start, end - start);
        start = end;
    }
}

/// Monomorphize a micro-kernel for every row count 1..=MR and dispatch on `r`.
macro_rules! by_rows {
    ($name:ident, $module:ident, $($r:literal)*) => {
        /// # Safety
        /// As for the micro-kernel this dispatches to, with `r` rows (1 <= r <= its MR).
        #[cfg(target_arch = "x86_64")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name(
            r: usize,
            k: usize,
            a: *const f32,
            lda: usize,
            panel: *const f32,
            next: *const f32,
            c: *mut f32,
            ldc: usize,
            nv: usize,
            accumulate: bool,
        ) {
            match r {
                // SAFETY: forwarded contract.
                $($r => unsafe { $module::tile::<$r>(k, a, lda, panel, next, c, ldc, nv, accumulate) },)*
                _ => unreachable!("row block of {r} rows"),
            }
        }
    };
}
by_rows!(avx512_tile, avx512, 1 2 3 4 5 6 7 8 9 10 11 12);
by_rows!(avx2_tile, avx2, 1 2 3 4 5 6);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::gemm::MatRef;

    fn filled(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(a: &[f32], lda: usize, m: usize, b: MatRef<'_>) -> Vec<f64> {
        let (k, n) = (b.rows(), b.cols());
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| a[i * lda + p] as f64 * b.at(p, j) as f64)
                    .sum();
            }
        }
        out
    }

    fn levels() -> Vec<Level> {
        let mut v = vec![Level::Baseline];
        if level() != Level::Baseline {
            v.push(Level::Avx2);
        }
        if level() == Level::Avx512 {
            v.push(Level::Avx512);
        }
        v
    }

    #[test]
    fn every_level_matches_the_triple_loop_on_edge_shapes() {
        let shapes = [
            (1, 1, 1),
            (3, 7, 5),
            (12, 33, 32),
            (13, 64, 31),
            (25, 17, 65),
            (64, 100, 96),
            (7, 0, 40),
            (13, 1100, 40),
        ];
        for (case, &(m, k, n)) in shapes.iter().enumerate() {
            let lda = k + 3;
            let ldc = n + 2;
            let a = filled((m * lda).max(1), case as u64);
            let w = filled(n * k, 100 + case as u64);
            // As a transposed PyTorch weight (n, k) and as a plain (k, n) matrix.
            let mut bt = PackedB::default();
            bt.pack_transposed(&w, n, k);
            let mut bp = PackedB::default();
            bp.pack(MatRef::new(&w, k, n));
            let cases = [
                (&bt, naive(&a, lda, m, MatRef::new(&w, n, k).t())),
                (&bp, naive(&a, lda, m, MatRef::new(&w, k, n))),
            ];
            for lv in levels() {
                for (packed, want) in &cases {
                    for accumulate in [false, true] {
                        let mut c = vec![0.25f32; m * ldc];
                        run(
                            lv,
                            &mut c,
                            ldc,
                            &a,
                            lda,
                            m,
                            packed,
                            0..packed.panels(),
                            accumulate,
                        );
                        for i in 0..m {
                            for j in 0..ldc {
                                let got = c[i * ldc + j] as f64;
                                let exp = if j >= n {
                                    0.25
                                } else {
                                    want[i * n + j] + if accumulate { 0.25 } else { 0.0 }
                                };
                                assert!(
                                    (got - exp).abs() <= 1e-5 * (1.0 + k as f64).sqrt(),
                                    "{lv:?} ({m},{k},{n}) acc={accumulate} at ({i},{j}): {got} vs {exp}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn panel_ranges_cover_disjoint_columns() {
        let (m, k, n) = (9, 20, 70);
        let a = filled(m * k, 1);
        let w = filled(n * k, 2);
        let mut b = PackedB::default();
        b.pack_transposed(&w, n, k);
        let mut whole = vec![0.0f32; m * n];
        matmul_packed(&mut whole, n, &a, k, m, &b, false);
        let mut parts = vec![0.0f32; m * n];
        run(level(), &mut parts, n, &a, k, m, &b, 0..1, false);
        run(
            level(),
            &mut parts[NR..],
            n,
            &a,
            k,
            m,
            &b,
            1..b.panels(),
            false,
        );
        assert_eq!(whole, parts);
    }

    #[test]
    fn row_blocks_are_balanced() {
        let mut sizes = Vec::new();
        for_row_blocks(64, 12, |_, r| sizes.push(r));
        assert_eq!(sizes.iter().sum::<usize>(), 64);
        assert!(sizes.iter().all(|&r| (10..=12).contains(&r)), "{sizes:?}");
    }
}
