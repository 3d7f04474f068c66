//! The output layer: linear projection to the vocabulary and mean softmax cross-entropy,
//! for all T*B rows of a chunk at once. Spec: `reference/loss.py::linear_forward`,
//! `linear_backward` and `cross_entropy`.

use rayon::prelude::*;

use crate::linalg::colsum::add_colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::runtime::simd::{exp, max_lanes, multiversion, sum_lanes};

/// `logits (N, V) = h (N, H) · w (V, H)^T + bias (V)`.
pub fn logits(h: &[f32], n: usize, hid: usize, w: &[f32], bias: &[f32], out: &mut [f32]) {
    let v = bias.len();
    for row in out[..n * v].chunks_exact_mut(v) {
        row.copy_from_slice(bias);
    }
    matmul(
        out,
        v,
        MatRef::new(h, n, hid),
        MatRef::new(w, v, hid).t(),
        true,
    );
}

multiversion! {
    /// One row of softmax cross-entropy: returns -log softmax(row)[target] (nats). When
    /// `scale` is given the row is overwritten with scale * (softmax(row) - onehot(target)).
    pub(crate) fn xent_row(row: &mut [f32], target: usize, scale: Option<f32>) -> f64 {
        let m = max_lanes(row);
        let picked = row[target];
        match scale {
            None => {
                let mut acc = [0.0f32; 16];
                let chunks = row.chunks_exact(16);
                let tail = chunks.remainder();
                for c in chunks {
                    for (a, &x) in acc.iter_mut().zip(c) {
                        *a += exp(x - m);
                    }
                }
                let mut s = sum_lanes(&acc);
                for &x in tail {
                    s += exp(x - m);
                }
                (s as f64).ln() + (m - picked) as f64
            }
            Some(scale) => {
                for x in row.iter_mut() {
                    *x = exp(*x - m);
                }
                let s = sum_lanes(row);
                let k = scale / s;
                for x in row.iter_mut() {
                    *x *= k;
                }
                row[target] -= scale;
                (s as f64).ln() + (m - picked) as f64
            }
        }
    }
}

/// Softmax cross-entropy over `logits (N, V)` with `targets (N)` (checked by the caller).
/// Writes each row's loss into `row_loss (N)`; when `grad_scale` is given, replaces the logits
/// with the gradient of `grad_scale * sum(loss)`.
pub fn cross_entropy(
    logits: &mut [f32],
    v: usize,
    targets: &[u32],
    row_loss: &mut [f64],
    grad_scale: Option<f32>,
) {
    let n = targets.len();
    logits[..n * v]
        .par_chunks_mut(v)
        .zip(targets.par_iter())
        .zip(row_loss[..n].par_iter_mut())
        .with_min_len((32_768 / v.max(1)).max(1))
        .for_each(|((row, &t), l)| *l = xent_row(row, t as usize, grad_scale));
}

/// Backward of [`logits`], the weight side: `dw (V, H) += dlogits^T · h`, `db (V) += column
/// sums`.
pub fn backward_weights(
    dlogits: &[f32],
    n: usize,
    v: usize,
    h: &[f32],
    hid: usize,
    dw: &mut [f32],
    db: &mut [f32],
) {
    matmul(
        dw,
        hid,
        MatRef::new(dlogits, n, v).t(),
        MatRef::new(h, n, hid),
        true,
    );
    add_colsum(db, &dlogits[..n * v], v);
}

/// Backward of [`logits`], the input side: `dh (N, H) = dlogits · w`.
pub fn backward_input(dlogits: &[f32], n: usize, v: usize, w: &[f32], hid: usize, dh: &mut [f32]) {
    matmul(
        dh,
        hid,
        MatRef::new(dlogits, n, v),
        MatRef::new(w, v, hid),
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_value_and_gradient() {
        // Row [1, 2, 3], target 0: loss = log(e + e^2 + e^3) - 1.
        let mut logits = vec![1.0f32, 2.0, 3.0, 0.5, 0.5, 0.5];
        let mut loss = vec![0.0f64; 2];
        let want0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 1.0;
        cross_entropy(&mut logits.clone(), 3, &[0, 2], &mut loss, None);
        assert!((loss[0] - want0).abs() < 1e-6);
        assert!((loss[1] - 3f64.ln()).abs() < 1e-6);
        cross_entropy(&mut logits, 3, &[0, 2], &mut loss, Some(0.5));
        let z = 1f64.exp() + 2f64.exp() + 3f64.exp();
        let want = [
            0.5 * (1f64.exp() / z - 1.0),
            0.5 * 2f64.exp() / z,
            0.5 * 3f64.exp() / z,
            0.5 / 3.0,
            0.5 / 3.0,
            0.5 * (1.0 / 3.0 - 1.0),
        ];
        for (a, b) in logits.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
