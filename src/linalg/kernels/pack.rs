//! The packed operand of [`super::matmul_packed`]: a (K, N) matrix cut into panels of
//! [`NR`] columns, each panel stored k-major (`NR` consecutive floats per k), the last panel
//! padded with zeros, every panel start 64-byte aligned. Packed once per call and reused for
//! every time step.

use crate::linalg::gemm::MatRef;

/// Columns per panel: two AVX-512 vectors (four AVX2 vectors).
pub const NR: usize = 32;

/// Floats per 64-byte cache line (the alignment of the panels).
const LINE: usize = 16;

/// A (K, N) matrix in panel layout; the buffer is reused when packed again.
#[derive(Default)]
pub struct PackedB {
    buf: Vec<f32>,
    /// Index of the first 64-byte-aligned float in `buf`.
    start: usize,
    k: usize,
    n: usize,
}

impl PackedB {
    /// Rows (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns (of the product).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of column panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Panel `j`: `k * NR` floats, 64-byte aligned.
    pub fn panel(&self, j: usize) -> &[f32] {
        let len = self.k * NR;
        &self.buf[self.start + j * len..self.start + (j + 1) * len]
    }

    /// Pack any strided view `b (K, N)`.
    pub fn pack(&mut self, b: MatRef<'_>) {
        let (k, n) = (b.rows(), b.cols());
        let data = self.prepare(k, n);
        if k == 0 {
            return;
        }
        for (j, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            let c0 = j * NR;
            let width = NR.min(n - c0);
            for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                for (jj, o) in row[..width].iter_mut().enumerate() {
                    *o = b.at(p, c0 + jj);
                }
            }
        }
    }

    /// Pack the transpose of a row-major (N, K) matrix `w` (a PyTorch weight, whose product
    /// `x · w^T` this serves), reading `w` row by row.
    pub fn pack_transposed(&mut self, w: &[f32], n: usize, k: usize) {
        assert!(
            w.len() >= n * k,
            "pack_transposed: {n}x{k} exceeds {}",
            w.len()
        );
        let data = self.prepare(k, n);
        if k == 0 {
            return;
        }
        for (j, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            let c0 = j * NR;
            for jj in 0..NR.min(n - c0) {
                let row = &w[(c0 + jj) * k..(c0 + jj + 1) * k];
                for (p, &v) in row.iter().enumerate() {
                    panel[p * NR + jj] = v;
                }
            }
        }
    }

    /// Size the buffer for (k, n), zero it (the padding columns must be zero), and return the
    /// aligned panel area.
    fn prepare(&mut self, k: usize, n: usize) -> &mut [f32] {
        let len = n.div_ceil(NR) * k * NR;
        if self.buf.len() < len + LINE {
            self.buf = vec![0.0; len + LINE];
        }
        let addr = self.buf.as_ptr() as usize;
        self.start = (LINE - (addr / 4) % LINE) % LINE;
        self.k = k;
        self.n = n;
        let data = &mut self.buf[self.start..self.start + len];
        if !n.is_multiple_of(NR) {
            data.fill(0.0);
        }
        data
    }
}
