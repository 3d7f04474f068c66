//! The GEMM wrapper: the one place in rnnrs that calls the `gemm` crate, for the products
//! whose operands change from call to call (input projections, weight gradients, decoder).
//! The per-step recurrent products, whose weight is reused T times, run on rnnrs's own packed
//! kernels instead ([`crate::linalg::kernels`]). Spec: NumPy's `a @ b` (the reference's
//! `x @ w_ih.T`, `d_gates.T @ x`, ...).
//!
//! Backed by the `gemm` crate, which picks AVX-512 / AVX2+FMA / SSE kernels at run time
//! (chosen over `matrixmultiply` by `cargo bench --bench gemm`, see docs/performance.md).
//!
//! Parallelism: the output is cut into one block per thread of the current rayon pool (by rows
//! when m >= n, else by columns) and each block is one single-threaded `gemm` call. The crate's
//! own rayon mode opens two parallel regions per k-block (pack, then compute); with k = T*B
//! (the weight gradients) that is dozens of short regions per product, and the second thread
//! often wakes only after the first has packed alone. One region per product keeps both cores
//! busy. The split depends only on the shape and the thread count, so results are
//! reproducible; every output element is summed by one thread in a fixed order.

use std::ops::Range;

use gemm::Parallelism;
use rayon::prelude::*;

