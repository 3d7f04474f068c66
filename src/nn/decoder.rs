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
/// Row blocks per parallel task, at most: the weight is read once per task.
const NLL_TASK_BLOCKS: usize = 16;
/// Lanes of a row's running log-sum-exp: column j of a chunk goes to lane j % LANES.
const LANES: usize = 16;
/// How far a chunk's logits may pass a row's running max before the max is raised: the
/// exponentials stay below e^32, so even a million of them sum without overflow.
const HEADROOM: f32 = 32.0;
/// The running max of a lane that has seen no column yet: finite, so that exp(max_old -
/// max_new) stays 1 (not NaN) while both are still this, and far below any logit.
const NO_MAX: f32 = f32::MIN;

multiversion! {
    /// Fold one column chunk of the logits of `rows` rows (`block`, rows `width` floats apart,
    /// plus `bias`, `bias.len()` columns used) into each row's running log-sum-exp, kept lane
    /// by lane (no reduction across lanes until the row is done): `max` and `sum` hold
    /// `LANES` floats per row, a max so far and the sum of exp(x - max) so far (the online
    /// softmax). Once every lane of a row has a max, a chunk takes one pass against it,
    /// valid while no logit passes it by more than `HEADROOM`; otherwise (a row's first
    /// chunk, or a rare jump) a first pass raises the max. The max skips NaN: a NaN logit
    /// makes its lane's sum NaN, and with it the loss.
    fn fold_chunk(block: &[f32], width: usize, rows: usize, bias: &[f32], max: &mut [f32], sum: &mut [f32]) {
        let cols = bias.len();
        for ((x, m), s) in block
            .chunks(width)
            .take(rows)
            .zip(max.chunks_exact_mut(LANES))
            .zip(sum.chunks_exact_mut(LANES))
        {
            let x = &x[..cols];
            // Local copies of the lanes, so that they live in registers.
            let mut old = [0.0f32; LANES];
            old.copy_from_slice(m);
            let mut acc = [0.0f32; LANES];
            acc.copy_from_slice(s);
            if old.iter().all(|&o| o > NO_MAX) {
                let mut top = old;
                let (xs, bs) = (x.chunks_exact(LANES), bias.chunks_exact(LANES));
                let (xt, bt) = (xs.remainder(), bs.remainder());
                for (c, b) in xs.zip(bs) {
                    for (((a, l), (&xv, &bv)), &o) in acc.iter_mut().zip(top.iter_mut()).zip(c.iter().zip(b)).zip(&old) {
                        let v = xv + bv;
                        *l = if v > *l { v } else { *l };
                        *a += exp(v - o);
                    }
                }
                for (((a, l), (&xv, &bv)), &o) in acc.iter_mut().zip(top.iter_mut()).zip(xt.iter().zip(bt)).zip(&old) {
                    let v = xv + bv;
                    *l = if v > *l { v } else { *l };
                    *a += exp(v - o);
                }
                if top.iter().zip(&old).all(|(&t, &o)| t <= o + HEADROOM) {
                    s.copy_from_slice(&acc);
                    continue;
                }
                acc.copy_from_slice(s);
            }
            let mut new = old;
            let (xs, bs) = (x.chunks_exact(LANES), bias.chunks_exact(LANES));
            let (xt, bt) = (xs.remainder(), bs.remainder());
            for (c, b) in xs.zip(bs) {
                for (l, (&xv, &bv)) in new.iter_mut().zip(c.iter().zip(b)) {
                    let v = xv + bv;
                    *l = if v > *l { v } else { *l };
                }
            }
            for (l, (&xv, &bv)) in new.iter_mut().zip(xt.iter().zip(bt)) {
                let v = xv + bv;
                *l = if v > *l { v } else { *l };
            }
            for ((a, &o), &n) in acc.iter_mut().zip(&old).zip(&new) {
                *a *= exp(o - n);
            }
            let (xs, bs) = (x.chunks_exact(LANES), bias.chunks_exact(LANES));
            let (xt, bt) = (xs.remainder(), bs.remainder());
            for (c, b) in xs.zip(bs) {
                for ((a, (&xv, &bv)), &n) in acc.iter_mut().zip(c.iter().zip(b)).zip(&new) {
                    *a += exp(xv + bv - n);
                }
            }
            for ((a, (&xv, &bv)), &n) in acc.iter_mut().zip(xt.iter().zip(bt)).zip(&new) {
                *a += exp(xv + bv - n);
            }
            s.copy_from_slice(&acc);
            m.copy_from_slice(&new);
        }
    }
}

/// The log-sum-exp of a row from its lanes' running `max` and `sum` (f64).
fn lanes_lse(max: &[f32], sum: &[f32]) -> f64 {
    let top = max.iter().fold(NO_MAX, |a, &b| a.max(b));
    let total: f64 = max
        .iter()
        .zip(sum)
        .map(|(&m, &s)| f64::from(s) * (f64::from(m) - f64::from(top)).exp())
        .sum();
    total.ln() + f64::from(top)
}

