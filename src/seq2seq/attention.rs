//! Encoder-decoder attention for one decoder step over a batch: scores (dot, general,
//! additive), the softmax over each row's real source positions, the context, and backward.
//! Spec: `reference/attention.py` (`attention_keys`, `masked_softmax`, `attention_forward`,
//! `attention_backward`, `attention_keys_backward`).
//!
//! Layouts: the memory `mem (S, B, H)` time-major (row `s*B + b`), the query `q (B, H)`, the
//! weights `a (S, B)`; the additive score's key side `keys (S, B, A)` is computed once per
//! source batch ([`keys`]) and its gradient gathered over all steps ([`keys_backward`]).

use crate::error::{CoreError, Result};
use crate::linalg::colsum::add_colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::runtime::simd::{multiversion, tanh};

/// Which score: Luong's `dot` and `general`, Bahdanau's `additive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dot,
    General,
    Additive,
}

impl Kind {
    /// "dot", "general" or "additive".
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "dot" => Ok(Kind::Dot),
            "general" => Ok(Kind::General),
            "additive" => Ok(Kind::Additive),
            other => Err(CoreError::invalid(
                "attention",
                format!("expected one of additive, dot, general, got {other:?}"),
            )),
        }
    }
}

/// The score's weights (empty slices where a kind has none): `w_in (H, H)` for general;
/// `w_q (A, H)`, `b_q (A)`, `w_k (A, H)`, `v (A)` for additive.
#[derive(Clone, Copy)]
pub struct Weights<'a> {
    pub w_in: &'a [f32],
    pub w_q: &'a [f32],
    pub b_q: &'a [f32],
    pub w_k: &'a [f32],
    pub v: &'a [f32],
}

/// Gradients in the layouts of [`Weights`]; backward adds into them.
pub struct Grads<'a> {
    pub w_in: &'a mut [f32],
    pub w_q: &'a mut [f32],
    pub b_q: &'a mut [f32],
    pub v: &'a mut [f32],
}

/// Sizes: S source positions, B rows, H features, A the additive score's width.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub s: usize,
    pub b: usize,
    pub h: usize,
    pub a: usize,
}

/// What one step's forward keeps for its backward (slices of the caller's caches).
pub struct StepCache<'a> {
    /// (B, H): the transformed query of dot/general (the query itself for dot); additive
    /// uses it as scratch for W_q q + b_q (B, A).
    pub qq: &'a mut [f32],
    /// (S, B, A): tanh(keys + W_q q + b_q) of additive.
    pub u: &'a mut [f32],
    /// (S, B): the weights.
    pub a: &'a mut [f32],
}

/// `keys (S*B, A) = mem (S*B, H) · w_k^T` (additive only).
pub fn keys(mem: &[f32], d: Dims, w_k: &[f32], out: &mut [f32]) {
    let n = d.s * d.b;
    matmul(
        &mut out[..n * d.a],
        d.a,
        MatRef::new(&mem[..n * d.h], n, d.h),
        MatRef::new(w_k, d.a, d.h).t(),
        false,
    );
}

/// Backward of [`keys`]: `dw_k (A, H) += d_keys^T · mem`, `d_mem += d_keys · w_k`.
pub fn keys_backward(
    d_keys: &[f32],
    mem: &[f32],
    d: Dims,
    w_k: &[f32],
    dw_k: &mut [f32],
    d_mem: &mut [f32],
) {
    let n = d.s * d.b;
    let dk = MatRef::new(&d_keys[..n * d.a], n, d.a);
    matmul(
        dw_k,
        d.h,
        dk.t(),
        MatRef::new(&mem[..n * d.h], n, d.h),
        true,
    );
    matmul(
        &mut d_mem[..n * d.h],
        d.h,
        dk,
        MatRef::new(w_k, d.a, d.h),
        true,
    );
}

/// Softmax over s of `scores (S, B)` where `s < lengths[b]`, in place; exactly 0 elsewhere.
pub fn masked_softmax(scores: &mut [f32], s_len: usize, b: usize, lengths: &[usize]) {
    for (bb, &len) in lengths.iter().enumerate().take(b) {
        let n = len.min(s_len);
        let m = (0..n)
            .map(|s| scores[s * b + bb])
            .fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0f32;
        for s in 0..n {
            let e = (scores[s * b + bb] - m).exp();
            scores[s * b + bb] = e;
            total += e;
        }
        for s in 0..s_len {
            let x = &mut scores[s * b + bb];
            *x = if s < n { *x / total } else { 0.0 };
        }
    }
}

