//! Poolings of the encoder's top outputs over each row's real steps: forward and backward
//! pairs. Spec: `reference/pooling.py` (`last_pool_forward`, `max_pool_forward`,
//! `pick_pool_backward`, `mean_pool_forward`, `mean_pool_backward`,
//! `attention_pool_forward`, `attention_pool_backward`).
//!
//! `out (T*B, F)` is time-major (row `t*B + b`) with F = D*H ([forward | reverse] halves when
//! D = 2), `lengths (B)` in 1..=T; the result is `pooled (B, F)`. Padded steps are never read
//! for a result (they must only be finite) and get exactly zero gradient. Backward functions
//! write `d_out (T*B, F)` whole and add parameter gradients into their buffers.

use crate::error::{CoreError, Result};
use crate::linalg::colsum::{add_colsum, fill_rows};
use crate::linalg::gemm::{matmul, MatRef};

/// Which pooling a classifier applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Each direction's output at its own last step (forward half at lengths[b]-1, reverse
    /// half at step 0).
    Last,
    /// The mean over the real steps.
    Mean,
    /// Per feature, the maximum over the real steps (the first such step on ties).
    Max,
    /// Additive attention: a = softmax over real t of v . tanh(W out_t + b).
    Attention,
}

impl Pooling {
    /// Parse the names of the Python API: "last", "mean", "max", "attention".
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "last" => Ok(Pooling::Last),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            "attention" => Ok(Pooling::Attention),
            other => Err(CoreError::invalid(
                "pooling",
                format!("expected one of last, mean, max, attention, got {other:?}"),
            )),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Last => "last",
            Pooling::Mean => "mean",
            Pooling::Max => "max",
            Pooling::Attention => "attention",
        }
    }
}

/// `last` forward: `index (B, F)` = lengths[b]-1 on the forward half, 0 on the reverse half
/// (`dirs` = 2); `pooled (B, F)` = out at those steps. Spec: `last_pool_forward`.
pub fn last_forward(
    out: &[f32],
    b: usize,
    f: usize,
    lengths: &[usize],
    dirs: usize,
    index: &mut [usize],
    pooled: &mut [f32],
) {
    for (bb, (idx, p)) in index
        .chunks_exact_mut(f)
        .zip(pooled.chunks_exact_mut(f))
        .enumerate()
    {
        let half = if dirs == 2 { f / 2 } else { f };
        for (j, (i, v)) in idx.iter_mut().zip(p.iter_mut()).enumerate() {
            *i = if j < half { lengths[bb] - 1 } else { 0 };
            *v = out[(*i * b + bb) * f + j];
        }
    }
}

/// `max` forward: `index (B, F)` the first real step holding the largest value of each
/// feature, `pooled (B, F)` that value. Spec: `max_pool_forward`.
pub fn max_forward(
    out: &[f32],
    b: usize,
    f: usize,
    lengths: &[usize],
    index: &mut [usize],
    pooled: &mut [f32],
) {
    for (bb, (idx, p)) in index
        .chunks_exact_mut(f)
        .zip(pooled.chunks_exact_mut(f))
        .enumerate()
    {
        idx.fill(0);
        p.copy_from_slice(&out[bb * f..(bb + 1) * f]);
        for t in 1..lengths[bb] {
            let row = &out[(t * b + bb) * f..(t * b + bb + 1) * f];
            for ((i, m), &v) in idx.iter_mut().zip(p.iter_mut()).zip(row) {
                if v > *m {
                    *m = v;
                    *i = t;
                }
            }
        }
    }
}

/// Backward of `last` and `max`: `d_out (T*B, F)` zero except `d_pooled (B, F)` at the
/// picked step of each (row, feature). Spec: `pick_pool_backward`.
pub fn pick_backward(d_pooled: &[f32], b: usize, f: usize, index: &[usize], d_out: &mut [f32]) {
    d_out.fill(0.0);
    for (bb, (idx, dp)) in index
        .chunks_exact(f)
        .zip(d_pooled.chunks_exact(f))
        .enumerate()
    {
        for (j, (&i, &g)) in idx.iter().zip(dp).enumerate() {
            d_out[(i * b + bb) * f + j] = g;
        }
    }
}

