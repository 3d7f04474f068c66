//! The GEMM wrapper: the one place in rnnrs that calls the `gemm` crate, for the products
//! whose operands change from call to call (input projections, weight gradients, decoder).
//! The per-step recurrent products, whose weight is reused T times, run on rnnrs's own packed
//! kernels instead ([`crate::nn::kernels`]).
//!
//! Backed by the `gemm` crate, which picks AVX-512 / AVX2+FMA / SSE kernels at run time
//! (chosen over `matrixmultiply` by `cargo bench --bench gemm`, see docs/performance.md).
//! Parallelism: the GEMM splits its output tiles over the current rayon pool (the caller
//! runs inside [`crate::nn::threads::install`]); every output element is summed by one thread
//! in a fixed order, so results do not depend on scheduling.

use gemm::Parallelism;

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

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `c (m, n) = a (m, k) · b (k, n)` when `accumulate` is false, `c += a · b` when true.
/// `c` is row-major with rows `ldc` elements apart.
///
/// Shapes are checked (a mismatch is a bug in the caller, not user input: the model validates
/// every user-facing shape before any kernel runs).
pub fn matmul(c: &mut [f32], ldc: usize, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    run(c, ldc, a, b, accumulate, par);
}

fn run(
    c: &mut [f32],
    ldc: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    par: Parallelism,
) {
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
    // SAFETY: the asserts above and in `MatRef` keep every index the kernel touches inside
    // the three slices; `c` is uniquely borrowed and cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
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
            par,
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