/// x . y with 16 independent lanes (vectorizes; a fixed order, so deterministic).
#[inline(always)]
fn dot_lanes(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (xc, yc) = (x[..n].chunks_exact(16), y[..n].chunks_exact(16));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut acc = [0.0f32; 16];
    for (a, b) in xc.zip(yc) {
        for l in 0..16 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut total = acc.iter().sum::<f32>();
    for (a, b) in xr.iter().zip(yr) {
        total += a * b;
    }
    total
}

multiversion! {
    /// x . y.
    fn dot(x: &[f32], y: &[f32]) -> f32 {
        dot_lanes(x, y)
    }
}

multiversion! {
    /// y += a x.
    fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        let n = y.len().min(x.len());
        let (x, y) = (&x[..n], &mut y[..n]);
        for j in 0..n {
            y[j] += a * x[j];
        }
    }
}

multiversion! {
    /// One additive score: u (A) = tanh(k + p), returns v . u.
    fn additive_score(k: &[f32], p: &[f32], v: &[f32], u: &mut [f32]) -> f32 {
        let n = u.len();
        let (k, p) = (&k[..n], &p[..n]);
        for j in 0..n {
            u[j] = tanh(k[j] + p[j]);
        }
        dot_lanes(u, v)
    }
}

multiversion! {
    /// Backward of one additive score from its gradient `de`: gv += de u; the gradient of
    /// the tanh's argument, de v (1 - u^2), added into dk and dq.
    fn additive_score_backward(
        de: f32,
        u: &[f32],
        v: &[f32],
        gv: &mut [f32],
        dk: &mut [f32],
        dq: &mut [f32],
    ) {
        let n = u.len();
        let (v, gv, dk, dq) = (&v[..n], &mut gv[..n], &mut dk[..n], &mut dq[..n]);
        for j in 0..n {
            gv[j] += de * u[j];
            let dp = de * v[j] * (1.0 - u[j] * u[j]);
            dk[j] += dp;
            dq[j] += dp;
        }
    }
}

/// One step: `q (B, H)`, `mem (S, B, H)`, `keys (S, B, A)` (additive) -> `ctx (B, H)`; the
/// weights land in `cache.a`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    kind: Kind,
    d: Dims,
    q: &[f32],
    mem: &[f32],
    keys: &[f32],
    lengths: &[usize],
    w: Weights<'_>,
    cache: StepCache<'_>,
    ctx: &mut [f32],
) {
    let (s_len, b, h, a_w) = (d.s, d.b, d.h, d.a);
    let scores = &mut cache.a[..s_len * b];
    match kind {
        Kind::Additive => {
            let qp = &mut cache.qq[..b * a_w];
            for row in qp.chunks_exact_mut(a_w) {
                row.copy_from_slice(w.b_q);
            }
            matmul(
                qp,
                a_w,
                MatRef::new(&q[..b * h], b, h),
                MatRef::new(w.w_q, a_w, h).t(),
                true,
            );
            for s in 0..s_len {
                for bb in 0..b {
                    let r = s * b + bb;
                    scores[r] = additive_score(
                        &keys[r * a_w..(r + 1) * a_w],
                        &qp[bb * a_w..(bb + 1) * a_w],
                        w.v,
                        &mut cache.u[r * a_w..(r + 1) * a_w],
                    );
                }
            }
        }
        Kind::Dot | Kind::General => {
            let qq = &mut cache.qq[..b * h];
            if kind == Kind::Dot {
                qq.copy_from_slice(&q[..b * h]);
            } else {
                matmul(
                    qq,
                    h,
                    MatRef::new(&q[..b * h], b, h),
                    MatRef::new(w.w_in, h, h).t(),
                    false,
                );
            }
            for s in 0..s_len {
                for bb in 0..b {
                    let r = s * b + bb;
                    scores[r] = dot(&mem[r * h..(r + 1) * h], &qq[bb * h..(bb + 1) * h]);
                }
            }
        }
    }
    masked_softmax(scores, s_len, b, lengths);
    let ctx = &mut ctx[..b * h];
    ctx.fill(0.0);
    for s in 0..s_len {
        for bb in 0..b {
            let r = s * b + bb;
            if scores[r] != 0.0 {
                axpy(
                    scores[r],
                    &mem[r * h..(r + 1) * h],
                    &mut ctx[bb * h..(bb + 1) * h],
                );
            }
        }
    }
}