/// `mean` forward: `pooled (B, F)` = the sum of out over the row's real steps / lengths[b].
/// Spec: `mean_pool_forward`.
pub fn mean_forward(out: &[f32], b: usize, f: usize, lengths: &[usize], pooled: &mut [f32]) {
    for (bb, p) in pooled.chunks_exact_mut(f).enumerate() {
        p.fill(0.0);
        for t in 0..lengths[bb] {
            for (a, &v) in p
                .iter_mut()
                .zip(&out[(t * b + bb) * f..(t * b + bb + 1) * f])
            {
                *a += v;
            }
        }
        let n = lengths[bb] as f32;
        for a in p.iter_mut() {
            *a /= n;
        }
    }
}

/// Backward of `mean`: `d_out (T*B, F)` = d_pooled[b] / lengths[b] at the real steps, 0
/// after. Spec: `mean_pool_backward`.
pub fn mean_backward(d_pooled: &[f32], b: usize, f: usize, lengths: &[usize], d_out: &mut [f32]) {
    for (r, row) in d_out.chunks_exact_mut(f).enumerate() {
        let (t, bb) = (r / b, r % b);
        if t < lengths[bb] {
            let n = lengths[bb] as f32;
            for (o, &g) in row.iter_mut().zip(&d_pooled[bb * f..(bb + 1) * f]) {
                *o = g / n;
            }
        } else {
            row.fill(0.0);
        }
    }
}

/// Attention pooling's parameters: `w (A, F)`, `bias (A)`, `v (A)`.
#[derive(Clone, Copy)]
pub struct AttentionWeights<'a> {
    pub w: &'a [f32],
    pub bias: &'a [f32],
    pub v: &'a [f32],
}

/// Their gradients (same layouts); backward adds into them.
pub struct AttentionGrads<'a> {
    pub w: &'a mut [f32],
    pub bias: &'a mut [f32],
    pub v: &'a mut [f32],
}

/// `attention` forward: `u (T*B, A)` = tanh(out W^T + bias) (one GEMM over all steps);
/// `weights (T*B)` = softmax over the row's real steps of v . u_t (0 at padded steps, the
/// row's maximum subtracted first); `pooled (B, F)` = sum_t weights_t out_t. Spec:
/// `attention_pool_forward`.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    out: &[f32],
    b: usize,
    f: usize,
    lengths: &[usize],
    p: AttentionWeights<'_>,
    u: &mut [f32],
    weights: &mut [f32],
    pooled: &mut [f32],
) {
    let a = p.bias.len();
    let tb = out.len() / f;
    let u = &mut u[..tb * a];
    fill_rows(u, p.bias);
    matmul(
        u,
        a,
        MatRef::new(out, tb, f),
        MatRef::new(p.w, a, f).t(),
        true,
    );
    for x in u.iter_mut() {
        *x = x.tanh();
    }
    for (r, s) in weights[..tb].iter_mut().enumerate() {
        let ur = &u[r * a..(r + 1) * a];
        *s = ur.iter().zip(p.v).map(|(&x, &y)| x * y).sum();
    }
    for (bb, pr) in pooled.chunks_exact_mut(f).enumerate() {
        let n = lengths[bb];
        let m = (0..n).fold(f32::NEG_INFINITY, |m, t| m.max(weights[t * b + bb]));
        let mut sum = 0.0f32;
        for t in 0..tb / b {
            let s = &mut weights[t * b + bb];
            *s = if t < n { (*s - m).exp() } else { 0.0 };
            sum += *s;
        }
        pr.fill(0.0);
        for t in 0..n {
            let wt = &mut weights[t * b + bb];
            *wt /= sum;
            for (o, &x) in pr
                .iter_mut()
                .zip(&out[(t * b + bb) * f..(t * b + bb + 1) * f])
            {
                *o += *wt * x;
            }
        }
    }
}

