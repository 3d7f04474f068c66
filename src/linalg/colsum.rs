//! Row-wise helpers over (rows, cols) buffers that run on the rayon pool: the bias fill before
//! a hoisted GEMM and the bias-gradient column sums after one. Both are single passes over
//! T*B rows (64 MB per layer for C2), too long to leave serial at 2 threads. Spec: the bias
//! broadcast of `reference/cells.py`'s input projection and its `d_gates.sum(axis=0)`.

use rayon::prelude::*;

/// Columns per parallel task of [`add_colsum`] (4 KB of every row).
const COL_BLOCK: usize = 1024;

/// Rows per parallel task of [`fill_rows`] (at least this many floats per task).
const FILL_FLOATS: usize = 1 << 16;

/// `out (cols) += column sums of m (rows, cols)`. Split by column blocks, each summed over the
/// rows in order, so the result is the same for every thread count.
pub fn add_colsum(out: &mut [f32], m: &[f32], cols: usize) {
    let rows = m.len().checked_div(cols).unwrap_or(0);
    out[..cols]
        .par_chunks_mut(COL_BLOCK)
        .enumerate()
        .for_each(|(blk, o)| {
            let c0 = blk * COL_BLOCK;
            for r in 0..rows {
                let row = &m[r * cols + c0..r * cols + c0 + o.len()];
                for (a, v) in o.iter_mut().zip(row) {
                    *a += v;
                }
            }
        });
}

/// Set every `row.len()`-wide row of `m` to `row`.
pub fn fill_rows(m: &mut [f32], row: &[f32]) {
    let w = row.len();
    if w == 0 {
        return;
    }
    let per_task = FILL_FLOATS.div_ceil(w) * w;
    m.par_chunks_mut(per_task).for_each(|chunk| {
        for r in chunk.chunks_exact_mut(w) {
            r.copy_from_slice(row);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colsum_matches_the_serial_loop_bit_for_bit() {
        let (rows, cols) = (37, 2500);
        let m: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 1013) as f32 * 1e-3 - 0.5)
            .collect();
        let mut want = vec![0.25f32; cols];
        for row in m.chunks_exact(cols) {
            for (o, v) in want.iter_mut().zip(row) {
                *o += v;
            }
        }
        let mut got = vec![0.25f32; cols];
        add_colsum(&mut got, &m, cols);
        assert_eq!(got, want);
    }

    #[test]
    fn fill_rows_sets_every_row() {
        let row = [1.0f32, 2.0, 3.0];
        let mut m = vec![0.0f32; 3 * 40_000];
        fill_rows(&mut m, &row);
        assert!(m.chunks_exact(3).all(|r| r == row));
    }
}
