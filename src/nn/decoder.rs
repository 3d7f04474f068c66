//! The output layer: linear projection to the vocabulary and mean softmax cross-entropy,
//! for all T*B rows of a chunk at once. Spec: `reference/loss.py::linear_forward`,
//! `linear_backward` and `cross_entropy`.

use rayon::prelude::*;

use crate::linalg::colsum::add_colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::linalg::kernels::{self, PackedB, NR};
use crate::runtime::simd::{exp, level, max_lanes, multiversion, sum_lanes};

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

/// The sum of `exp(x - m)` over `xs`, in 16 lanes. `exp` is the caller's: a
/// [`multiversion!`] body passes the one of its SIMD level.
#[inline(always)]
fn sum_exp_shifted(xs: &[f32], m: f32, exp: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
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
    s
}

multiversion! {
    /// One row of softmax cross-entropy: returns -log softmax(row)[target] (nats). When
    /// `scale` is given the row is overwritten with scale * (softmax(row) - onehot(target)).
    pub(crate) fn xent_row(row: &mut [f32], target: usize, scale: Option<f32>) -> f64 {
        let m = max_lanes(row);
        let picked = row[target];
        match scale {
            None => {
                let s = sum_exp_shifted(row, m, exp);
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

/// Panels of the weight per column chunk of [`nll`]: 8 * 32 columns, a chunk of H x 256
/// floats that every row block of a task reuses.
const NLL_PANELS: usize = 8;
/// Rows computed at once (one micro-kernel row block of the widest level).
const NLL_BLOCK: usize = 12;
/// Rows per parallel task: the weight is read once per task.
const NLL_TASK: usize = 16 * NLL_BLOCK;

multiversion! {
    /// Add `bias` to one chunk of a row's logits and fold the chunk into the row's running
    /// log-sum-exp: `max` so far and `sum` of exp(x - max) so far (the online softmax).
    /// The max skips NaN: a NaN logit makes the sum NaN, and with it the loss.
    fn fold_chunk(x: &mut [f32], bias: &[f32], max: &mut f32, sum: &mut f32) {
        let mut lanes = [f32::NEG_INFINITY; 16];
        let mut xs = x.chunks_exact_mut(16);
        let mut bs = bias.chunks_exact(16);
        for (c, b) in (&mut xs).zip(&mut bs) {
            for ((v, &bv), l) in c.iter_mut().zip(b).zip(lanes.iter_mut()) {
                *v += bv;
                *l = if *v > *l { *v } else { *l };
            }
        }
        let mut m = *max;
        for l in lanes {
            m = if l > m { l } else { m };
        }
        for (v, &bv) in xs.into_remainder().iter_mut().zip(bs.remainder()) {
            *v += bv;
            m = if *v > m { *v } else { m };
        }
        let s = sum_exp_shifted(x, m, exp);
        *sum = *sum * exp(*max - m) + s;
        *max = m;
    }
}

/// -log softmax(h · w^T + bias)[target] (nats) of each of the N rows of `h (N, H)`, into
/// `row_loss (N)`; `w` is the (V, H) weight packed transposed. The same values as [`logits`]
/// then [`cross_entropy`] without gradients, up to float rounding, but the (N, V) logits are
/// never stored: the columns run in chunks that stay in cache, and each row keeps a running
/// max and sum of exponentials. Rows run in parallel tasks.
pub fn nll(
    h: &[f32],
    hid: usize,
    w: &PackedB,
    bias: &[f32],
    targets: &[u32],
    row_loss: &mut [f64],
) {
    let (n, v) = (targets.len(), bias.len());
    assert!(w.k() == hid && w.n() == v, "nll: weight is not (V, H)");
    let width = NLL_PANELS * NR;
    let lv = level();
    row_loss[..n]
        .par_chunks_mut(NLL_TASK)
        .zip(targets.par_chunks(NLL_TASK))
        .enumerate()
        .for_each(|(task, (loss, targets))| {
            let first = task * NLL_TASK;
            let rows = targets.len();
            let mut block = vec![0.0f32; NLL_BLOCK * width];
            let mut max = vec![f32::NEG_INFINITY; rows];
            let mut sum = vec![0.0f32; rows];
            let mut picked = vec![0.0f32; rows];
            for p0 in (0..w.panels()).step_by(NLL_PANELS) {
                let p1 = (p0 + NLL_PANELS).min(w.panels());
                let c0 = p0 * NR;
                let cols = (p1 * NR).min(v) - c0;
                for r0 in (0..rows).step_by(NLL_BLOCK) {
                    let r = NLL_BLOCK.min(rows - r0);
                    let a = &h[(first + r0) * hid..(first + r0 + r) * hid];
                    kernels::run(lv, &mut block, width, a, hid, r, w, p0..p1, false);
                    for i in 0..r {
                        let x = &mut block[i * width..i * width + cols];
                        let row = r0 + i;
                        fold_chunk(x, &bias[c0..c0 + cols], &mut max[row], &mut sum[row]);
                        let t = targets[row] as usize;
                        if (c0..c0 + cols).contains(&t) {
                            picked[row] = x[t - c0];
                        }
                    }
                }
            }
            for (i, l) in loss.iter_mut().enumerate() {
                *l = f64::from(sum[i]).ln() + f64::from(max[i] - picked[i]);
            }
        });
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

    #[test]
    fn fused_nll_matches_logits_then_cross_entropy() {
        // Sizes around the chunk, block and task edges: V not a multiple of a panel or of a
        // chunk, N past one task, wide logits so later chunks raise the running max.
        for &(n, hid, v) in &[(1, 3, 5), (13, 7, 300), (NLL_TASK + 5, 9, 2 * 256 + 33)] {
            let h: Vec<f32> = (0..n * hid)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..v * hid)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 20.0)
                .collect();
            let bias: Vec<f32> = (0..v).map(|j| (j as f32) * 0.01).collect();
            let targets: Vec<u32> = (0..n).map(|i| ((i * 131) % v) as u32).collect();
            let mut logits_buf = vec![0.0f32; n * v];
            logits(&h, n, hid, &w, &bias, &mut logits_buf);
            let mut want = vec![0.0f64; n];
            cross_entropy(&mut logits_buf, v, &targets, &mut want, None);
            let mut packed = PackedB::default();
            packed.pack_transposed(&w, v, hid);
            let mut got = vec![0.0f64; n];
            nll(&h, hid, &packed, &bias, &targets, &mut got);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                    "({n},{hid},{v}) row {i}: {g} vs {e}"
                );
            }
        }
    }

    #[test]
    fn fused_nll_keeps_nan() {
        let (hid, v) = (2, 40);
        let h = [f32::NAN, 1.0];
        let w = vec![0.5f32; v * hid];
        let mut packed = PackedB::default();
        packed.pack_transposed(&w, v, hid);
        let mut got = [0.0f64];
        nll(&h, hid, &packed, &vec![0.0; v], &[3], &mut got);
        assert!(got[0].is_nan());
    }
}