/// A read-only strided view of a row-major buffer: element (r, c) is `data[r*rs + c*cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major (rows, cols) matrix at the start of `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A row-major (rows, cols) matrix whose rows are `ld` elements apart.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        let m = MatRef {
            data,
            rows,
            cols,
            rs: ld,
            cs: 1,
        };
        assert!(
            m.fits(),
            "MatRef: {rows}x{cols} (ld {ld}) exceeds {}",
            data.len()
        );
        m
    }

    /// The transpose (a view; no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element (r, c); panics when out of range.
    pub fn at(&self, r: usize, c: usize) -> f32 {
        assert!(
            r < self.rows && c < self.cols,
            "MatRef::at({r}, {c}) out of range"
        );
        self.data[r * self.rs + c * self.cs]
    }

    /// Rows `r` of this view (`r` within `0..rows`).
    fn row_range(self, r: Range<usize>) -> Self {
        MatRef {
            data: &self.data[(r.start * self.rs).min(self.data.len())..],
            rows: r.len(),
            ..self
        }
    }

    /// Columns `r` of this view (`r` within `0..cols`).
    fn col_range(self, r: Range<usize>) -> Self {
        MatRef {
            data: &self.data[(r.start * self.cs).min(self.data.len())..],
            cols: r.len(),
            ..self
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Products below this many multiply-adds run on one thread (splitting costs more).
const SPLIT_MIN_WORK: usize = 1 << 21;

/// Row blocks start at multiples of this (the AVX-512 micro-kernel's 4 x 16 rows).
const ROW_ALIGN: usize = 64;

/// Column blocks start at multiples of this.
const COL_ALIGN: usize = 16;

/// `c (m, n) = a (m, k) · b (k, n)` when `accumulate` is false, `c += a · b` when true.
/// `c` is row-major with rows `ldc` elements apart.
///
/// Shapes are checked (a mismatch is a bug in the caller, not user input: the model validates
/// every user-facing shape before any kernel runs).
pub fn matmul(c: &mut [f32], ldc: usize, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(
        b.rows, k,
        "matmul: inner dimensions {k} and {} differ",
        b.rows
    );
    assert!(ldc >= n, "matmul: ldc {ldc} < n {n}");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * ldc + n <= c.len(),
        "matmul: output {m}x{n} (ld {ldc}) exceeds {}",
        c.len()
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let blocks = if threads > 1 && m * n * k >= SPLIT_MIN_WORK {
        split(m, n, threads)
    } else {
        vec![(0..m, 0..n)]
    };
    let out = OutPtr(c.as_mut_ptr());
    blocks
        .into_par_iter()
        .with_max_len(1)
        .for_each(|(rows, cols)| {
            // SAFETY: the asserts above keep every element (r, j), r < m, j < n, at
            // r * ldc + j < c.len(); the blocks are disjoint, so no two threads write the same
            // element, and `c` is uniquely borrowed for the whole call.
            unsafe {
                block(
                    out.at(rows.start * ldc + cols.start),
                    ldc,
                    a.row_range(rows),
                    b.col_range(cols),
                    accumulate,
                )
            }
        });
}

/// One block per thread: by rows when m >= n (each thread then packs all of `b`, the smaller
/// operand), else by columns (each thread reads all of `a`).
fn split(m: usize, n: usize, threads: usize) -> Vec<(Range<usize>, Range<usize>)> {
    let by_rows = m >= n;
    let (len, align) = if by_rows {
        (m, ROW_ALIGN)
    } else {
        (n, COL_ALIGN)
    };
    let bound = |i: usize| {
        if i == threads {
            len
        } else {
            (i * len / threads / align * align).min(len)
        }
    };
    (0..threads)
        .map(|i| bound(i)..bound(i + 1))
        .filter(|r| !r.is_empty())
        .map(|r| if by_rows { (r, 0..n) } else { (0..m, r) })
        .collect()
}

/// The output pointer, shared by the tasks that write disjoint blocks of it.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: only used to hand disjoint output blocks to the tasks of one `matmul` call.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `c (a.rows, b.cols) (+)= a · b` on the calling thread.
///
/// # Safety
/// `c` points at a.rows rows of b.cols writable floats, `ldc` apart, written by no one else
/// during the call.
unsafe fn block(c: *mut f32, ldc: usize, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    // SAFETY: `MatRef` keeps every index of `a` and `b` inside their slices; `c` as promised
    // by the caller.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            c,
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32
                    / 500.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_naive_for_every_transpose_combination() {
        let (m, k, n) = (37, 53, 29);
        let a = filled(m * k, 1);
        let b = filled(k * n, 2);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let av = if ta {
                MatRef::new(&a, k, m).t()
            } else {
                MatRef::new(&a, m, k)
            };
            let bv = if tb {
                MatRef::new(&b, n, k).t()
            } else {
                MatRef::new(&b, k, n)
            };
            let want = naive(av, bv);
            let mut c = vec![0.5f32; m * n];
            matmul(&mut c, n, av, bv, false);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{ta} {tb}: {x} vs {y}");
            }
            matmul(&mut c, n, av, bv, true);
            for (x, y) in c.iter().zip(&want) {
                assert!(
                    (x - 2.0 * y).abs() < 2e-4,
                    "accumulate {ta} {tb}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn split_products_match_naive_on_two_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        // (m, k, n): split by rows, then by columns; ldc leaves padding that must stay.
        for (m, k, n) in [(300, 100, 90), (90, 300, 100), (130, 257, 70)] {
            let a = filled(m * k, 5);
            let b = filled(k * n, 6);
            let (av, bv) = (MatRef::new(&a, k, m).t(), MatRef::new(&b, k, n));
            let want = naive(av, bv);
            let ldc = n + 3;
            let mut c = vec![9.0f32; m * ldc];
            pool.install(|| matmul(&mut c, ldc, av, bv, false));
            for i in 0..m {
                for j in 0..ldc {
                    let got = c[i * ldc + j];
                    if j < n {
                        assert!(
                            (got - want[i * n + j]).abs() < 1e-3,
                            "({m},{k},{n}) ({i},{j})"
                        );
                    } else {
                        assert_eq!(got, 9.0, "padding ({i},{j})");
                    }
                }
            }
        }
    }

    #[test]
    fn split_covers_the_output_once() {
        for (m, n, threads) in [(8192, 2048, 2), (65, 512, 2), (700, 6022, 3), (5, 3, 4)] {
            let blocks = split(m, n, threads);
            let cells: usize = blocks.iter().map(|(r, c)| r.len() * c.len()).sum();
            assert_eq!(cells, m * n, "({m},{n},{threads}) {blocks:?}");
        }
    }

    #[test]
    fn strided_output_leaves_padding_alone() {
        let a = filled(6, 3);
        let b = filled(6, 4);
        let mut c = vec![7.0f32; 2 * 5];
        matmul(
            &mut c,
            5,
            MatRef::new(&a, 2, 3),
            MatRef::new(&b, 3, 2),
            false,
        );
        let want = naive(MatRef::new(&a, 2, 3), MatRef::new(&b, 3, 2));
        assert!((c[0] - want[0]).abs() < 1e-5 && (c[6] - want[3]).abs() < 1e-5);
        assert_eq!(&c[2..5], &[7.0, 7.0, 7.0]);
    }
}