/// -log softmax(h · w^T + bias)[target] (nats) of each of the N rows of `h (N, H)`, into
/// `row_loss (N)`; `w` is the (V, H) weight packed transposed. The same values as [`logits`]
/// then [`cross_entropy`] without gradients, up to float rounding, but the (N, V) logits are
/// never stored: the columns run in chunks that stay in cache, and each row keeps a running
/// max and sum of exponentials. Rows run in parallel tasks of equal size, as many as fit a
/// multiple of the thread count.
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
    let blocks = n.div_ceil(NLL_BLOCK);
    let threads = rayon::current_num_threads().max(1);
    let tasks = blocks.div_ceil(NLL_TASK_BLOCKS).div_ceil(threads) * threads;
    let tasks = tasks.min(blocks).max(1);
    // Task t: row blocks t*blocks/tasks .. (t+1)*blocks/tasks.
    let mut slices = Vec::with_capacity(tasks);
    let mut rest = &mut row_loss[..n];
    let mut first = 0;
    for t in 0..tasks {
        let end = ((t + 1) * blocks / tasks * NLL_BLOCK).min(n);
        let (head, tail) = rest.split_at_mut(end - first);
        slices.push((first, head));
        rest = tail;
        first = end;
    }
    slices.into_par_iter().for_each(|(first, loss)| {
        let rows = loss.len();
        let targets = &targets[first..first + rows];
        let mut block = vec![0.0f32; NLL_BLOCK * width];
        let mut max = vec![NO_MAX; rows * LANES];
        let mut sum = vec![0.0f32; rows * LANES];
        let mut picked = vec![0.0f32; rows];
        for p0 in (0..w.panels()).step_by(NLL_PANELS) {
            let p1 = (p0 + NLL_PANELS).min(w.panels());
            let c0 = p0 * NR;
            let cols = (p1 * NR).min(v) - c0;
            for r0 in (0..rows).step_by(NLL_BLOCK) {
                let r = NLL_BLOCK.min(rows - r0);
                let a = &h[(first + r0) * hid..(first + r0 + r) * hid];
                kernels::run(lv, &mut block, width, a, hid, r, w, p0..p1, false);
                let lanes = r0 * LANES..(r0 + r) * LANES;
                fold_chunk(
                    &block,
                    width,
                    r,
                    &bias[c0..c0 + cols],
                    &mut max[lanes.clone()],
                    &mut sum[lanes],
                );
                for (i, &t) in targets[r0..r0 + r].iter().enumerate() {
                    let t = t as usize;
                    if (c0..c0 + cols).contains(&t) {
                        picked[r0 + i] = block[i * width + t - c0] + bias[t];
                    }
                }
            }
        }
        for (i, l) in loss.iter_mut().enumerate() {
            let lanes = i * LANES..(i + 1) * LANES;
            *l = lanes_lse(&max[lanes.clone()], &sum[lanes]) - f64::from(picked[i]);
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
        for &(n, hid, v) in &[
            (1, 3, 5),
            (13, 7, 300),
            (NLL_TASK_BLOCKS * NLL_BLOCK + 5, 9, 2 * 256 + 33),
        ] {
            let h: Vec<f32> = (0..n * hid)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..v * hid)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 20.0)
                .collect();
            let bias: Vec<f32> = (0..v).map(|j| (j as f32) * 0.01).collect();
            let targets: Vec<u32> = (0..n).map(|i| ((i * 131) % v) as u32).collect();
            assert_nll_is_cross_entropy(&h, hid, &w, &bias, &targets);
        }
    }

    /// [`nll`] gives what [`logits`] then [`cross_entropy`] give, to 1e-5 relative.
    fn assert_nll_is_cross_entropy(
        h: &[f32],
        hid: usize,
        w: &[f32],
        bias: &[f32],
        targets: &[u32],
    ) {
        let (n, v) = (targets.len(), bias.len());
        let mut logits_buf = vec![0.0f32; n * v];
        logits(h, n, hid, w, bias, &mut logits_buf);
        let mut want = vec![0.0f64; n];
        cross_entropy(&mut logits_buf, v, targets, &mut want, None);
        let mut packed = PackedB::default();
        packed.pack_transposed(w, v, hid);
        let mut got = vec![0.0f64; n];
        nll(h, hid, &packed, bias, targets, &mut got);
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "({n},{hid},{v}) row {i}: {g} vs {e}"
            );
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
        // A NaN in a later chunk, which takes the one-pass fold.
        let v = 3 * 256;
        let w = vec![0.5f32; v * hid];
        packed.pack_transposed(&w, v, hid);
        let mut bias = vec![0.0f32; v];
        bias[600] = f32::NAN;
        nll(&[0.5, 1.0], hid, &packed, &bias, &[3], &mut got);
        assert!(got[0].is_nan());
    }

    #[test]
    fn fused_nll_follows_logits_that_jump_past_the_headroom() {
        // Chunk by chunk the logits rise by less than HEADROOM (one pass), by far more (the
        // max is raised), and fall far below (terms that vanish); targets in each chunk.
        let (hid, v) = (3, 5 * 256 + 7);
        let step = [0.0f32, 20.0, 100.0, 110.0, -200.0, 150.0];
        let bias: Vec<f32> = (0..v)
            .map(|j| step[j / 256] + (j % 17) as f32 * 0.3)
            .collect();
        let w: Vec<f32> = (0..v * hid)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0)
            .collect();
        let n = 6;
        let h: Vec<f32> = (0..n * hid)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let targets: Vec<u32> = vec![9, 265, 521, 777, 1033, v as u32 - 1];
        assert_nll_is_cross_entropy(&h, hid, &w, &bias, &targets);
    }
}