/// Backward of `attention` from `d_pooled (B, F)`, with `out`, `u` and `weights` of the
/// forward: writes `d_out (T*B, F)`, adds the parameter gradients; `d_pre (T*B, A)` is
/// scratch. da_t = out_t . d_pooled; d_score_t = a_t (da_t - sum_s a_s da_s); d_pre =
/// d_score v (1 - u^2); d_out = a d_pooled + d_pre W; dW += d_pre^T out; db += colsum d_pre;
/// dv += sum d_score u. Spec: `attention_pool_backward`.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    d_pooled: &[f32],
    out: &[f32],
    b: usize,
    f: usize,
    p: AttentionWeights<'_>,
    u: &[f32],
    weights: &[f32],
    d_pre: &mut [f32],
    d_out: &mut [f32],
    g: AttentionGrads<'_>,
) {
    let a = p.bias.len();
    let tb = out.len() / f;
    let t_len = tb / b;
    let d_pre = &mut d_pre[..tb * a];
    for bb in 0..b {
        let dp = &d_pooled[bb * f..(bb + 1) * f];
        let da = |t: usize| -> f32 {
            let o = &out[(t * b + bb) * f..(t * b + bb + 1) * f];
            o.iter().zip(dp).map(|(&x, &y)| x * y).sum()
        };
        let mean: f32 = (0..t_len).map(|t| weights[t * b + bb] * da(t)).sum();
        for t in 0..t_len {
            let r = t * b + bb;
            let wt = weights[r];
            let ds = wt * (da(t) - mean);
            for (((d, &ux), &vx), dv) in d_pre[r * a..(r + 1) * a]
                .iter_mut()
                .zip(&u[r * a..(r + 1) * a])
                .zip(p.v)
                .zip(g.v.iter_mut())
            {
                *d = ds * vx * (1.0 - ux * ux);
                *dv += ds * ux;
            }
            for (o, &gp) in d_out[r * f..(r + 1) * f].iter_mut().zip(dp) {
                *o = wt * gp;
            }
        }
    }
    matmul(
        d_out,
        f,
        MatRef::new(d_pre, tb, a),
        MatRef::new(p.w, a, f),
        true,
    );
    matmul(
        g.w,
        f,
        MatRef::new(d_pre, tb, a).t(),
        MatRef::new(out, tb, f),
        true,
    );
    add_colsum(g.bias, d_pre, a);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::fill_uniform;

    const T: usize = 4;
    const B: usize = 3;
    const F: usize = 4;
    const A: usize = 3;
    const LENGTHS: [usize; B] = [2, 4, 1];

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut v = vec![0.0f32; n];
        fill_uniform(&mut v, seed, 1.0);
        v
    }

    /// The pooled vector of `kind` (dirs = 2 for `last`) and its parameters' buffers.
    fn pool(kind: Pooling, out: &[f32], params: &[f32]) -> Vec<f32> {
        let mut pooled = vec![0.0f32; B * F];
        let mut index = vec![0usize; B * F];
        match kind {
            Pooling::Last => last_forward(out, B, F, &LENGTHS, 2, &mut index, &mut pooled),
            Pooling::Max => max_forward(out, B, F, &LENGTHS, &mut index, &mut pooled),
            Pooling::Mean => mean_forward(out, B, F, &LENGTHS, &mut pooled),
            Pooling::Attention => {
                let (w, rest) = params.split_at(A * F);
                let (bias, v) = rest.split_at(A);
                let p = AttentionWeights { w, bias, v };
                let (mut u, mut wts) = (vec![0.0; T * B * A], vec![0.0; T * B]);
                attention_forward(out, B, F, &LENGTHS, p, &mut u, &mut wts, &mut pooled);
            }
        }
        pooled
    }

    fn loss(kind: Pooling, out: &[f32], params: &[f32], w_pool: &[f32]) -> f64 {
        let pooled = pool(kind, out, params);
        pooled
            .iter()
            .zip(w_pool)
            .map(|(&p, &q)| p as f64 * q as f64)
            .sum()
    }

    /// Finite differences of `L = Σ w_pool · pooled` w.r.t. the input and the attention
    /// parameters; padded steps get exactly zero gradient.
    #[test]
    fn pooling_gradients_match_finite_differences() {
        for kind in [
            Pooling::Last,
            Pooling::Mean,
            Pooling::Max,
            Pooling::Attention,
        ] {
            let mut out = values(T * B * F, 1);
            let mut params = values(A * F + 2 * A, 2);
            let w_pool = values(B * F, 3);
            let mut d_out = vec![0.0f32; T * B * F];
            let mut d_params = vec![0.0f32; params.len()];
            let mut index = vec![0usize; B * F];
            let mut pooled = vec![0.0f32; B * F];
            match kind {
                Pooling::Last | Pooling::Max => {
                    if kind == Pooling::Last {
                        last_forward(&out, B, F, &LENGTHS, 2, &mut index, &mut pooled);
                    } else {
                        max_forward(&out, B, F, &LENGTHS, &mut index, &mut pooled);
                    }
                    pick_backward(&w_pool, B, F, &index, &mut d_out);
                }
                Pooling::Mean => mean_backward(&w_pool, B, F, &LENGTHS, &mut d_out),
                Pooling::Attention => {
                    let (w, rest) = params.split_at(A * F);
                    let (bias, v) = rest.split_at(A);
                    let p = AttentionWeights { w, bias, v };
                    let (mut u, mut wts) = (vec![0.0; T * B * A], vec![0.0; T * B]);
                    attention_forward(&out, B, F, &LENGTHS, p, &mut u, &mut wts, &mut pooled);
                    let (gw, rest) = d_params.split_at_mut(A * F);
                    let (gb, gv) = rest.split_at_mut(A);
                    let g = AttentionGrads {
                        w: gw,
                        bias: gb,
                        v: gv,
                    };
                    let mut d_pre = vec![0.0; T * B * A];
                    attention_backward(&w_pool, &out, B, F, p, &u, &wts, &mut d_pre, &mut d_out, g);
                }
            }
            let eps = 1e-2f32;
            for k in 0..out.len() {
                let (t, bb) = (k / F / B, k / F % B);
                if t >= LENGTHS[bb] {
                    assert_eq!(d_out[k], 0.0, "{kind:?}: padded step {t} of row {bb}");
                    continue;
                }
                let x0 = out[k];
                out[k] = x0 + eps;
                let up = loss(kind, &out, &params, &w_pool);
                out[k] = x0 - eps;
                let down = loss(kind, &out, &params, &w_pool);
                out[k] = x0;
                let fd = (up - down) / (2.0 * eps as f64);
                let a = d_out[k] as f64;
                assert!(
                    (fd - a).abs() < 2e-2 * (2e-3 + a.abs()),
                    "{kind:?} out[{k}]: {a} vs {fd}"
                );
            }
            if kind == Pooling::Attention {
                for k in 0..params.len() {
                    let x0 = params[k];
                    params[k] = x0 + eps;
                    let up = loss(kind, &out, &params, &w_pool);
                    params[k] = x0 - eps;
                    let down = loss(kind, &out, &params, &w_pool);
                    params[k] = x0;
                    let fd = (up - down) / (2.0 * eps as f64);
                    let a = d_params[k] as f64;
                    assert!(
                        (fd - a).abs() < 2e-2 * (2e-3 + a.abs()),
                        "attention param[{k}]: {a} vs {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn last_picks_each_directions_final_step_and_max_the_first_largest() {
        // T = 2, B = 1, F = 2: forward half at step lengths-1, reverse half at step 0.
        let out = [1.0f32, 2.0, 3.0, 4.0];
        let (mut index, mut pooled) = (vec![0usize; 2], vec![0.0f32; 2]);
        last_forward(&out, 1, 2, &[2], 2, &mut index, &mut pooled);
        assert_eq!(pooled, [3.0, 2.0]);
        last_forward(&out, 1, 2, &[1], 2, &mut index, &mut pooled);
        assert_eq!(pooled, [1.0, 2.0]);
        let tied = [5.0f32, 1.0, 5.0, 7.0, 9.0, 9.0];
        max_forward(&tied, 1, 2, &[2], &mut index, &mut pooled);
        assert_eq!(
            (pooled.as_slice(), index.as_slice()),
            (&[5.0, 7.0][..], &[0, 1][..])
        );
        assert!(Pooling::parse("sum").is_err());
        assert_eq!(Pooling::parse("max").map(Pooling::name).ok(), Some("max"));
    }
}