/// Scratch of [`backward`]: the score gradients (S, B) and d_qp (B, A) / d_qq (B, H).
#[derive(Default)]
pub struct Scratch {
    d_e: Vec<f32>,
    d_q: Vec<f32>,
}

/// Backward of [`forward`] from `d_ctx (B, H)`: adds dLoss/dq into `d_q (B, H)`, into
/// `d_mem (S, B, H)` and (additive) `d_keys (S, B, A)`, and the score's weight gradients.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    kind: Kind,
    d: Dims,
    d_ctx: &[f32],
    q: &[f32],
    mem: &[f32],
    w: Weights<'_>,
    qq: &[f32],
    u: &[f32],
    a: &[f32],
    scratch: &mut Scratch,
    g: &mut Grads<'_>,
    d_q: &mut [f32],
    d_mem: &mut [f32],
    d_keys: &mut [f32],
) {
    let (s_len, b, h, a_w) = (d.s, d.b, d.h, d.a);
    super::grow(&mut scratch.d_e, s_len * b);
    let d_e = &mut scratch.d_e[..s_len * b];
    for s in 0..s_len {
        for bb in 0..b {
            let r = s * b + bb;
            let dc = &d_ctx[bb * h..(bb + 1) * h];
            d_e[r] = dot(dc, &mem[r * h..(r + 1) * h]);
            if a[r] != 0.0 {
                axpy(a[r], dc, &mut d_mem[r * h..(r + 1) * h]);
            }
        }
    }
    for bb in 0..b {
        let mean: f32 = (0..s_len).map(|s| a[s * b + bb] * d_e[s * b + bb]).sum();
        for s in 0..s_len {
            let r = s * b + bb;
            d_e[r] = a[r] * (d_e[r] - mean);
        }
    }
    match kind {
        Kind::Additive => {
            super::grow(&mut scratch.d_q, b * a_w);
            let d_qp = &mut scratch.d_q[..b * a_w];
            d_qp.fill(0.0);
            for s in 0..s_len {
                for bb in 0..b {
                    let r = s * b + bb;
                    additive_score_backward(
                        d_e[r],
                        &u[r * a_w..(r + 1) * a_w],
                        w.v,
                        g.v,
                        &mut d_keys[r * a_w..(r + 1) * a_w],
                        &mut d_qp[bb * a_w..(bb + 1) * a_w],
                    );
                }
            }
            let dqm = MatRef::new(d_qp, b, a_w);
            matmul(g.w_q, h, dqm.t(), MatRef::new(&q[..b * h], b, h), true);
            add_colsum(g.b_q, d_qp, a_w);
            matmul(&mut d_q[..b * h], h, dqm, MatRef::new(w.w_q, a_w, h), true);
        }
        Kind::Dot | Kind::General => {
            super::grow(&mut scratch.d_q, b * h);
            let d_qq = &mut scratch.d_q[..b * h];
            d_qq.fill(0.0);
            for s in 0..s_len {
                for bb in 0..b {
                    let r = s * b + bb;
                    let de = d_e[r];
                    if de == 0.0 {
                        continue;
                    }
                    axpy(
                        de,
                        &mem[r * h..(r + 1) * h],
                        &mut d_qq[bb * h..(bb + 1) * h],
                    );
                    axpy(
                        de,
                        &qq[bb * h..(bb + 1) * h],
                        &mut d_mem[r * h..(r + 1) * h],
                    );
                }
            }
            if kind == Kind::Dot {
                for (o, &x) in d_q[..b * h].iter_mut().zip(d_qq.iter()) {
                    *o += x;
                }
            } else {
                let dqm = MatRef::new(d_qq, b, h);
                matmul(g.w_in, h, dqm.t(), MatRef::new(&q[..b * h], b, h), true);
                matmul(&mut d_q[..b * h], h, dqm, MatRef::new(w.w_in, h, h), true);
            }
        }
    }
}
